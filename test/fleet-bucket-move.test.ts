/**
 * Moving one bucket to another shard online (`src/fleet/bucket-move.ts`, decision 58) on a real
 * fleet: bad input and rows without a bucket refused with nothing changed; rows kept on the
 * shard (`pinned`, as a ledger's books) refuse the move while one names the bucket, also when it
 * is written during the copy (the cutover refuses), and stay put while every other bucket moves;
 * a writer hung mid-transaction refuses the move without holding other writers behind it;
 * the SQL form of the
 * key -> bucket function agrees with the router's; a move cut short before its cutover leaves
 * the map alone, can be given up, and is finished by the next run; while writers keep inserting and updating rows
 * of the moving bucket and of others through routers, every acknowledged write ends on the new
 * shard exactly once (none left on the old one), refused writes left nothing behind, the
 * other-DC copies agree, reads route to the new shard, and a router still holding the old epoch
 * is refused by the old shard and writes to the new one; the bucket then moves back; after a
 * crash between the fence and the map, writes are refused cleanly and the rerun finishes. After
 * a move the source refuses pinned rows naming the bucket (the fence), by either key column.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { CatalogSnapshot, CatalogStore } from '../src/catalog/catalog-store.ts';
import { compareTable } from '../src/compare/table-compare.ts';
import { newEntityId } from '../src/data/entity-id.ts';
import { IDEMPOTENCY_MIGRATIONS, onceInTransaction } from '../src/data/idempotency.ts';
import { Router } from '../src/data/router.ts';
import { errorSpecOf } from '../src/errors/error-catalogue.ts';
import { isMainstayError } from '../src/errors/mainstay-error.ts';
import {
  abandonBucketMove,
  type BucketMoveReport,
  moveBucket,
  preflightBucketMove,
  readPendingMove,
} from '../src/fleet/bucket-move.ts';
import { cutover, prepareCarry, startCapture } from '../src/fleet/bucket-move-cutover.ts';
import { carriedMoveOf, movedTablesOf } from '../src/fleet/bucket-move-plan.ts';
import { installFences, installMachinery } from '../src/fleet/bucket-move-sql.ts';
import { waitForCopyToApply } from '../src/fleet/shard-replication.ts';
import type { MigrationSet } from '../src/migrations/migration.ts';
import { type FleetFixture, startFleet } from './support/fleet-fixture.ts';

const MOVE_MIGRATIONS: MigrationSet = {
  name: 'test-bucket-move',
  migrations: [
    {
      version: 1,
      name: 'items',
      sql: `CREATE TABLE public.move_items (id text PRIMARY KEY, n bigint NOT NULL, note text NOT NULL);
            CREATE TABLE public.move_item_events (item_id text NOT NULL, seq integer NOT NULL,
              at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (item_id, seq));
            CREATE TABLE public.move_books (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
              account text, counterparty text);`,
    },
  ],
  bucketRules: {
    move_items: { kind: 'key', column: 'id' },
    move_item_events: { kind: 'key', column: 'item_id' },
    // As a ledger's books: rows of the shard, naming buckets by an account id, and by a
    // counterparty under the prefix its router key adds.
    move_books: {
      kind: 'pinned',
      columns: ['account', { column: 'counterparty', prefix: 'book:' }],
      reason: 'the test books are per shard',
    },
  },
};

/** The bucket moved (shard 0, homed in dc1) and where it goes (shard 1, homed in dc2). */
const BUCKET = 7;
const FROM = 0;
const TO = 1;
/** Buckets of other shards and of the source, written throughout. */
const OTHERS = [8, 300, 600, 900];
/** A bucket of the source shard that stays, named by rows of the pinned table throughout. */
const STAYING = 8;

let fixture: FleetFixture;
let router: Router;

function shardDb(shardId: number, where: 'home' | 'copy' = 'home'): pg.Pool {
  const snapshot = fixture.fleet.catalogSnapshot as CatalogSnapshot;
  const shard = snapshot.shards.find((s) => s.id === shardId);
  assert.ok(shard);
  const dc = fixture.config.dataCentres.find(
    (d) => d.id === (where === 'home' ? shard.homeDc : shard.copyDc),
  );
  assert.ok(dc);
  return fixture.fleet.pools.pool(dc.primary.id, shard.database);
}

