/**
 * The one write contract through the API: every write merges the caller's consistency token
 * into the one it answers. Two API processes (each with its own routers, module and HTTP
 * server, as `mainstay up` and `mainstay api` have) on one fleet; the shared recent-write store
 * off and replay paused on the replicas, so only the token can send a read to a primary. Write
 * A through one process, write B on another shard passing A's token, then read both with B's
 * token through the other process: both are there. A write that dropped the caller's token
 * (as card accounts and authorizations did) loses A.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { PostgresCatalogStore } from '../../../src/catalog/postgres-catalog-store.ts';
import { newEntityId } from '../../../src/data/entity-id.ts';
import type { Router } from '../../../src/data/router.ts';
import { cardsModule, type RunningCards } from '../../../src/domains/cards/module.ts';
import { CATALOG_DATABASE } from '../../../src/fleet/fleet.ts';
import { buildHttpServer } from '../../../src/http/build-http-server.ts';
import { guardedPool } from '../../../src/postgres/guarded-pool.ts';
import { CatalogSecrets } from '../../../src/secrets/catalog-secrets.ts';
import { type FleetFixture, startFleet } from '../../support/fleet-fixture.ts';
import { pauseReplay } from '../../support/router-checks.ts';

const TOKEN = 'mainstay-consistency-token';

interface ApiProcess {
  readonly url: string;
  readonly router: Router;
  readonly cards: RunningCards;
  readonly http: FastifyInstance;
  readonly catalog: PostgresCatalogStore;
  readonly home: string;
}

let fixture: FleetFixture;
const processes: ApiProcess[] = [];
let counter = 0;

/** One API process's worth of services, with the shared recent-write store off. */
async function startProcess(): Promise<ApiProcess> {
  const witness = fixture.fleet.connection(fixture.config.witness.id);
  const pool = guardedPool({ ...witness, database: CATALOG_DATABASE, max: 3 });
  const catalog = new PostgresCatalogStore(pool);
  const routerOptions = { sharedRecentWrites: false } as const;
  const router = await fixture.router(routerOptions);
  const home = mkdtempSync(path.join(os.tmpdir(), 'mainstay-write-contract-'));
  const cards = await cardsModule.start({
    router,
    connectRouter: (extra) => fixture.router({ ...routerOptions, ...extra }),
    catalog,
    catalogConnection: { ...witness, database: CATALOG_DATABASE },
    processHome: home,
    section: undefined,
    secrets: new CatalogSecrets(catalog),
    scopes: {},
  });
  const http = await buildHttpServer({
    source: fixture.fleet,
    version: 'test',
    routes: [
      async (app) => {
        await app.register(async (scope) => cards.routes(scope));
      },
    ],
  });
  await http.listen({ host: '127.0.0.1', port: 0 });
  const address = http.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { url: `http://127.0.0.1:${port}`, router, cards, http, catalog, home };
}

