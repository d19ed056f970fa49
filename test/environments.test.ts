import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { loadConfig } from '../src/config/load-config.ts';
import { TEMPLATE_DIR } from '../src/environments/environment-template.ts';
import {
  createEnvironment,
  destroyEnvironment,
  type Environment,
  listEnvironments,
} from '../src/environments/environments.ts';
import { isMainstayError } from '../src/errors/mainstay-error.ts';
import { readFleetState } from '../src/fleet/fleet-state.ts';
import type { TopologySnapshot } from '../src/fleet/topology-snapshot.ts';
import { CONFIG_SECTIONS, MODULES } from '../src/modules.ts';
import { catalogMigrationsOf, shardMigrationsOf } from '../src/platform/platform.ts';
import { mainstay } from './support/cli.ts';
import { authHeaders } from './support/demo-credentials.ts';
import { postgresProcessesUnder, removeHome, tempHome } from './support/temp-home.ts';

/**
 * Environments against real servers: each is a whole two-DC fleet with its own API process. The
 * first creation builds the home's template; the rest copy it.
 */
const parentHome = tempHome('envs');
const parent = loadConfig({ cwd: parentHome, env: { MAINSTAY_HOME: parentHome } }, CONFIG_SECTIONS);
const schema = {
  shardMigrations: shardMigrationsOf(MODULES),
  catalogMigrations: catalogMigrationsOf(MODULES),
};
const cliEnv = { MAINSTAY_HOME: parentHome };

/** A query on one server of an environment, as its superuser (from its fleet state). */
async function queryOn(home: string, server: string, database: string, sql: string) {
  const state = readFleetState(home);
  assert.ok(state, `no fleet state in ${home}`);
  const client = new pg.Client({
    host: '127.0.0.1',
    port: state.ports[server],
    user: 'mainstay',
    password: state.password,
    database,
  });
  await client.connect();
  try {
    return (await client.query(sql)).rows as Record<string, unknown>[];
  } finally {
    await client.end();
  }
}

async function demoCustomers(home: string): Promise<number> {
  const rows = await queryOn(
    home,
    'dc1-a',
    'shard_0',
    'SELECT count(*)::int AS n FROM demo_customers',
  );
  return Number(rows[0]?.n);
}

/** Checks an environment serves, both DCs are up and streaming, and its shards copy. */
async function assertReady(environment: Environment): Promise<void> {
  assert.equal(environment.status, 'running');
  assert.ok(environment.url);
  assert.equal((await fetch(`${environment.url}/health`)).status, 200);
  const response = await fetch(`${environment.url}/v1/topology`, {
    headers: authHeaders(environment.home),
  });
  assert.equal(response.status, 200);
  const topology = (await response.json()) as TopologySnapshot;
  assert.equal(topology.servers.length, 5);
  for (const server of topology.servers) assert.equal(server.state, 'up', server.id);
  const replicas = topology.servers.filter((server) => server.role === 'replica');
  assert.deepEqual(replicas.map((r) => [r.dc, r.streamingState]).sort(), [
    ['dc1', 'streaming'],
    ['dc2', 'streaming'],
  ]);
  for (const shard of topology.shards) assert.equal(shard.logicalReplication.state, 'replicating');
  // Its servers are its own: every port is in its fleet state, none is another environment's.
  const ports = Object.values(readFleetState(environment.home)?.ports ?? {});
  assert.deepEqual(topology.servers.map((s) => s.port).sort(), [...ports].sort());
  assert.ok(postgresProcessesUnder(environment.home).length >= 5);
}

async function rejects(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isMainstayError(error), String(error));
    assert.equal(error.code, code);
    assert.match(error.message, message);
    return true;
  });
}