/** Acknowledged writes: each item's expected counter, and the items whose writes were refused. */
class Ledger {
  readonly acked = new Map<string, number>();
  readonly refused = new Set<string>();
  readonly errors: unknown[] = [];
  stopped = false;
}

/** One writer: inserts items (with an idempotency record) and updates its items of the bucket. */
async function writer(via: Router, ledger: Ledger, index: number): Promise<void> {
  const mine: string[] = [];
  for (let i = 0; !ledger.stopped; i += 1) {
    const update = mine.length > 0 && i % 3 === 2;
    const id = update
      ? (mine[i % mine.length] as string)
      : newEntityId('itm', i % 2 === 0 ? BUCKET : (OTHERS[i % OTHERS.length] as number));
    const before = ledger.acked.get(id) ?? 0;
    try {
      if (update) {
        await via.write(id, async (tx) => {
          await tx.query('UPDATE move_items SET n = n + 1 WHERE id = $1', [id]);
          await tx.query('INSERT INTO move_item_events (item_id, seq) VALUES ($1, $2)', [
            id,
            before + 1,
          ]);
        });
        ledger.acked.set(id, before + 1);
      } else {
        await via.write(id, (tx) =>
          onceInTransaction(tx, { scope: 'move-test', key: id, fingerprint: 'f' }, async () => {
            await tx.query('INSERT INTO move_items (id, n, note) VALUES ($1, 0, $2)', [
              id,
              `writer ${index}`,
            ]);
            return { statusCode: 201, body: { id } };
          }),
        );
        ledger.acked.set(id, 0);
        if (id.endsWith(bucketSuffix())) mine.push(id);
      }
    } catch (error) {
      ledger.errors.push(error);
      if (!update) ledger.refused.add(id);
    }
  }
}

/** A counterparty whose router key (`book:` and the name) falls in `bucket`. */
function counterpartyIn(bucket: number): string {
  for (let n = 0; ; n += 1) if (router.map.bucketOf(`book:cp-${n}`) === bucket) return `cp-${n}`;
}

function bucketSuffix(): string {
  return newEntityId('x', BUCKET).slice(-4);
}

/** A catalog that answers with a snapshot frozen in time until `thaw()`: a router left behind. */
function frozenCatalog(real: CatalogStore, frozen: CatalogSnapshot) {
  let thawed = false;
  const store: CatalogStore = {
    load: async () => (thawed ? real.load() : frozen),
    initialize: (seed) => real.initialize(seed),
    updateDeclared: (declared) => real.updateDeclared(declared),
    bumpEpoch: (reason) => real.bumpEpoch(reason),
    commitChange: (reason, change, detail) => real.commitChange(reason, change, detail),
    events: (limit, at) => real.events(limit, at),
    subscribe: async () => async () => undefined,
    getFlag: (name) => real.getFlag(name),
    setFlag: (name, value) => real.setFlag(name, value),
    close: async () => undefined,
  };
  return { store, thaw: () => (thawed = true) };
}

before(async () => {
  fixture = await startFleet('bucket-move', {}, [IDEMPOTENCY_MIGRATIONS, MOVE_MIGRATIONS]);
  router = await fixture.router({ catalogPollMs: 200 });
});

after(async () => {
  await fixture?.stop();
});