async function call(
  target: ApiProcess,
  method: string,
  route: string,
  options: { body?: unknown; token?: string | null } = {},
) {
  const headers: Record<string, string> = {};
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (method === 'POST' && route !== '/v1/authorizations')
    headers['idempotency-key'] = `write-contract-${++counter}`;
  if (options.token) headers[TOKEN] = options.token;
  const response = await fetch(`${target.url}${route}`, {
    method,
    headers,
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  const text = await response.text();
  return {
    status: response.status,
    token: response.headers.get(TOKEN),
    // biome-ignore lint/suspicious/noExplicitAny: bodies are checked field by field
    body: (text ? JSON.parse(text) : {}) as any,
  };
}

/** Opens an account through `target` whose shard is not `avoid` (retrying with new keys). */
async function accountOnAnotherShard(target: ApiProcess, avoid: number, token: string) {
  for (let attempt = 0; attempt < 40; attempt += 1) {
    const created = await call(target, 'POST', '/v1/card-accounts', {
      body: { currency: 'CNY', creditLimit: 80_000 },
      token,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    if (target.router.map.shardOf(created.body.id) !== avoid) return created;
  }
  throw new Error('every account landed on one shard');
}

describe('every write merges the caller token (the one write contract)', () => {
  before(async () => {
    fixture = await startFleet('write-contract', {}, cardsModule.shardMigrations);
    processes.push(await startProcess(), await startProcess());
    await pauseReplay(fixture, true);
  });

  after(async () => {
    await pauseReplay(fixture, false).catch(() => undefined);
    for (const running of processes) {
      await running.http.close().catch(() => undefined);
      await running.cards.stop().catch(() => undefined);
      await running.catalog.close().catch(() => undefined);
      rmSync(running.home, { recursive: true, force: true });
    }
    await fixture?.stop();
  });

  test('write A, write B passing A token, read both with B token through the other process', async () => {
    const [first, second] = processes as [ApiProcess, ApiProcess];
    const a = await call(first, 'POST', '/v1/card-accounts', {
      body: { currency: 'CNY', creditLimit: 50_000 },
    });
    assert.equal(a.status, 201, JSON.stringify(a.body));
    assert.ok(a.token);
    const shardA = first.router.map.shardOf(a.body.id);
    const b = await accountOnAnotherShard(first, shardA, a.token);
    assert.ok(b.token);
    for (const id of [a.body.id, b.body.id]) {
      const read = await call(second, 'GET', `/v1/card-accounts/${id}`, { token: b.token });
      assert.equal(read.status, 200, `${id} with B's token: ${JSON.stringify(read.body)}`);
    }
    // Without a token the replica answers, and it has replayed neither: the test reads what a
    // token-less client would, so a pass above is the token's doing.
    const blind = await call(second, 'GET', `/v1/card-accounts/${a.body.id}`);
    assert.equal(blind.status, 404, JSON.stringify(blind.body));
  });

  test('a chain of card writes, an authorization and a capture keeps every earlier write', async () => {
    const [first, second] = processes as [ApiProcess, ApiProcess];
    const a = await call(first, 'POST', '/v1/card-accounts', {
      body: { currency: 'CNY', creditLimit: 50_000 },
    });
    const shardA = first.router.map.shardOf(a.body.id);
    const b = await accountOnAnotherShard(second, shardA, a.token ?? '');
    // A card on B, through the other process, passing B's token (which covers A).
    const card = await call(first, 'POST', `/v1/card-accounts/${b.body.id}/cards`, {
      body: {},
      token: b.token,
    });
    assert.equal(card.status, 201, JSON.stringify(card.body));
    const authorized = await call(second, 'POST', '/v1/authorizations', {
      body: {
        requestId: `chain-${++counter}`,
        cardId: card.body.id,
        amount: 7_000,
        currency: 'CNY',
        merchant: { id: 'mer_chain', categoryCode: '5311' },
      },
      token: card.token,
    });
    assert.equal(authorized.status, 201, JSON.stringify(authorized.body));
    assert.equal(authorized.body.status, 'approved');
    const captured = await call(first, 'POST', `/v1/authorizations/${authorized.body.id}/capture`, {
      body: { amount: 2_000 },
      token: authorized.token,
    });
    assert.equal(captured.status, 200, JSON.stringify(captured.body));
    // The capture's token still covers A, written four writes and two processes earlier.
    const readA = await call(second, 'GET', `/v1/card-accounts/${a.body.id}`, {
      token: captured.token,
    });
    assert.equal(readA.status, 200, JSON.stringify(readA.body));
    const readB = await call(second, 'GET', `/v1/card-accounts/${b.body.id}`, {
      token: captured.token,
    });
    assert.equal(readB.status, 200, JSON.stringify(readB.body));
    assert.equal(readB.body.availableCredit, 80_000 - 7_000, JSON.stringify(readB.body));
  });

  test('a decline writes nothing, yet hands the caller token back', async () => {
    const [first, second] = processes as [ApiProcess, ApiProcess];
    const a = await call(first, 'POST', '/v1/card-accounts', {
      body: { currency: 'CNY', creditLimit: 10_000 },
    });
    const declined = await call(second, 'POST', '/v1/authorizations', {
      body: {
        requestId: `decline-${++counter}`,
        cardId: newEntityId('card', 5),
        amount: 100,
        currency: 'CNY',
        merchant: { id: 'mer_chain', categoryCode: '5311' },
      },
      token: a.token,
    });
    assert.equal(declined.status, 201, JSON.stringify(declined.body));
    assert.notEqual(declined.body.status, 'approved');
    assert.ok(declined.token, 'the caller token comes back');
    const read = await call(second, 'GET', `/v1/card-accounts/${a.body.id}`, {
      token: declined.token,
    });
    assert.equal(read.status, 200, JSON.stringify(read.body));
  });
});