describe('environments', () => {
  after(async () => {
    for (const environment of listEnvironments(parentHome))
      await destroyEnvironment(parentHome, environment.name);
    removeHome(parentHome);
  });

  test('bad names and unknown names are refused before anything is made', async () => {
    for (const name of ['', 'Alpha', '1abc', 'a_b', 'ab-', '../x', 'a'.repeat(41), 'a b']) {
      await rejects(
        createEnvironment({ parent, name, demo: false, schema }),
        'invalid_request',
        /environment name/,
      );
    }
    await rejects(destroyEnvironment(parentHome, 'ghost'), 'environment_not_found', /ghost/);
    await rejects(destroyEnvironment(parentHome, '../..'), 'invalid_request', /name/);
    assert.deepEqual(listEnvironments(parentHome), []);
    const cli = mainstay(['env', 'destroy', 'ghost'], cliEnv);
    assert.equal(cli.status, 1);
    assert.match(cli.stderr, /\[environment_not_found\].*ghost/);
  });

  test('create gives isolated, migrated, ready environments, with demo data when asked; list shows them; destroy leaves nothing', async () => {
    const alpha = await createEnvironment({ parent, name: 'alpha', demo: true, schema });
    assert.equal(alpha.home, path.join(parentHome, 'environments', 'alpha'));
    assert.ok(existsSync(path.join(parentHome, 'environments', TEMPLATE_DIR)));
    const spares = path.join(parentHome, 'environments', TEMPLATE_DIR, 'spares');
    assert.equal(existsSync(spares), false, 'no spare before a creation made one');
    await assertReady(alpha);
    assert.ok((await demoCustomers(alpha.home)) > 0, 'demo data asked for');
    const cards = await queryOn(
      alpha.home,
      'dc2-a',
      'shard_1',
      'SELECT count(*)::int AS n FROM card_accounts',
    );
    assert.ok(Number(cards[0]?.n) > 0);

    // The command line, from the template now: JSON on stdout, the time it took on stderr.
    const created = mainstay(['env', 'create', 'beta', '--json'], cliEnv);
    assert.equal(created.status, 0, created.stderr);
    assert.match(created.stderr, /environment beta is ready in \d+\.\ds/);
    const beta = JSON.parse(created.stdout) as Environment;
    // Then it copied the template ahead of the next creation, which takes that copy.
    assert.match(created.stderr, /spare copy ready/);
    assert.equal(readdirSync(spares).length, 1);
    await assertReady(beta);
    assert.equal(await demoCustomers(beta.home), 0, 'no demo data unless asked');
    // Migrated all the same, and its copy in the other DC is there too.
    const migrated = await queryOn(
      beta.home,
      'dc2-a',
      'shard_0',
      "SELECT to_regclass('public.card_accounts') AS t",
    );
    assert.equal(migrated[0]?.t, 'card_accounts');
    assert.notEqual(beta.url, alpha.url);
    const alphaPorts = new Set(Object.values(readFleetState(alpha.home)?.ports ?? {}));
    for (const port of Object.values(readFleetState(beta.home)?.ports ?? {}))
      assert.ok(!alphaPorts.has(port), `port ${port} shared`);
    // Isolated: a row written in one is not in the other.
    await queryOn(
      beta.home,
      'dc1-a',
      'shard_0',
      "INSERT INTO demo_customers (id, bucket, full_name, country) VALUES ('cus_only_beta', 0, 'Beta', 'SE')",
    );
    const inAlpha = await queryOn(
      alpha.home,
      'dc1-a',
      'shard_0',
      "SELECT 1 FROM demo_customers WHERE id = 'cus_only_beta'",
    );
    assert.equal(inAlpha.length, 0);

    await rejects(
      createEnvironment({ parent, name: 'alpha', demo: false, schema }),
      'environment_exists',
      /alpha/,
    );
    const duplicate = mainstay(['env', 'create', 'beta'], cliEnv);
    assert.equal(duplicate.status, 1);
    assert.match(duplicate.stderr, /\[environment_exists\]/);
    await assertReady(alpha);

    const listed = mainstay(['env', 'list', '--json'], cliEnv);
    assert.equal(listed.status, 0, listed.stderr);
    const { data } = JSON.parse(listed.stdout) as { data: Environment[] };
    assert.deepEqual(
      data.map((env) => [env.name, env.status, env.url, env.demo]),
      [
        ['alpha', 'running', alpha.url, true],
        ['beta', 'running', beta.url, false],
      ],
    );
    assert.match(mainstay(['env', 'list'], cliEnv).stdout, /beta\s+running\s+http/);

    const destroyed = mainstay(['env', 'destroy', 'beta'], cliEnv);
    assert.equal(destroyed.status, 0, destroyed.stderr);
    assert.equal(existsSync(beta.home), false);
    assert.deepEqual(postgresProcessesUnder(beta.home), []);
    assert.equal((await fetch(`${beta.url}/health`).catch(() => null))?.status, undefined);
    await assertReady(alpha);
    assert.deepEqual(
      listEnvironments(parentHome).map((env) => env.name),
      ['alpha'],
    );
  });

  test('the supervising platform offers them over HTTP: idempotent create, list, destroy, and their errors', async () => {
    const [alpha] = listEnvironments(parentHome);
    assert.ok(alpha?.url, 'alpha from the test before');
    // Alpha's own platform offers environments under its own home; the parent's template is
    // copied in (templates are relocatable), so this creation does not build one again.
    const nestedParent = alpha.home;
    const templateFrom = path.join(parentHome, 'environments', TEMPLATE_DIR);
    execFileSync('mkdir', ['-p', path.join(nestedParent, 'environments')]);
    execFileSync('cp', ['-a', templateFrom, path.join(nestedParent, 'environments', TEMPLATE_DIR)]);
    const headers = authHeaders(alpha.home);
    const post = (body: unknown, key: string | null) =>
      fetch(`${alpha.url}/v1/environments`, {
        method: 'POST',
        headers: {
          ...headers,
          'content-type': 'application/json',
          ...(key === null ? {} : { 'idempotency-key': key }),
        },
        body: JSON.stringify(body),
      });

    assert.equal((await post({ name: 'gamma' }, null)).status, 400, 'Idempotency-Key required');
    const bad = await post({ name: 'Bad_Name' }, 'k-bad');
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { code: string }).code, 'invalid_request');
    const unauthorised = await fetch(`${alpha.url}/v1/environments`);
    assert.equal(unauthorised.status, 401);

    const first = await post({ name: 'gamma', demo: false }, 'k-gamma');
    assert.equal(first.status, 201, await first.clone().text());
    const gamma = (await first.json()) as Environment;
    assert.equal(gamma.home, path.join(nestedParent, 'environments', 'gamma'));
    await assertReady(gamma);
    const replay = await post({ name: 'gamma', demo: false }, 'k-gamma');
    assert.equal(replay.status, 201);
    assert.equal(replay.headers.get('idempotent-replayed'), 'true');
    assert.equal(((await replay.json()) as Environment).url, gamma.url);
    const reused = await post({ name: 'gamma', demo: true }, 'k-gamma');
    assert.equal(reused.status, 409);
    assert.equal(((await reused.json()) as { code: string }).code, 'idempotency_key_reused');
    const taken = await post({ name: 'gamma' }, 'k-other');
    assert.equal(taken.status, 409);
    assert.equal(((await taken.json()) as { code: string }).code, 'environment_exists');

    const list = await fetch(`${alpha.url}/v1/environments?limit=5`, { headers });
    assert.equal(list.status, 200);
    const page = (await list.json()) as { data: Environment[]; hasMore: boolean };
    assert.deepEqual(
      page.data.map((env) => [env.name, env.status]),
      [['gamma', 'running']],
    );
    assert.equal(page.hasMore, false);

    const unknown = await fetch(`${alpha.url}/v1/environments/ghost`, {
      method: 'DELETE',
      headers,
    });
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as { code: string }).code, 'environment_not_found');
    const deleted = await fetch(`${alpha.url}/v1/environments/gamma`, {
      method: 'DELETE',
      headers,
    });
    assert.equal(deleted.status, 200);
    assert.deepEqual(await deleted.json(), { name: 'gamma', deleted: true });
    assert.equal(existsSync(gamma.home), false);
    assert.deepEqual(postgresProcessesUnder(gamma.home), []);

    await destroyEnvironment(parentHome, 'alpha');
    assert.deepEqual(listEnvironments(parentHome), []);
    assert.deepEqual(postgresProcessesUnder(parentHome), []);
  });
});