describe('moving a bucket', () => {
  test('bad input is refused with its code, and nothing changes', async () => {
    const invalid = (pattern: RegExp) => (error: unknown) =>
      isMainstayError(error, 'bucket_move_invalid') && pattern.test(error.message);
    await assert.rejects(
      preflightBucketMove(fixture.fleet, { bucket: 1024, toShard: TO }),
      invalid(/not in the map/),
    );
    await assert.rejects(
      preflightBucketMove(fixture.fleet, { bucket: BUCKET, toShard: 9 }),
      invalid(/no shard 9/),
    );
    await assert.rejects(
      preflightBucketMove(fixture.fleet, { bucket: BUCKET, toShard: FROM }),
      invalid(/already/),
    );
    await assert.rejects(
      moveBucket(fixture.fleet, { bucket: BUCKET, toShard: FROM }),
      invalid(/already/),
    );
  });

  test('a table whose rows have no bucket refuses the move while it holds rows', async () => {
    const source = shardDb(FROM);
    await source.query(`INSERT INTO router_checks (key, version) VALUES ('stray', 1)`);
    await assert.rejects(
      preflightBucketMove(fixture.fleet, { bucket: BUCKET, toShard: TO }),
      (error: unknown) =>
        isMainstayError(error, 'bucket_move_unattributed') &&
        /router_checks \(no rule declared\)/.test(error.message),
    );
    await source.query(`DELETE FROM router_checks WHERE key = 'stray'`);
    await preflightBucketMove(fixture.fleet, { bucket: BUCKET, toShard: TO });
  });

  test('rows kept on the shard refuse the move while one names the bucket, and only then', async () => {
    const source = shardDb(FROM);
    const refusedFor = (pattern: RegExp) => (error: unknown) =>
      isMainstayError(error, 'bucket_move_unattributed') && pattern.test(error.message);
    const input = { bucket: BUCKET, toShard: TO };
    await source.query('INSERT INTO move_books (account) VALUES ($1)', [
      newEntityId('acct', STAYING),
    ]);
    await preflightBucketMove(fixture.fleet, input);
    await source.query('INSERT INTO move_books (counterparty) VALUES ($1)', [
      counterpartyIn(BUCKET),
    ]);
    await assert.rejects(
      preflightBucketMove(fixture.fleet, input),
      refusedFor(/move_books \(bucket 7 named by 1 row; the test books are per shard\)/),
    );
    await source.query('DELETE FROM move_books WHERE counterparty IS NOT NULL');
    const inBucket = newEntityId('acct', BUCKET);
    await source.query('INSERT INTO move_books (account) VALUES ($1)', [inBucket]);
    await assert.rejects(preflightBucketMove(fixture.fleet, input), refusedFor(/move_books/));
    await source.query('DELETE FROM move_books WHERE account = $1', [inBucket]);

    // A row naming the bucket, committed once capture began and the move had prepared (its
    // last scan): the cutover finds it logged by the trigger (no scan under the pause) and
    // refuses with nothing cut over, the map unchanged. The move's steps are run one by one
    // here, so that the row lands between them.
    const snapshot = (await fixture.fleet.refreshCatalog()) as CatalogSnapshot;
    const dbs = { source, target: shardDb(TO) };
    const tables = await movedTablesOf(
      source,
      fixture.fleet.shardMigrations,
      snapshot,
      FROM,
      BUCKET,
    );
    const move = carriedMoveOf(snapshot, { bucket: BUCKET, fromShard: FROM, toShard: TO });
    await installMachinery(dbs.target);
    await installFences(source, tables, snapshot.bucketCount, BUCKET);
    await startCapture(source, BUCKET, TO);
    const plans = await prepareCarry(dbs, tables, move);
    await source.query('INSERT INTO move_books (account) VALUES ($1)', [
      newEntityId('acct', BUCKET),
    ]);
    await assert.rejects(
      cutover(dbs, fixture.fleet.catalog, tables, move, plans),
      refusedFor(/while it was copied: move_books \(1 row; the test books are per shard\)/),
    );
    const { rows: state } = await source.query<{ state: string }>(
      'SELECT state FROM mainstay.bucket_moves WHERE bucket = $1',
      [BUCKET],
    );
    assert.deepEqual(state, [{ state: 'capturing' }], 'no fence was committed');
    // What giving the move up does (no move was recorded in the catalog for these steps).
    await source.query('DELETE FROM mainstay.bucket_moves WHERE bucket = $1', [BUCKET]);
    await source.query('DELETE FROM mainstay.bucket_move_pinned WHERE bucket = $1', [BUCKET]);
    await source.query('DELETE FROM mainstay.bucket_move_changes WHERE bucket = $1', [BUCKET]);
    await fixture.fleet.refreshCatalog();
    await router.refresh();
    assert.equal(router.map.shardOf(newEntityId('itm', BUCKET)), FROM);
    await source.query('DELETE FROM move_books WHERE account LIKE $1', [`%${bucketSuffix()}`]);
    await preflightBucketMove(fixture.fleet, input);
  });

  test('a writer hung mid-transaction refuses the move, and holds no other writer behind it', async () => {
    const source = shardDb(FROM);
    const input = { bucket: BUCKET, toShard: TO };
    const hung = await source.connect();
    try {
      // A client that stopped inside its transaction: its lock on the table stays.
      await hung.query('BEGIN');
      await hung.query('INSERT INTO move_books (account) VALUES ($1)', [
        newEntityId('acct', STAYING),
      ]);
      const moving = moveBucket(fixture.fleet, input).then(
        () => assert.fail('the move went through'),
        (error: unknown) => error,
      );
      await sleep(300);
      // Another writer of the table is not queued behind the move's wait for its lock.
      const other = newEntityId('acct', STAYING);
      await router.write(other, (tx) =>
        tx.query('INSERT INTO move_books (account) VALUES ($1)', [other]),
      );
      const refusal = await moving;
      assert.ok(
        isMainstayError(refusal, 'preflight_refused') && /move_books locked/.test(refusal.message),
        String(refusal),
      );
      await hung.query('COMMIT');
    } finally {
      hung.release();
    }
    await fixture.fleet.refreshCatalog();
    await router.refresh();
    assert.equal(router.map.shardOf(newEntityId('itm', BUCKET)), FROM);
    assert.equal(await abandonBucketMove(fixture.fleet, input), true);
    await preflightBucketMove(fixture.fleet, input);
  });

  test("the SQL bucket function agrees with the router's", async () => {
    const db = shardDb(FROM);
    await installMachinery(db);
    const keys = ['cus_42', 'key_1', '12345', 'ключ-ü', newEntityId('acct', 1023)];
    for (let b = 0; b < 1024; b += 97) keys.push(newEntityId('card', b));
    const { rows } = await db.query<{ key: string; bucket: number }>(
      'SELECT k AS key, mainstay.bucket_of_key(k, 1024) AS bucket FROM unnest($1::text[]) AS k',
      [keys],
    );
    for (const row of rows) assert.equal(row.bucket, router.map.bucketOf(row.key), row.key);
  });

  test('a move cut short before its cutover leaves the map as it was', async () => {
    const aborted = AbortSignal.abort();
    const input = { bucket: BUCKET, toShard: TO };
    await assert.rejects(moveBucket(fixture.fleet, input, aborted));
    assert.equal(await abandonBucketMove(fixture.fleet, input), true);
    assert.equal(await readPendingMove(fixture.fleet.catalog), null);
    const { rows } = await shardDb(FROM).query(
      'SELECT 1 FROM mainstay.bucket_moves WHERE bucket = $1',
      [BUCKET],
    );
    assert.equal(rows.length, 0, 'capture still on after the move was given up');
    await assert.rejects(moveBucket(fixture.fleet, input, aborted));
    const snapshot = await fixture.fleet.refreshCatalog();
    assert.ok(snapshot);
    assert.equal(router.map.shardOf(newEntityId('itm', BUCKET)), FROM);
    assert.deepEqual(await readPendingMove(fixture.fleet.catalog), {
      bucket: BUCKET,
      fromShard: FROM,
      toShard: TO,
    });
  });

  test('under concurrent writes every acknowledged write ends on the new shard once', async () => {
    const ledger = new Ledger();
    const second = await fixture.router({ catalogPollMs: 200 });
    const frozenAt = fixture.fleet.catalogSnapshot as CatalogSnapshot;
    const writers = [0, 1, 2, 3].map((n) => writer(n % 2 === 0 ? router : second, ledger, n));
    const books = booksWriter(ledger);
    await sleep(700);
    const report: BucketMoveReport = await moveBucket(fixture.fleet, {
      bucket: BUCKET,
      toShard: TO,
    });
    await sleep(500);
    ledger.stopped = true;
    await Promise.all(writers);
    console.log(
      `bucket move: ${report.copiedRows} rows copied, ${report.changesApplied} changes applied in ${report.catchUpRounds} rounds, writes to the bucket paused ${report.cutover?.pauseMs.toFixed(1)} ms, ${report.deletedRows} rows removed from the source; ${ledger.acked.size} items acknowledged, ${ledger.errors.length} writes refused`,
    );
    assert.equal(report.verification.ok, true, report.verification.problems.join('; '));
    assert.ok(report.cutover);
    assert.equal(await readPendingMove(fixture.fleet.catalog), null);
    await checkEveryWrite(ledger);
    await checkBooks(await books);
    await checkCopies();
    await checkStaleRouter(frozenAt);
    await second.close();
  });

  test('the bucket moves back: the fence it left is lifted, the new one refuses', async () => {
    const id = newEntityId('itm', BUCKET);
    await router.write(id, (tx) =>
      tx.query(`INSERT INTO move_items (id, n, note) VALUES ($1, 0, 'before')`, [id]),
    );
    const report = await moveBucket(fixture.fleet, { bucket: BUCKET, toShard: FROM });
    assert.equal(report.verification.ok, true, report.verification.problems.join('; '));
    await router.refresh();
    assert.equal(router.map.shardOf(id), FROM);
    const written = await router.write(id, (tx) =>
      tx.query('UPDATE move_items SET n = n + 1 WHERE id = $1', [id]),
    );
    assert.equal(written.shardId, FROM);
    await assert.rejects(
      router.writeToShard(TO, (tx) =>
        tx.query(`INSERT INTO move_items (id, n, note) VALUES ($1, 0, 'stale')`, [
          newEntityId('itm', BUCKET),
        ]),
      ),
      (error: unknown) => (error as { code?: string }).code === 'MSB01',
    );
    const { rows } = await shardDb(FROM).query<{ n: string }>(
      'SELECT n FROM move_items WHERE id = $1',
      [id],
    );
    assert.deepEqual(
      rows.map((row) => Number(row.n)),
      [1],
    );
  });
  test('a crash between the fence and the map: writes refused cleanly, the rerun finishes', async () => {
    // As a crash would leave it: the move recorded, the source fenced, the map not yet changed.
    await fixture.fleet.catalog.setFlag(
      'bucket_move',
      JSON.stringify({ bucket: BUCKET, fromShard: FROM, toShard: TO }),
    );
    await shardDb(FROM).query(
      `INSERT INTO mainstay.bucket_moves (bucket, state, to_shard) VALUES ($1, 'moved', $2)`,
      [BUCKET, TO],
    );
    const impatient = await fixture.router({ writeWaitMs: 300 });
    const id = newEntityId('itm', BUCKET);
    const insert = () =>
      impatient.write(id, (tx) =>
        tx.query(`INSERT INTO move_items (id, n, note) VALUES ($1, 0, 'after')`, [id]),
      );
    await assert.rejects(insert(), (error: unknown) => isMainstayError(error, 'bucket_moved'));
    for (const shardId of [FROM, TO]) {
      const { rows } = await shardDb(shardId).query('SELECT 1 FROM move_items WHERE id = $1', [id]);
      assert.equal(rows.length, 0, `a refused write reached shard ${shardId}`);
    }
    const report = await moveBucket(fixture.fleet, { bucket: BUCKET, toShard: TO });
    assert.equal(report.verification.ok, true, report.verification.problems.join('; '));
    assert.equal((await insert()).shardId, TO);
    await impatient.close();
  });
});

