import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../src/config/load-config.ts';
import { DEMO_CUSTOMER_COUNT, DEMO_MIGRATIONS } from '../src/demo/demo-data.ts';
import { isMainstayError } from '../src/errors/mainstay-error.ts';
import { setAsideCopyChecks } from '../src/fleet/copy-checks.ts';
import { Fleet } from '../src/fleet/fleet.ts';
import { readFleetState } from '../src/fleet/fleet-state.ts';
import { ensureDatabase } from '../src/fleet/shard-replication.ts';
import { migrateDatabase } from '../src/fleet/shard-setup.ts';
import type { TopologySnapshot } from '../src/fleet/topology-snapshot.ts';
import { migrate } from '../src/migrations/migration.ts';
import { CONFIG_SECTIONS, MODULES } from '../src/modules.ts';
import { startPlatform } from '../src/platform/platform.ts';
import { authHeaders } from './support/demo-credentials.ts';
import { postgresProcessesUnder, removeHome, tempHome } from './support/temp-home.ts';

const home = tempHome('fleet');
const config = loadConfig(
  { cwd: home, env: { MAINSTAY_HOME: home, MAINSTAY_PORT: '0' } },
  CONFIG_SECTIONS,
);
const newFleet = () => new Fleet({ config, shardMigrations: [DEMO_MIGRATIONS] });

/** Polls `read` until it returns true or `timeoutMs` passes; returns whether it did. */
async function eventually(read: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await read().catch(() => false)) return true;
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
}

function server(topology: TopologySnapshot, id: string) {
  const found = topology.servers.find((s) => s.id === id);
  assert.ok(found, `server ${id} missing from the topology`);
  return found;
}

