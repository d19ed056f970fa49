/**
 * Failures 6 and 7 through HTTP with two real API processes on one fleet: `mainstay up` and a
 * `mainstay api` started beside it on the same MAINSTAY_HOME. Binds through one, lists at once
 * through the other without a token (also with replay paused on the replicas); authorizations
 * and reads through the second process; `Mainstay-Served-By` truthful; the read-level header.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { taggedBucket } from '../src/data/entity-id.ts';
import { readFleetState } from '../src/fleet/fleet-state.ts';
import { SUPERUSER } from '../src/fleet/server-files.ts';
import type { TopologySnapshot } from '../src/fleet/topology-snapshot.ts';
import { BIN, type RunningUp, startUp, waitUntilUp } from './support/cli.ts';
import { authHeaders } from './support/demo-credentials.ts';
import { fleetFromTemplate } from './support/platform-template.ts';
import { removeHome, tempHome } from './support/temp-home.ts';

const home = tempHome('api-process');
let up: RunningUp;
let upUrl: string;
let api: { child: ChildProcess; output: () => string; exited: Promise<number | null> };
let apiUrl: string;
let counter = 0;

interface Answer {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: bodies are checked field by field
  body: any;
}

async function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...authHeaders(home),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : {} };
}

const post = (base: string, path: string, body: unknown) =>
  call(base, 'POST', path, body, { 'idempotency-key': `api-test-${++counter}` });

/** A Luhn-valid Visa number ending in the count `n`. */
function cardNumber(n: number): string {
  const partial = `411111${String(n).padStart(9, '0')}`;
  let sum = 0;
  for (let i = 0; i < partial.length; i += 1) {
    let digit = Number(partial[partial.length - 1 - i]);
    if (i % 2 === 0) digit = digit * 2 > 9 ? digit * 2 - 9 : digit * 2;
    sum += digit;
  }
  return partial + String((10 - (sum % 10)) % 10);
}