/** Each acknowledged item on exactly the shard the map names, with its counter; refused ones nowhere. */
async function checkEveryWrite(ledger: Ledger): Promise<void> {
  for (const error of ledger.errors)
    assert.ok(
      isMainstayError(error) && errorSpecOf(error.code).definite === true,
      `a write failed indefinitely: ${error}`,
    );
  await router.refresh();
  const ids = [...ledger.acked.keys(), ...ledger.refused];
  const found = new Map<string, { shard: number; n: number; events: number }[]>();
  for (const shardId of router.map.shardIds) {
    const { rows } = await shardDb(shardId).query<{ id: string; n: string; events: number }>(
      `SELECT i.id, i.n, (SELECT count(*)::int FROM move_item_events e WHERE e.item_id = i.id) AS events
         FROM move_items i WHERE i.id = ANY($1)`,
      [ids],
    );
    for (const row of rows)
      found.set(row.id, [
        ...(found.get(row.id) ?? []),
        { shard: shardId, n: Number(row.n), events: row.events },
      ]);
  }
  let moved = 0;
  for (const [id, n] of ledger.acked) {
    const copies = found.get(id) ?? [];
    assert.equal(copies.length, 1, `${id} is on ${copies.length} shards`);
    assert.deepEqual(copies[0], { shard: router.map.shardOf(id), n, events: n }, id);
    if (router.map.bucketOf(id) === BUCKET) moved += 1;
  }
  for (const id of ledger.refused)
    assert.equal(found.has(id), false, `${id} was refused but written`);
  assert.ok(moved > 0);
  const { rows } = await shardDb(FROM).query<{ n: number }>(
    'SELECT count(*)::int AS n FROM move_items WHERE mainstay.bucket_of_key(id, 1024) = $1',
    [BUCKET],
  );
  assert.equal(rows[0]?.n, 0, 'rows of the bucket left on the old shard');
  const sample = [...ledger.acked.keys()].find((id) => router.map.bucketOf(id) === BUCKET);
  assert.ok(sample);
  const read = await router.read(sample, (db) =>
    db.query('SELECT n FROM move_items WHERE id = $1', [sample]),
  );
  assert.equal(read.shardId, TO);
  assert.equal(read.value.rowCount, 1);
}

