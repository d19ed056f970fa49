/**
 * A shard copy whose server trails what its slot confirmed (the promoted replica of a failed
 * copy server that had not received the last applied commits) is re-seeded, not resumed: the
 * publisher cannot send from before the slot's confirmed position, so resuming would skip rows.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { subscriptionName } from '../src/fleet/shard-replication.ts';
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

test('a copy behind its slot is re-seeded with every row, and replicates again', async () => {
  const router = await fixture.router();
  const shardId = 0;
  const route = router.map.route(shardId);
  const database = route.shard.database;
  const copyServer = fixture.config.dataCentres.find((dc) => dc.id === route.shard.copyDc)?.primary
    .id as string;
  const home = route.primary?.id as string;
  const write = (id: string) =>
    router.writeToShard(shardId, (tx) => tx.query(`INSERT INTO appends VALUES ($1, 'gap')`, [id]));
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
  const router = await fixture.router();
  const shardId = 1;
  const route = router.map.route(shardId);
  const database = route.shard.database;
  const copyServer = fixture.config.dataCentres.find((dc) => dc.id === route.shard.copyDc)?.primary
    .id as string;
  const write = (id: string) =>
    router.writeToShard(shardId, (tx) =>
      tx.query(`INSERT INTO appends VALUES ($1, 'nogap')`, [id]),
    );
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