/** Starts `mainstay api` on the home; resolves with its URL once it prints it. */
async function startApi(): Promise<string> {
  const child = spawn(process.execPath, [BIN, 'api'], {
    env: { ...process.env, MAINSTAY_HOME: home, MAINSTAY_PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  api = { child, output: () => text, exited };
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline && child.exitCode === null) {
    const match = /(http:\/\/127\.0\.0\.1:\d+)/.exec(text);
    if (match?.[1]) return match[1];
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`mainstay api did not come up:\n${text}`);
}

/** The topology once every server is up and every replica streams (the supervisor may repair). */
async function settledTopology(): Promise<TopologySnapshot> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const topology = (await call(upUrl, 'GET', '/v1/topology')).body as TopologySnapshot;
    const settled = topology.servers.every(
      (server) =>
        server.state === 'up' &&
        (server.role !== 'replica' || server.streamingState === 'streaming'),
    );
    if (settled) return topology;
    if (Date.now() > deadline) {
      const events = await call(upUrl, 'GET', '/v1/events?limit=20');
      throw new Error(
        `the fleet did not settle: ${JSON.stringify(topology.servers)}\n${JSON.stringify(events.body)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Pauses (or resumes) WAL replay on the replicas, connecting as the fleet's superuser. */
async function pauseReplay(paused: boolean): Promise<void> {
  const state = readFleetState(home);
  assert.ok(state);
  const topology = await settledTopology();
  for (const id of topology.servers.filter((s) => s.role === 'replica').map((s) => s.id)) {
    const client = new pg.Client({
      host: '127.0.0.1',
      port: state.ports[id],
      user: SUPERUSER,
      password: state.password,
      database: 'postgres',
    });
    await client.connect();
    await client.query(paused ? 'SELECT pg_wal_replay_pause()' : 'SELECT pg_wal_replay_resume()');
    await client.end();
  }
}

/** The primary and replicas of the shard holding an id's bucket, from the topology. */
async function serversOf(id: string): Promise<{ primary: string; replicas: string[] }> {
  await settledTopology();
  const topology = (await call(apiUrl, 'GET', '/v1/topology')).body as TopologySnapshot;
  const bucket = taggedBucket(id);
  const shard = topology.shards.find((candidate) =>
    candidate.buckets.some(([first, last]) => bucket !== null && bucket >= first && bucket <= last),
  );
  const dc = topology.dataCentres.find((candidate) => candidate.id === shard?.homeDc);
  assert.ok(dc, `the shard of ${id} has a home data centre`);
  return { primary: dc.primary, replicas: [...dc.replicas] };
}

/**
 * Binds `rounds` cards through `up` and lists each at once through the API process (a new user
 * every 15 cards: a user holds at most 20).
 */
async function bindAndList(rounds: number): Promise<number> {
  let stale = 0;
  let userId = '';
  for (let round = 0; round < rounds; round += 1) {
    if (round % 15 === 0) userId = await newUser();
    const bound = await post(upUrl, `/v1/users/${userId}/cards`, {
      cardNumber: cardNumber(++counter),
      expiryMonth: 12,
      expiryYear: new Date().getUTCFullYear() + 3,
      holderName: 'Test Holder',
    });
    assert.equal(bound.status, 201, JSON.stringify(bound.body));
    const list = await call(apiUrl, 'GET', `/v1/users/${userId}/cards?limit=100`);
    assert.equal(list.status, 200, JSON.stringify(list.body));
    if (!list.body.data.some((card: { id: string }) => card.id === bound.body.id)) stale += 1;
  }
  return stale;
}

async function newUser(): Promise<string> {
  const user = await post(upUrl, '/v1/users', {
    fullName: 'Two Processes',
    email: 'two@example.com',
  });
  assert.equal(user.status, 201, JSON.stringify(user.body));
  return user.body.id;
}

describe('a second API process on a running fleet (mainstay api)', () => {
  before(async () => {
    await fleetFromTemplate(home);
    up = startUp({ MAINSTAY_HOME: home, MAINSTAY_PORT: '0' });
    upUrl = await waitUntilUp(up);
    apiUrl = await startApi();
  });
  after(async () => {
    if (process.env.MAINSTAY_TEST_VERBOSE) {
      process.stderr.write(
        `--- mainstay up ---\n${up?.output()}\n--- mainstay api ---\n${api?.output()}\n`,
      );
    }
    await pauseReplay(false).catch(() => undefined);
    if (api?.child.exitCode === null) api.child.kill('SIGTERM');
    await api?.exited;
    if (up?.child.exitCode === null) up.child.kill('SIGTERM');
    await up?.exited;
    removeHome(home);
  });

  test('it serves on its own port, with its own spool under MAINSTAY_HOME/api', async () => {
    assert.notEqual(apiUrl, upUrl);
    const health = await call(apiUrl, 'GET', '/health');
    assert.ok([200, 503].includes(health.status));
    assert.ok(health.body.components.some((c: { name: string }) => c.name === 'catalog'));
    const topology = await call(apiUrl, 'GET', '/v1/topology');
    assert.equal(topology.status, 200);
    assert.ok(topology.body.epoch >= 1);
  });

  test('authorizations and reads through the second process', async () => {
    const account = await post(apiUrl, '/v1/card-accounts', {
      currency: 'CNY',
      creditLimit: 50_000,
    });
    assert.equal(account.status, 201, JSON.stringify(account.body));
    const card = await post(apiUrl, `/v1/card-accounts/${account.body.id}/cards`, {});
    assert.equal(card.status, 201, JSON.stringify(card.body));
    const authorized = await call(apiUrl, 'POST', '/v1/authorizations', {
      requestId: `api-req-${++counter}`,
      cardId: card.body.id,
      amount: 12_000,
      currency: 'CNY',
      merchant: { id: 'mer_tmall', categoryCode: '5311' },
    });
    assert.ok([200, 201].includes(authorized.status), JSON.stringify(authorized.body));
    assert.equal(authorized.body.status, 'approved');
    // Read through the other process, without a token: the shared store sees the write.
    const read = await call(upUrl, 'GET', `/v1/card-accounts/${account.body.id}`);
    assert.equal(read.status, 200);
    assert.equal(read.body.availableCredit, 38_000, JSON.stringify(read.body));
    const got = await call(apiUrl, 'GET', `/v1/authorizations/${authorized.body.id}`);
    assert.equal(got.status, 200, JSON.stringify(got.body));
    assert.equal(got.body.id, authorized.body.id);
  });

  test('bind through one process, list at once through the other, no token: 0 stale', async () => {
    assert.equal(await bindAndList(45), 0);
  });

  test('the same with replay paused on the replicas: 0 stale', async () => {
    const account = await post(apiUrl, '/v1/card-accounts', {
      currency: 'CNY',
      creditLimit: 9_000,
    });
    const card = await post(apiUrl, `/v1/card-accounts/${account.body.id}/cards`, {});
    assert.equal(card.status, 201, JSON.stringify(card.body));
    await pauseReplay(true);
    try {
      assert.equal(await bindAndList(15), 0);
      // An engine batch through one process, the account's available credit through the other.
      for (let round = 1; round <= 3; round += 1) {
        const authorized = await call(apiUrl, 'POST', '/v1/authorizations', {
          requestId: `paused-req-${++counter}`,
          cardId: card.body.id,
          amount: 1_000,
          currency: 'CNY',
          merchant: { id: 'mer_tmall', categoryCode: '5311' },
        });
        assert.equal(authorized.body.status, 'approved', JSON.stringify(authorized.body));
        const read = await call(upUrl, 'GET', `/v1/card-accounts/${account.body.id}`);
        assert.equal(read.body.availableCredit, 9_000 - round * 1_000, JSON.stringify(read.body));
      }
    } finally {
      await pauseReplay(false);
    }
  });

  test('Mainstay-Served-By names the server that answered; the read-level header chooses it', async () => {
    const userId = await newUser();
    const { primary, replicas } = await serversOf(userId);
    const path = `/v1/users/${userId}/cards`;
    const atPrimary = await call(apiUrl, 'GET', path, undefined, {
      'mainstay-read-consistency': 'primary',
    });
    assert.equal(atPrimary.status, 200);
    assert.equal(atPrimary.headers.get('mainstay-served-by'), primary);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const atAny = await call(apiUrl, 'GET', path, undefined, {
      'mainstay-read-consistency': 'any',
    });
    assert.equal(atAny.status, 200);
    assert.ok(
      replicas.includes(atAny.headers.get('mainstay-served-by') ?? ''),
      `served by ${atAny.headers.get('mainstay-served-by')}, replicas ${replicas}`,
    );
    const plain = await call(upUrl, 'GET', `/v1/users/${userId}`);
    // A read that tried a replica and then went on (say, to the primary) names every server
    // that answered it, in order.
    const servedBy = (plain.headers.get('mainstay-served-by') ?? '').split(', ');
    assert.ok(
      servedBy.every((server) => [primary, ...replicas].includes(server)),
      `${plain.status} served by "${servedBy}", not all among ${[primary, ...replicas]}`,
    );
  });

  test('a level the route does not offer, or a bad value, is 400 read_consistency_invalid', async () => {
    const userId = await newUser();
    for (const [path, value] of [
      [`/v1/users/${userId}/cards`, 'eventual'],
      [`/v1/users/${userId}/cards`, 'PRIMARY'],
      ['/v1/authorizations/auth_00000000000000000000000000000000', 'any'],
    ] as const) {
      const answer = await call(apiUrl, 'GET', path, undefined, {
        'mainstay-read-consistency': value,
      });
      assert.equal(answer.status, 400, `${path} ${value}: ${JSON.stringify(answer.body)}`);
      assert.match(answer.headers.get('content-type') ?? '', /application\/problem\+json/);
      assert.equal(answer.body.code, 'read_consistency_invalid');
    }
  });

  test('SIGTERM stops it cleanly with a live stream open, which it ends; the fleet keeps serving', async () => {
    // An open stream is a request that never finishes by itself: the stop must end it, not
    // wait for the client to go.
    const response = await fetch(`${apiUrl}/v1/stream?topics=topology`, {
      headers: authHeaders(home),
    });
    assert.equal(response.status, 200);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    while (!text.includes('event: topology')) {
      const { value, done } = await reader.read();
      assert.ok(!done, text);
      text += new TextDecoder().decode(value);
    }
    api.child.kill('SIGTERM');
    for (;;) {
      const read = await reader.read().catch(() => ({ done: true }));
      if (read.done) break;
    }
    assert.equal(await api.exited, 0, api.output());
    assert.match(api.output(), /stopped cleanly/);
    assert.equal((await call(upUrl, 'GET', '/v1/topology')).status, 200);
  });
});