/** Inserts rows of the pinned table naming a staying bucket, through the router, until stopped. */
async function booksWriter(ledger: Ledger): Promise<string[]> {
  const acked: string[] = [];
  while (!ledger.stopped) {
    const account = newEntityId('acct', STAYING);
    await router.write(account, (tx) =>
      tx.query('INSERT INTO move_books (account) VALUES ($1)', [account]),
    );
    acked.push(account);
    await sleep(20);
  }
  return acked;
}

/**
 * The pinned table's rows stayed on the source, every one acknowledged during the move among
 * them; the source now refuses a row naming the moved bucket (the fence), by either column.
 */
async function checkBooks(acked: readonly string[]): Promise<void> {
  assert.ok(acked.length > 0);
  const source = shardDb(FROM);
  const { rows } = await source.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM move_books WHERE account = ANY($1)',
    [acked],
  );
  assert.equal(rows[0]?.n, acked.length, 'rows of a staying bucket lost from the pinned table');
  for (const [sql, value] of [
    ['INSERT INTO move_books (account) VALUES ($1)', newEntityId('acct', BUCKET)],
    ['INSERT INTO move_books (counterparty) VALUES ($1)', counterpartyIn(BUCKET)],
  ] as const) {
    await assert.rejects(
      router.writeToShard(FROM, (tx) => tx.query(sql, [value])),
      (error: unknown) => (error as { code?: string }).code === 'MSB01',
      sql,
    );
  }
}

