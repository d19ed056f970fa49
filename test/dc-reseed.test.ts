import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import type { Router } from '../src/data/router.ts';
import { isMainstayError } from '../src/errors/mainstay-error.ts';
import { reseedDataCentre } from '../src/fleet/dc-reseed.ts';
import { FailoverController } from '../src/fleet/failover-controller.ts';
import { subscriptionName } from '../src/fleet/shard-replication.ts';
import { buildHttpServer } from '../src/http/build-http-server.ts';
import { registerOperationsRoutes } from '../src/http/routes/operations-route.ts';
import { eventually, type FleetFixture, keysHomedIn, startFleet } from './support/fleet-fixture.ts';

let fixture: FleetFixture;
let controller: FailoverController;
let router: Router;
let app: FastifyInstance;
const TAIL_ROW_COUNT = 3;

/** A one-off connection to a server's database, as an operator's psql would be. */
async function onServer<T>(server: string, database: string, work: (c: pg.Client) => Promise<T>) {
  const client = new pg.Client({ ...fixture.fleet.connection(server), database });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function countIds(server: string, database: string, ids: readonly string[]) {
  return onServer(server, database, async (c) => {
    const { rows } = await c.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM appends WHERE id = ANY($1)',
      [ids],
    );
    return rows[0]?.n ?? 0;
  });
}

async function sqlState(server: string, sql: string): Promise<string | null> {
  return onServer(server, 'postgres', async (c) => {
    try {
      await c.query(sql);
      return null;
    } catch (error) {
      return (error as { code?: string }).code ?? 'unknown';
    }
  });
}

async function reseedOverHttp(dataCentre: unknown) {
  return app.inject({ method: 'POST', url: '/v1/operations/reseed', payload: { dataCentre } });
}