describe('fleet on real PostgreSQL servers', () => {
  let platform: Awaited<ReturnType<typeof startPlatform>>;

  before(async () => {
    platform = await startPlatform({ config, modules: MODULES, failover: false });
  });

  after(async () => {
    await platform?.stop().catch(() => undefined);
    removeHome(home);
  });

  test('first start provisions two DCs, streaming replicas, four replicating shards and the catalog', async () => {
    const topology = await platform.fleet.topology();
    assert.deepEqual(
      topology.dataCentres.map((dc) => [dc.id, dc.primary, dc.replicas]),
      [
        ['dc1', 'dc1-a', ['dc1-b']],
        ['dc2', 'dc2-a', ['dc2-b']],
      ],
    );
    assert.equal(topology.epoch, 1);
    assert.deepEqual(topology.catalog, { server: 'witness', state: 'up' });
    const roles = topology.servers.map((s) => `${s.id}:${s.role}:${s.state}`).sort();
    assert.deepEqual(roles, [
      'dc1-a:primary:up',
      'dc1-b:replica:up',
      'dc2-a:primary:up',
      'dc2-b:replica:up',
      'witness:witness:up',
    ]);
    for (const id of ['dc1-b', 'dc2-b']) {
      const replica = server(topology, id);
      assert.equal(replica.streamingState, 'streaming');
      assert.match(replica.lastWalLsn ?? '', /^[0-9A-F]+\/[0-9A-F]+$/);
      assert.equal(typeof replica.replayLagBytes, 'number');
    }
    assert.equal(topology.shards.length, 4);
    assert.deepEqual(topology.shards.map((s) => s.homeDc).sort(), ['dc1', 'dc1', 'dc2', 'dc2']);
    for (const shard of topology.shards) {
      assert.equal(shard.logicalReplication.state, 'replicating', JSON.stringify(shard));
      assert.notEqual(shard.homeDc, shard.copyDc);
      // A new fleet's copies held what their homes did, so no table had an initial copy (a
      // table sync records the position it ended at; equal-copy.ts).
      const copyPrimary = topology.dataCentres.find((dc) => dc.id === shard.copyDc)?.primary;
      const { rows } = await platform.fleet.pools
        .pool(copyPrimary as string, shard.database)
        .query<{ tables: number; synced: number }>(
          'SELECT count(*)::int AS tables, count(srsublsn)::int AS synced FROM pg_subscription_rel',
        );
      assert.ok((rows[0]?.tables ?? 0) > 0, `shard ${shard.id}: tables subscribed`);
      assert.equal(rows[0]?.synced, 0, `shard ${shard.id}: no initial copy`);
    }
    assert.equal((await platform.fleet.health()).ready, true);
  });

  test('the HTTP server answers /health 200 and /v1/topology', async () => {
    const health = await fetch(`${platform.url}/health`);
    assert.equal(health.status, 200);
    const topology = (await (
      await fetch(`${platform.url}/v1/topology`, { headers: authHeaders(home) })
    ).json()) as TopologySnapshot;
    assert.equal(topology.servers.length, 5);
  });

  test('/v1/topology needs a credential: none is 401 unauthenticated, a garbage JWT 401 invalid_token', async () => {
    const anonymous = await fetch(`${platform.url}/v1/topology`);
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.headers.get('content-type') ?? '', /application\/problem\+json/);
    assert.match(anonymous.headers.get('www-authenticate') ?? '', /^Bearer realm="mainstay"/);
    assert.equal(((await anonymous.json()) as { code: string }).code, 'unauthenticated');
    const withKey = await fetch(`${platform.url}/v1/topology`, { headers: authHeaders(home) });
    assert.equal(withKey.status, 200);
    await withKey.body?.cancel();
    const garbage = await fetch(`${platform.url}/v1/topology`, {
      headers: { authorization: 'Bearer eyJhbGciOiJFZERTQSJ9.e30.AAAA' },
    });
    assert.equal(garbage.status, 401);
    assert.match(garbage.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
    assert.equal(((await garbage.json()) as { code: string }).code, 'invalid_token');
  });

  test('/metrics is Prometheus text; /v1/events lists catalog epochs', async () => {
    await platform.router.read('cus_demo000001', (db) => db.query('SELECT 1'), {
      consistency: 'any',
    });
    const headers = authHeaders(home);
    const metrics = await fetch(`${platform.url}/metrics`, { headers });
    assert.equal(metrics.status, 200);
    assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await metrics.text();
    assert.match(text, /mainstay_router_reads_total\{target="replica",consistency="any"\} 1/);
    assert.match(text, /mainstay_catalog_epoch 1/);
    assert.match(text, /mainstay_replica_lag_bytes\{server="dc1-b"\}/);
    const events = (await (
      await fetch(`${platform.url}/v1/events?limit=5`, { headers })
    ).json()) as {
      data: { kind: string; detail: string }[];
      hasMore: boolean;
    };
    assert.deepEqual(
      events.data.map((e) => [e.kind, e.detail]),
      [['catalog_epoch', 'initial topology']],
    );
    assert.equal(events.hasMore, false);
    const bad = await fetch(`${platform.url}/v1/events?limit=1000`, { headers });
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { code: string }).code, 'invalid_request');
  });

  test('demo data is loaded once, on the home primary of each shard', async () => {
    assert.equal(platform.demoLoaded, true);
    let total = 0;
    for (const shard of [0, 1, 2, 3]) {
      const pool = await platform.fleet.shardPool(shard, 'home');
      const { rows } = await pool.query<{ count: string }>('SELECT count(*) FROM demo_customers');
      total += Number(rows[0]?.count);
    }
    assert.equal(total, DEMO_CUSTOMER_COUNT);
  });

  test('a row written on a shard home primary reaches its DC replica and the other DC copy within a second', async () => {
    const topology = await platform.fleet.topology();
    for (const shard of topology.shards) {
      const homeDc = topology.dataCentres.find((dc) => dc.id === shard.homeDc);
      const copyDc = topology.dataCentres.find((dc) => dc.id === shard.copyDc);
      assert.ok(homeDc && copyDc);
      const id = `cus_probe_${shard.id}_${Date.now()}`;
      const home = platform.fleet.pools.pool(homeDc.primary, shard.database);
      await home.query(
        `INSERT INTO demo_customers (id, bucket, full_name, country) VALUES ($1, 0, 'Probe', 'SE')`,
        [id],
      );
      const written = Date.now();
      const seen = (serverId: string) => async () => {
        const { rowCount } = await platform.fleet.pools
          .pool(serverId, shard.database)
          .query('SELECT 1 FROM demo_customers WHERE id = $1', [id]);
        return rowCount === 1;
      };
      assert.ok(
        await eventually(seen(homeDc.replicas[0] as string), 1_000),
        `shard ${shard.id}: not on the replica`,
      );
      assert.ok(
        await eventually(seen(copyDc.primary), 1_000 - (Date.now() - written)),
        `shard ${shard.id}: not on the copy`,
      );
    }
  });

  test('a copy sets its CHECK constraints aside (its home checks every row) and gets them back for a migration', async () => {
    const checksOf = async (serverId: string, database: string) => {
      const { rows } = await platform.fleet.pools.pool(serverId, database).query<{ name: string }>(
        `SELECT conname AS name FROM pg_constraint
           WHERE contype = 'c' AND conrelid = 'public.demo_customers'::regclass ORDER BY 1`,
      );
      return rows.map((row) => row.name);
    };
    const topology = await platform.fleet.topology();
    const shard = topology.shards[0];
    assert.ok(shard);
    const home = topology.dataCentres.find((dc) => dc.id === shard.homeDc)?.primary;
    const copy = topology.dataCentres.find((dc) => dc.id === shard.copyDc)?.primary;
    assert.ok(home && copy);
    const onHome = await checksOf(home, shard.database);
    assert.deepEqual(onHome, ['demo_customers_bucket_check', 'demo_customers_country_check']);
    assert.deepEqual(await checksOf(copy, shard.database), []);
    const copyDb = platform.fleet.pools.pool(copy, shard.database);
    const kept = await copyDb.query<{ name: string }>(
      'SELECT constraint_name AS name FROM mainstay.copy_checks ORDER BY 1',
    );
    assert.ok(onHome.every((name) => kept.rows.some((row) => row.name === name)));
    await assert.rejects(
      platform.fleet.pools
        .pool(home, shard.database)
        .query(
          `INSERT INTO demo_customers (id, bucket, full_name, country) VALUES ('cus_bad', 0, 'Bad', 'Sweden')`,
        ),
      (error: { code?: string }) => error.code === '23514',
      'the home refuses a row its CHECK forbids',
    );
    // A migration that names a set-aside constraint runs on the copy: it is put back first.
    const renaming = {
      name: 'test-copy-checks',
      migrations: [
        {
          version: 1,
          name: 'rename a check',
          sql: 'ALTER TABLE public.demo_customers RENAME CONSTRAINT demo_customers_country_check TO demo_customers_country_iso',
        },
      ],
    };
    await migrateDatabase(copyDb, [renaming]);
    assert.deepEqual(await checksOf(copy, shard.database), [
      'demo_customers_bucket_check',
      'demo_customers_country_iso',
    ]);
    assert.equal(await setAsideCopyChecks(copyDb), kept.rows.length, 'every one set aside again');
    assert.deepEqual(await checksOf(copy, shard.database), []);
  });

  test('migrations are idempotent, and an edited applied migration is refused', async () => {
    const pool = await platform.fleet.shardPool(0, 'home');
    const client = await pool.connect();
    try {
      const again = await migrate(client, [DEMO_MIGRATIONS]);
      assert.deepEqual(again.applied, []);
      assert.equal(again.skipped, DEMO_MIGRATIONS.migrations.length);
      const edited = {
        name: DEMO_MIGRATIONS.name,
        migrations: [{ version: 1, name: 'customers', sql: 'SELECT 1' }],
      };
      await assert.rejects(migrate(client, [edited]), (error) =>
        isMainstayError(error, 'migration_checksum_mismatch'),
      );
    } finally {
      client.release();
    }
  });

  test("a migration longer than the fleet pools' bound on one query runs to its end", async () => {
    await ensureDatabase(platform.fleet.pools.pool('dc1-a'), 'slow_migration_check');
    const pool = platform.fleet.pools.pool('dc1-a', 'slow_migration_check');
    // The fleet's own pools bound each query (3 s), so that a hung server reads as down ...
    await assert.rejects(pool.query('SELECT pg_sleep(4)'), /Query read timeout/);
    // ... but not a migration, nor the wait for another process's migration lock.
    const slow = {
      name: 'slow-check',
      migrations: [
        {
          version: 1,
          name: 'slow',
          sql: 'SELECT pg_sleep(4); CREATE TABLE public.slow_done (id int PRIMARY KEY)',
        },
      ],
    };
    await migrateDatabase(pool, [slow]);
    const { rows } = await pool.query<{ present: boolean }>(
      "SELECT to_regclass('public.slow_done') IS NOT NULL AS present",
    );
    assert.equal(rows[0]?.present, true);
  });

  test('a killed server is reported down in the topology and health', async () => {
    const victim = platform.fleet.server('dc2-b');
    assert.ok(victim?.pid);
    process.kill(victim.pid, 'SIGKILL');
    const down = await eventually(
      async () => server(await platform.fleet.topology(), 'dc2-b').state === 'down',
      5_000,
    );
    assert.ok(down, 'dc2-b never showed as down');
    const topology = await platform.fleet.topology();
    assert.match(server(topology, 'dc2-b').detail ?? '', /SIGKILL/);
    const health = await fetch(`${platform.url}/health`);
    assert.equal(health.status, 503);
    const body = (await health.json()) as { components: { name: string; ready: boolean }[] };
    assert.deepEqual(
      body.components.filter((c) => !c.ready).map((c) => c.name),
      ['server:dc2-b'],
    );
  });

  test('a restart reuses the data, does not reload demo data, and brings the killed server back', async () => {
    const before = readFleetState(home);
    // A copy subscribed before copies went binary is switched over by the next start.
    const copies = async () => {
      const topology = await platform.fleet.topology();
      return topology.shards.map((shard) => {
        const copyDc = topology.dataCentres.find((dc) => dc.id === shard.copyDc);
        assert.ok(copyDc);
        return platform.fleet.pools.pool(copyDc.primary, shard.database);
      });
    };
    const binary = async () => {
      const flags: boolean[] = [];
      for (const copy of await copies()) {
        const { rows } = await copy.query<{ subbinary: boolean }>(
          'SELECT subbinary FROM pg_subscription WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())',
        );
        flags.push(...rows.map((row) => row.subbinary));
      }
      return flags;
    };
    assert.deepEqual(await binary(), [true, true, true, true]);
    const [first] = await copies();
    assert.ok(first);
    const { rows: subscriptions } = await first.query<{ subname: string }>(
      'SELECT subname FROM pg_subscription WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())',
    );
    // Its DC's synchronous replica was killed above: commit without waiting for it.
    const client = await first.connect();
    await client.query('SET synchronous_commit = local');
    await client.query(`ALTER SUBSCRIPTION "${subscriptions[0]?.subname}" SET (binary = false)`);
    client.release(true);
    assert.deepEqual(await binary(), [false, true, true, true]);
    await platform.stop();
    assert.deepEqual(postgresProcessesUnder(home), []);
    platform = await startPlatform({ config, modules: MODULES, failover: false });
    assert.equal(platform.demoLoaded, false);
    assert.deepEqual(readFleetState(home)?.ports, before?.ports);
    const topology = await platform.fleet.topology();
    assert.equal(server(topology, 'dc2-b').state, 'up');
    assert.ok(await eventually(async () => (await platform.fleet.health()).ready, 10_000));
    const { rows } = await (await platform.fleet.shardPool(0, 'home')).query<{ count: string }>(
      `SELECT count(*) FROM demo_customers WHERE id LIKE 'cus_probe_%'`,
    );
    assert.equal(Number(rows[0]?.count), 1);
    assert.deepEqual(await binary(), [true, true, true, true]);
  });

  test('a port taken by another process is named in the error', async () => {
    await platform.stop();
    const port = readFleetState(home)?.ports['dc1-a'];
    assert.ok(port);
    const squatter = net.createServer();
    await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
    try {
      await assert.rejects(newFleet().up(), (error) => {
        assert.ok(isMainstayError(error, 'port_in_use'), String(error));
        assert.match(error.message, new RegExp(`port ${port} .*PostgreSQL server dc1-a`));
        return true;
      });
      assert.deepEqual(postgresProcessesUnder(home), []);
    } finally {
      squatter.close();
    }
  });

  test('a data directory from another PostgreSQL major version is refused clearly', async () => {
    const versionFile = path.join(home, 'servers', 'witness', 'data', 'PG_VERSION');
    const original = readFileSync(versionFile, 'utf8');
    writeFileSync(versionFile, '16\n');
    try {
      await assert.rejects(newFleet().up(), (error) => {
        assert.ok(isMainstayError(error, 'postgres_version_mismatch'), String(error));
        assert.match(
          error.message,
          /created by PostgreSQL 16, but the binaries .* are PostgreSQL 17/,
        );
        return true;
      });
    } finally {
      writeFileSync(versionFile, original);
    }
    platform = await startPlatform({ config, modules: MODULES, failover: false });
    assert.equal(server(await platform.fleet.topology(), 'witness').state, 'up');
  });

  test('a server left running by a crashed supervisor is taken over on the next start', async () => {
    const fleet = newFleet();
    await platform.stop();
    await fleet.up();
    const orphanPid = fleet.server('dc1-a')?.pid;
    assert.ok(orphanPid);
    // Simulate a crashed supervisor: forget the processes without stopping them.
    const lockFile = path.join(home, 'mainstay.pid');
    writeFileSync(lockFile, JSON.stringify({ pid: 999_999_999, startedAt: '', httpUrl: null }));
    platform = await startPlatform({ config, modules: MODULES, failover: false }).catch(
      async (error) => {
        await fleet.down();
        throw error;
      },
    );
    assert.notEqual(platform.fleet.server('dc1-a')?.pid, orphanPid);
    assert.ok(await eventually(async () => (await platform.fleet.health()).ready, 10_000));
    await fleet.pools.closeAll();
  });
});
