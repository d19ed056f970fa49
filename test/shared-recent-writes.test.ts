import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CatalogStore } from '../src/catalog/catalog-store.ts';
import { PostgresCatalogStore } from '../src/catalog/postgres-catalog-store.ts';
import { PostgresRecentWriteStore } from '../src/catalog/recent-write-store.ts';
import { runInReadScope } from '../src/data/read-scope.ts';
import { Router } from '../src/data/router.ts';
import { CATALOG_DATABASE } from '../src/fleet/fleet.ts';
import { guardedPool } from '../src/postgres/guarded-pool.ts';
import { type FleetFixture, startFleet } from './support/fleet-fixture.ts';
import { pauseReplay, readVersion, setVersion } from './support/router-checks.ts';

/**
 * Failure 6: a key written through one process and read at once through another, without a
 * token. Two routers with their own catalog connections stand for two API processes.
 */
let fixture: FleetFixture;
let writer: Router;
let reader: Router;

/** Writes `rounds` versions through `from` and reads each at once through `to`; stale count. */
async function staleReads(from: Router, to: Router, prefix: string, rounds: number) {
  let stale = 0;
  const servedBy = new Set<string>();
  for (let round = 1; round <= rounds; round += 1) {
    const key = `${prefix}_${round % 7}`;
    await setVersion(from, key, round);
    const read = await readVersion(to, key, { consistency: 'session' });
    if (read.version < round) stale += 1;
    servedBy.add(read.target);
  }
  return { stale, servedBy };
}

describe('shared recent-write store: no stale reads across processes without a token', () => {
  before(async () => {
    fixture = await startFleet('shared-writes');
    writer = await fixture.router({ applicationName: 'api-1' });
    reader = await fixture.router({ applicationName: 'api-2' });
  });
  after(async () => {
    await pauseReplay(fixture, false).catch(() => undefined);
    await fixture?.stop();
  });

  test('the store is on by default in every router', () => {
    assert.ok(writer.shared, 'router 1 has the shared store');
    assert.ok(reader.shared, 'router 2 has the shared store');
  });

  test('idle fleet: write through one router, read at once through the other: 0 stale', async () => {
    const { stale } = await staleReads(writer, reader, 'idle', 300);
    assert.equal(stale, 0);
    assert.ok((writer.shared?.stats.recorded ?? 0) >= 300);
  });

  test('replay paused on the replicas: 0 stale, and the reads went to the primary', async () => {
    await pauseReplay(fixture, true);
    try {
      const { stale, servedBy } = await staleReads(writer, reader, 'paused', 100);
      assert.equal(stale, 0);
      assert.deepEqual([...servedBy], ['primary']);
    } finally {
      await pauseReplay(fixture, false);
    }
  });

  test('the same with the store off goes stale: what the store prevents', async () => {
    const plainWriter = await fixture.router({ sharedRecentWrites: false });
    const plainReader = await fixture.router({ sharedRecentWrites: false });
    assert.equal(plainReader.shared, null);
    await setVersion(plainWriter, 'off_0', 0);
    await sleep(300);
    await pauseReplay(fixture, true);
    try {
      const { stale } = await staleReads(plainWriter, plainReader, 'off', 20);
      assert.ok(stale > 0, 'without the store, reads through another router are stale');
      // A router with the store still catches writes recorded by the others.
      const { stale: caught } = await staleReads(writer, plainReader, 'mixed', 5);
      assert.ok(caught > 0, 'a reader with the store off does not ask it');
      const { stale: none } = await staleReads(writer, reader, 'mixed', 20);
      assert.equal(none, 0);
    } finally {
      await pauseReplay(fixture, false);
    }
  });

  test('keys a write names as touched are read fresh through another router', async () => {
    const key = 'touch_root';
    const other = keysOnShardOf(writer, key, 'touch_other');
    await setVersion(writer, other, 1);
    await sleep(300);
    await pauseReplay(fixture, true);
    try {
      await writer.write(
        key,
        async (tx) => {
          await tx.query('UPDATE router_checks SET version = 2 WHERE key = $1 RETURNING key', [
            other,
          ]);
          return [other];
        },
        { touched: (keys) => keys },
      );
      const read = await readVersion(reader, other, { consistency: 'session' });
      assert.equal(read.version, 2);
      assert.equal(read.target, 'primary');
    } finally {
      await pauseReplay(fixture, false);
    }
  });

  test('a read scope chooses the level of session reads and collects who served them', async () => {
    const key = 'scoped';
    await setVersion(writer, key, 1);
    await sleep(300);
    const route = reader.map.route(reader.map.shardOf(key));
    const scope = { consistency: 'primary' as const, servedBy: [] as string[] };
    const read = await runInReadScope(scope, () =>
      readVersion(reader, key, { consistency: 'session' }),
    );
    assert.equal(read.servedBy, route.primary?.id);
    assert.deepEqual(scope.servedBy, [route.primary?.id]);
    // A read pinned to another level keeps it; `any` may be served by a replica.
    const anyScope = { consistency: 'primary' as const, servedBy: [] as string[] };
    const pinned = await runInReadScope(anyScope, () =>
      readVersion(reader, key, { consistency: 'any' }),
    );
    assert.equal(pinned.target, 'replica');
    assert.deepEqual(anyScope.servedBy, [pinned.servedBy]);
  });

  test('a reader whose store is unreachable reads from the primary (the safe side)', async () => {
    const unreachable = await routerWithUnreachableStore(fixture);
    await pauseReplay(fixture, true);
    try {
      const before = unreachable.stats.fallbacks.get('recent_writes_unavailable') ?? 0;
      const { stale, servedBy } = await staleReads(writer, unreachable, 'unreachable', 10);
      assert.equal(stale, 0);
      assert.deepEqual([...servedBy], ['primary']);
      assert.ok((unreachable.stats.fallbacks.get('recent_writes_unavailable') ?? 0) > before);
      assert.ok(unreachable.shared?.unavailable, 'the failure is remembered for retryAfterMs');
    } finally {
      await pauseReplay(fixture, false);
      await unreachable.close();
    }
  });

  test('entries age out and are pruned; replicas that caught up serve again', async () => {
    await setVersion(writer, 'aged', 1);
    await sleep(300);
    const read = await readVersion(reader, 'aged', { consistency: 'session' });
    assert.equal(read.version, 1);
    assert.equal(read.target, 'replica', 'a replayed write lets the replica serve');
    const store = new PostgresRecentWriteStore({
      ...fixture.fleet.connection(fixture.config.witness.id),
      database: CATALOG_DATABASE,
    });
    try {
      const found = await store.lookup(['aged'], 60_000, 1_000);
      assert.equal(found.get('aged')?.shardId, writer.map.shardOf('aged'));
      assert.ok((await store.prune(0, 1_000)) > 0);
      assert.equal((await store.lookup(['aged'], 60_000, 1_000)).size, 0);
    } finally {
      await store.close();
    }
  });
});

