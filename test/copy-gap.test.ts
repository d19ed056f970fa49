/**
 * A shard copy whose server trails what its slot confirmed (the promoted replica of a failed
 * copy server that had not received the last applied commits) is re-seeded, not resumed: the
 * publisher cannot send from before the slot's confirmed position, so resuming would skip rows.
 * A new fleet's copy is subscribed without an initial copy only when it is checked to hold what
 * its home holds (equal-copy.ts); else it gets one.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { publicTableDigests, subscribeEqualCopy } from '../src/fleet/equal-copy.ts';
import {
  dropCopySlot,
  dropSubscriptionLocally,
  reseedCopy,
  subscriptionName,
  waitForCopyToApply,
} from '../src/fleet/shard-replication.ts';
import { type FleetFixture, startFleet } from './support/fleet-fixture.ts';

let fixture: FleetFixture;

before(async () => {
  fixture = await startFleet('copy-gap');
});
after(async () => {
  await fixture?.stop();
});

async function countOn(serverId: string, database: string, ids: string[]): Promise<number> {
  const { rows } = await fixture.fleet.pools
    .pool(serverId, database)
    .query<{ n: number }>('SELECT count(*)::int AS n FROM appends WHERE id = ANY($1)', [ids]);
  return rows[0]?.n ?? 0;
}

async function waitFor(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** Shard `shardId` as a test writes it: its route, database, home and copy servers, a writer. */
async function shardUnderTest(shardId: number, tag: string) {
  const router = await fixture.router();
  const route = router.map.route(shardId);
  const copyServer = fixture.config.dataCentres.find((dc) => dc.id === route.shard.copyDc)?.primary
    .id as string;
  const write = (id: string) =>
    router.writeToShard(shardId, (tx) =>
      tx.query('INSERT INTO appends VALUES ($1, $2)', [id, tag]),
    );
  return {
    router,
    route,
    database: route.shard.database,
    home: route.primary?.id as string,
    copyServer,
    write,
  };
}

test('a copy behind its slot is re-seeded with every row, and replicates again', async () => {
  const shardId = 0;
  const { route, database, copyServer, home, write } = await shardUnderTest(shardId, 'gap');
  await write('gap_1');
  await waitFor(async () => (await countOn(copyServer, database, ['gap_1'])) === 1, 'gap_1');
  // Make the copy trail its slot: stop applying, rewind its replication origin (as a promoted
  // replica that missed the last commits would be), and commit more on the home meanwhile.
  const copyDb = fixture.fleet.pools.pool(copyServer, database);
  const name = subscriptionName(database);
  await copyDb.query(`ALTER SUBSCRIPTION ${name} DISABLE`);
  await sleep(500);
  await copyDb.query(
    `SELECT pg_replication_origin_advance('pg_' || oid, '0/1'::pg_lsn) FROM pg_subscription WHERE subname = $1`,
    [name],
  );
  await copyDb.query(`DELETE FROM appends WHERE id = 'gap_1'`);
  await write('gap_2');
  const { reseeded } = await fixture.fleet.connectCopies({ promotedIn: route.shard.copyDc });
  assert.ok(reseeded.includes(shardId), `re-seeded ${reseeded.join(', ')}`);
  await waitFor(
    async () => (await countOn(copyServer, database, ['gap_1', 'gap_2'])) === 2,
    'the re-seeded copy to hold every row',
  );
  await write('gap_3');
  await waitFor(async () => (await countOn(copyServer, database, ['gap_3'])) === 1, 'gap_3');
  assert.equal(await countOn(home, database, ['gap_1', 'gap_2', 'gap_3']), 3);
});

test('a copy that trails its slot only over WAL it never needed is resumed, not re-seeded', async () => {
  const shardId = 1;
  const { router, route, database, copyServer, write } = await shardUnderTest(shardId, 'nogap');
  await write('nogap_1');
  await waitFor(async () => (await countOn(copyServer, database, ['nogap_1'])) === 1, 'nogap_1');
  // Other databases on the home write WAL; the slot's confirmed position may move over it.
  const other = router.map.shardIds.find(
    (id) => id !== shardId && router.map.route(id).shard.homeDc === route.shard.homeDc,
  );
  if (other !== undefined) {
    for (let n = 0; n < 20; n += 1) {
      await router.writeToShard(other, (tx) =>
        tx.query(`INSERT INTO appends VALUES ($1, 'elsewhere')`, [`elsewhere_${n}`]),
      );
    }
  }
  await sleep(1_500);
  const { reseeded } = await fixture.fleet.connectCopies({ promotedIn: route.shard.copyDc });
  assert.ok(!reseeded.includes(shardId), `re-seeded ${reseeded.join(', ')}`);
  await write('nogap_2');
  await waitFor(async () => (await countOn(copyServer, database, ['nogap_2'])) === 1, 'nogap_2');
});