describe('re-seeding a returning data centre', () => {
  const tailIds = Array.from({ length: TAIL_ROW_COUNT }, (_, i) => `tail_${i}`);
  let tailShard = -1;

  before(async () => {
    fixture = await startFleet('reseed');
    controller = new FailoverController(fixture.fleet);
    controller.start();
    router = await fixture.router({ writeWaitMs: 15_000 });
    app = await buildHttpServer({
      source: fixture.fleet,
      version: 'test',
      routes: [
        (server) =>
          registerOperationsRoutes(server, {
            reseed: (dc) => reseedDataCentre(fixture.fleet, dc, { failover: controller }),
          }),
      ],
    });
  });
  after(async () => {
    await app?.close();
    await controller?.stop();
    await fixture?.stop();
  });

  test('dc1 lost with an unreplicated tail; re-seed refused while its servers are down', async () => {
    const [key] = keysHomedIn(router, 'dc1', 1, 'acct');
    assert.ok(key);
    tailShard = router.map.shardOf(key);
    const database = router.map.route(tailShard).shard.database;
    for (const shardId of router.map.shardIds) {
      await router.writeToShard(shardId, (tx) =>
        tx.query(`INSERT INTO appends VALUES ($1, 'before')`, [`before_${shardId}`]),
      );
    }
    // Hold the tail shard's copy in dc2 back, so the next writes exist only in dc1: a real tail.
    await onServer('dc2-a', database, (c) =>
      c.query(`ALTER SUBSCRIPTION ${subscriptionName(database)} DISABLE`),
    );
    for (const id of tailIds) {
      await router.writeToShard(tailShard, (tx) =>
        tx.query(`INSERT INTO appends VALUES ($1, 'tail')`, [id]),
      );
    }
    for (const id of ['dc1-a', 'dc1-b']) fixture.fleet.server(id)?.signalAll('SIGKILL');
    await eventually(
      async () => router.map.route(tailShard).shard.homeDc === 'dc2',
      30_000,
      'the shards of dc1 to move to dc2',
    );
    await controller.idle();
    const before = await fixture.fleet.catalog.load();
    const refused = await reseedOverHttp('dc1');
    assert.equal(refused.statusCode, 409, refused.body);
    assert.equal(refused.headers['content-type'], 'application/problem+json; charset=utf-8');
    const problem = refused.json() as { code: string; detail: string };
    assert.equal(problem.code, 'state_conflict');
    assert.match(problem.detail, /dc1-a does not answer/);
    assert.deepEqual(await fixture.fleet.catalog.load(), before, 'the refusal changed nothing');
  });

  test('bad requests are refused before anything runs', async () => {
    assert.equal((await reseedOverHttp(1)).statusCode, 400);
    assert.equal((await reseedOverHttp('dc 1')).statusCode, 400);
    const extra = await app.inject({
      method: 'POST',
      url: '/v1/operations/reseed',
      payload: { dataCentre: 'dc1', force: true },
    });
    assert.equal(extra.statusCode, 400);
    const unknown = await reseedOverHttp('dc9');
    assert.equal(unknown.statusCode, 404);
    assert.equal((unknown.json() as { code: string }).code, 'resource_not_found');
  });

  test('returned servers are re-seeded: copies replicate, fences lifted, the tail is kept', async () => {
    const database = router.map.route(tailShard).shard.database;
    const moved = router.map.snapshot.shards.filter((s) => s.homeDc === 'dc2');
    for (const shard of moved) {
      await router.writeToShard(shard.id, (tx) =>
        tx.query(`INSERT INTO appends VALUES ($1, 'after move')`, [`after_${shard.id}`]),
      );
    }
    // Back the way a restart of the platform brings them: in their roles, fenced, read-only.
    await fixture.fleet.refreshCatalog();
    await fixture.fleet.startServer('dc1-a');
    await fixture.fleet.startServer('dc1-b');
    assert.equal(await sqlState('dc1-a', 'CREATE TABLE fenced_probe (x int)'), '25006');
    const steps: string[] = [];
    const report = await reseedDataCentre(fixture.fleet, 'dc1', {
      failover: controller,
      onStep: (step) => steps.push(step),
    });
    assert.equal(report.outcome, 'reseeded');
    assert.ok(steps.length > 0);
    assert.equal(report.shards.length, router.map.shardIds.length);
    const tail = report.shards.find((s) => s.shardId === tailShard);
    assert.ok(tail);
    assert.equal(tail.formerRole, 'home');
    assert.equal(tail.preservedAs, `${database}_lost_e${report.lossEpoch}`);
    const appends = tail.tables.find((t) => t.table === 'public.appends');
    assert.equal(appends?.rowsMissingOnHome, TAIL_ROW_COUNT);
    assert.equal(tail.rowsMissingOnHome, TAIL_ROW_COUNT);
    assert.deepEqual(
      [...(appends?.missingKeysSample ?? [])].sort(),
      tailIds.map((id) => `(${id})`),
    );
    assert.equal(await countIds('dc1-a', tail.preservedAs, tailIds), TAIL_ROW_COUNT);
    for (const shard of report.shards.filter((s) => s.shardId !== tailShard))
      assert.equal(shard.rowsMissingOnHome, 0, `shard ${shard.shardId} has no tail`);

    const catalog = await fixture.fleet.catalog.load();
    assert.ok(catalog);
    assert.equal(catalog.epoch, report.epoch);
    assert.ok(catalog.shards.every((s) => s.copyDc === 'dc1' && s.copyState === 'replicating'));
    assert.ok(
      catalog.shards.every((s) => s.homeDc === 'dc2'),
      'homes stay where they moved',
    );
    assert.ok(catalog.servers.every((s) => s.fencedAtEpoch === null));
    for (const shard of catalog.shards) {
      const id = `fresh_${shard.id}`;
      await router.writeToShard(shard.id, (tx) =>
        tx.query(`INSERT INTO appends VALUES ($1, 'after reseed')`, [id]),
      );
      await eventually(
        async () => (await countIds('dc1-a', shard.database, [id, `after_${shard.id}`])) === 2,
        20_000,
        `rows of shard ${shard.id} in its dc1 copy`,
      );
    }
    assert.equal(await sqlState('dc1-a', 'CREATE TABLE unfenced_probe (x int)'), null);
    assert.equal(await sqlState('dc1-a', 'DROP TABLE unfenced_probe'), null);
    assert.equal(await sqlState('dc1-b', 'CREATE TABLE replica_probe (x int)'), '25006');
    await eventually(async () => (await fixture.fleet.health()).ready, 30_000, 'a ready fleet');
  });

  test('a second run over HTTP reports nothing to do and changes nothing', async () => {
    const before = await fixture.fleet.catalog.load();
    const response = await reseedOverHttp('dc1');
    assert.equal(response.statusCode, 200, response.body);
    const report = response.json() as { outcome: string; epoch: number | null; shards: unknown[] };
    assert.equal(report.outcome, 'nothing_to_do');
    assert.equal(report.epoch, null);
    assert.deepEqual(report.shards, []);
    assert.deepEqual(await fixture.fleet.catalog.load(), before);
  });

  test('two runs at once: the second is refused', async () => {
    const first = reseedDataCentre(fixture.fleet, 'dc1');
    await assert.rejects(reseedDataCentre(fixture.fleet, 'dc1'), (error) =>
      isMainstayError(error, 'state_conflict'),
    );
    assert.equal((await first).outcome, 'nothing_to_do');
  });
});