/** A key other than `key` on the same shard. */
function keysOnShardOf(router: Router, key: string, prefix: string): string {
  const shardId = router.map.shardOf(key);
  for (let n = 0; ; n += 1) {
    if (router.map.shardOf(`${prefix}_${n}`) === shardId) return `${prefix}_${n}`;
  }
}

/**
 * A router whose catalog is the real one but whose recent-write store points at a port where
 * nothing listens: lookups fail as they would with the witness unreachable.
 */
async function routerWithUnreachableStore(fixture: FleetFixture): Promise<Router> {
  const witness = fixture.fleet.connection(fixture.config.witness.id);
  const pool = guardedPool({ ...witness, database: CATALOG_DATABASE, max: 2 });
  const real = new PostgresCatalogStore(pool);
  const nowhere = new PostgresRecentWriteStore({ ...witness, port: 1, database: CATALOG_DATABASE });
  const catalog: CatalogStore = {
    load: () => real.load(),
    initialize: (seed) => real.initialize(seed),
    updateDeclared: (declared) => real.updateDeclared(declared),
    bumpEpoch: (reason) => real.bumpEpoch(reason),
    commitChange: (reason, change, detail) => real.commitChange(reason, change, detail),
    events: (limit, atOrBefore) => real.events(limit, atOrBefore),
    subscribe: (listener) => real.subscribe(listener),
    getFlag: (name) => real.getFlag(name),
    setFlag: (name, value) => real.setFlag(name, value),
    recentWriteStore: () => nowhere,
    close: async () => {
      await nowhere.close();
      await real.close();
    },
  };
  const router = await Router.connect({ catalog, credentials: fixture.credentials() });
  const close = router.close.bind(router);
  router.close = async () => {
    await close();
    await catalog.close();
  };
  return router;
}