/** Each shard's home and its other-DC copy hold the same rows. */
async function checkCopies(): Promise<void> {
  for (const shardId of [FROM, TO]) {
    const [home, copy] = [shardDb(shardId), shardDb(shardId, 'copy')];
    const database = (fixture.fleet.catalogSnapshot as CatalogSnapshot).shards[shardId]?.database;
    assert.ok(database);
    assert.equal(await waitForCopyToApply(home, copy, database, 30_000), true);
    for (const table of [
      'public.move_items',
      'public.move_item_events',
      'public.idempotency_keys',
    ]) {
      const differences = await compareTable(home, copy, table);
      assert.deepEqual(
        [differences.missing.length, differences.extra.length, differences.different.length],
        [0, 0, 0],
        `${table} of shard ${shardId}`,
      );
    }
  }
}

/**
 * A router whose catalog still says the bucket is on the old shard: the old shard refuses its
 * write (nothing written), and once it sees the new epoch it writes to the new shard.
 */
async function checkStaleRouter(frozenAt: CatalogSnapshot): Promise<void> {
  const real = fixture.fleet.catalog;
  const { store, thaw } = frozenCatalog(real, frozenAt);
  const stale = await Router.connect({
    catalog: store,
    credentials: fixture.credentials(),
    sharedRecentWrites: false,
  });
  try {
    assert.equal(stale.map.shardOf(newEntityId('itm', BUCKET)), FROM);
    const direct = newEntityId('itm', BUCKET);
    await assert.rejects(
      stale.writeToShard(FROM, (tx) =>
        tx.query(`INSERT INTO move_items (id, n, note) VALUES ($1, 0, 'stale')`, [direct]),
      ),
      (error: unknown) => (error as { code?: string }).code === 'MSB01',
    );
    const id = newEntityId('itm', BUCKET);
    setTimeout(thaw, 300);
    const written = await stale.write(id, (tx) =>
      tx.query(`INSERT INTO move_items (id, n, note) VALUES ($1, 0, 'stale')`, [id]),
    );
    assert.equal(written.shardId, TO);
    assert.ok(stale.stats.writeRetries > 0);
    for (const [shardId, expected] of [
      [FROM, 0],
      [TO, 1],
    ] as const) {
      const { rows } = await shardDb(shardId).query<{ n: number }>(
        'SELECT count(*)::int AS n FROM move_items WHERE id = ANY($1)',
        [[id, direct]],
      );
      assert.equal(rows[0]?.n, expected, `shard ${shardId}`);
    }
  } finally {
    await stale.close();
  }
}