test('a new copy is subscribed without an initial copy only when it holds what its home holds', async () => {
  const { database, copyServer, home, write } = await shardUnderTest(2, 'eq');
  const homeDb = fixture.fleet.pools.pool(home, database);
  const copyDb = fixture.fleet.pools.pool(copyServer, database);
  const publisher = fixture.fleet.publisherConninfo(home, database);
  /** Tables of the subscription that had an initial copy (a table sync records where it ended). */
  const synced = async () =>
    (
      await copyDb.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_subscription_rel r
           JOIN pg_subscription s ON s.oid = r.srsubid
          WHERE s.subname = $1 AND r.srsublsn IS NOT NULL`,
        [subscriptionName(database)],
      )
    ).rows[0]?.n ?? 0;
  const unsubscribe = async () => {
    assert.ok(await waitForCopyToApply(homeDb, copyDb, database, 20_000), 'the copy caught up');
    assert.ok(await dropSubscriptionLocally(copyDb, database));
    await dropCopySlot(homeDb, database);
  };
  // Equal on both sides: subscribed as it is, and what the home writes next arrives.
  await write('eq_1');
  await waitFor(async () => (await countOn(copyServer, database, ['eq_1'])) === 1, 'eq_1');
  await unsubscribe();
  assert.equal(await publicTableDigests(homeDb), await publicTableDigests(copyDb));
  assert.equal(await subscribeEqualCopy(homeDb, copyDb, database, publisher), true);
  assert.equal(await synced(), 0, 'no initial copy of equal tables');
  await write('eq_2');
  await waitFor(async () => (await countOn(copyServer, database, ['eq_2'])) === 1, 'eq_2');
  assert.equal(await subscribeEqualCopy(homeDb, copyDb, database, publisher), false, 'once');

  // A row only the home holds: the copy gets an initial copy, and with it that row.
  await unsubscribe();
  await homeDb.query(`INSERT INTO appends VALUES ('eq_home_only', 'eq')`);
  assert.notEqual(await publicTableDigests(homeDb), await publicTableDigests(copyDb));
  assert.equal(await subscribeEqualCopy(homeDb, copyDb, database, publisher), true);
  await waitFor(
    async () => (await countOn(copyServer, database, ['eq_1', 'eq_2', 'eq_home_only'])) === 3,
    'the copy to hold the row only the home had',
  );
  assert.ok((await synced()) > 0, 'an initial copy was made');
  await write('eq_3');
  await waitFor(async () => (await countOn(copyServer, database, ['eq_3'])) === 1, 'eq_3');
  await waitFor(
    async () => (await publicTableDigests(homeDb)) === (await publicTableDigests(copyDb)),
    'home and copy equal',
  );
});

test('a copy subscribed while a transaction stays open on its home waits for it, past the pools’ 3-s bound', async () => {
  const { database, copyServer, home, write } = await shardUnderTest(3, 'open');
  const homeDb = fixture.fleet.pools.pool(home, database);
  const copyDb = fixture.fleet.pools.pool(copyServer, database);
  await write('open_1');
  await waitFor(async () => (await countOn(copyServer, database, ['open_1'])) === 1, 'open_1');
  assert.ok(await waitForCopyToApply(homeDb, copyDb, database, 20_000), 'the copy caught up');
  assert.ok(await dropSubscriptionLocally(copyDb, database));
  await dropCopySlot(homeDb, database);
  // A transaction that wrote and stays open: a new logical slot on the home cannot be made
  // until it ends (its snapshot must start after every running transaction).
  const open = new pg.Client({ ...fixture.fleet.connection(home), database });
  await open.connect();
  try {
    await open.query('BEGIN');
    await open.query(`INSERT INTO appends VALUES ('open_2', 'open')`);
    const reseeding = reseedCopy(
      copyDb,
      homeDb,
      database,
      fixture.fleet.publisherConninfo(home, database),
    );
    const outcome = reseeding.then(
      () => 'subscribed',
      (error: unknown) => `failed: ${error instanceof Error ? error.message : String(error)}`,
    );
    // Longer than the fleet pools' bound on one query (ADMIN_POOL_LIMITS, 3 s).
    await sleep(4_500);
    await open.query('COMMIT');
    assert.equal(await outcome, 'subscribed');
  } finally {
    await open.end();
  }
  const slots = await homeDb.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM pg_replication_slots WHERE slot_name = $1',
    [subscriptionName(database)],
  );
  assert.equal(slots.rows[0]?.n, 1, 'one slot for the copy');
  await write('open_3');
  await waitFor(
    async () => (await countOn(copyServer, database, ['open_1', 'open_2', 'open_3'])) === 3,
    'the copy to hold every row',
  );
});

test('a slot left on the home by a subscription dropped without it is dropped, and the copy subscribes again', async () => {
  const { database, copyServer, home, write } = await shardUnderTest(2, 'left');
  const homeDb = fixture.fleet.pools.pool(home, database);
  const copyDb = fixture.fleet.pools.pool(copyServer, database);
  const slots = async () =>
    (
      await homeDb.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM pg_replication_slots WHERE slot_name = $1',
        [subscriptionName(database)],
      )
    ).rows[0]?.n;
  await write('left_1');
  await waitFor(async () => (await countOn(copyServer, database, ['left_1'])) === 1, 'left_1');
  // As a CREATE SUBSCRIPTION given up on after the home made its slot leaves things: no
  // subscription on the copy, its slot on the home.
  assert.ok(await dropSubscriptionLocally(copyDb, database));
  assert.equal(await slots(), 1, 'the slot is left on the home');
  await write('left_2');
  await fixture.fleet.connectCopies();
  assert.equal(await slots(), 1, 'one slot for the copy');
  await write('left_3');
  await waitFor(
    async () => (await countOn(copyServer, database, ['left_1', 'left_2', 'left_3'])) === 3,
    'the copy to hold every row',
  );
});
