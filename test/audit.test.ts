/**
 * The audit trail on a real fleet: entries chained per shard, verification that passes on an
 * untouched chain and names the first broken link after a superuser rewrote or removed a row
 * (the append-only trigger disabled first, as an attacker would), retries that never record an
 * action twice, and the HTTP hook: a write recorded with its actor, action and outcome before
 * the answer leaves, a read not recorded (unless a staff member's).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import type { AuditEntry, AuditRecord } from '../src/audit/audit-entry.ts';
import { atText, entryHash, GENESIS_HASH } from '../src/audit/audit-hash.ts';
import { registerAuditHook } from '../src/audit/audit-hook.ts';
import { AuditLane, type LaneFigures } from '../src/audit/audit-lane.ts';
import { AUDIT_MIGRATIONS, AuditLog, type AuditRouter } from '../src/audit/audit-log.ts';
import { renderVerification } from '../src/cli/commands/audit.ts';
import type { Router } from '../src/data/router.ts';
import { MainstayError } from '../src/errors/mainstay-error.ts';
import { type Principal, PUBLIC, requires } from '../src/http/access-control.ts';
import { buildHttpServer } from '../src/http/build-http-server.ts';
import { IdempotencyKeyHeaders } from '../src/http/idempotency-header.ts';
import { registerAuditRoutes } from '../src/http/routes/audit-routes.ts';
import { type FleetFixture, startFleet } from './support/fleet-fixture.ts';

let fixture: FleetFixture;
let router: Router;
let log: AuditLog;

/** One actor per shard: `actor_<n>` names hashed onto each shard in turn. */
function actorsByShard(): Map<number, string> {
  const found = new Map<number, string>();
  for (let n = 0; found.size < router.map.shardIds.length; n += 1) {
    const actor = `key_audit_${n}`;
    const shardId = router.map.shardOf(actor);
    if (!found.has(shardId)) found.set(shardId, actor);
  }
  return found;
}

function record(actor: string, n: number): AuditRecord {
  return {
    actorKind: 'api_key',
    actor,
    action: 'POST /v1/card-accounts',
    target: `/v1/card-accounts?n=${n}`,
    sourceIp: '192.0.2.7',
    outcome: 201,
    requestId: `idem-${actor}-${n}`,
    detail: n % 2 === 0 ? { replayed: 'true', note: `n ${n}` } : null,
  };
}

/** A pool on a shard's home primary, as the fleet's superuser. */
const home = (shardId: number): Promise<pg.Pool> => fixture.fleet.shardPool(shardId, 'home');

/** Runs `sql` on a shard's home primary with the append-only trigger disabled, as a superuser may. */
async function asAttacker(shardId: number, sql: string, values: unknown[] = []): Promise<void> {
  const client = await (await home(shardId)).connect();
  try {
    await client.query('ALTER TABLE public.audit_log DISABLE TRIGGER ALL');
    await client.query(sql, values);
  } finally {
    await client.query('ALTER TABLE public.audit_log ENABLE TRIGGER ALL');
    client.release();
  }
}

async function rowAt(shardId: number, seq: number): Promise<Record<string, unknown>> {
  const pool = await home(shardId);
  const { rows } = await pool.query('SELECT * FROM public.audit_log WHERE seq = $1', [seq]);
  assert.ok(rows[0], `shard ${shardId} has entry ${seq}`);
  return rows[0];
}

async function shardReport(shardId: number) {
  const { shards } = await log.verify(shardId);
  assert.equal(shards.length, 1);
  const [report] = shards;
  assert.ok(report);
  return report;
}

before(async () => {
  fixture = await startFleet('audit', {}, [AUDIT_MIGRATIONS]);
  router = await fixture.router();
  log = new AuditLog(router);
});

after(async () => {
  assert.equal(await log?.close(), 0, 'nothing left queued');
  await fixture?.stop();
});

describe('the audit log on a real fleet', () => {
  /** Past 9, so that seq 10 must sort after 9, not after 1. */
  const perActor = 12;

  test('entries are chained per shard, verify passes, and the list pages through them', async () => {
    const actors = [...actorsByShard().values()];
    const outcomes = await Promise.all(
      actors.flatMap((actor) =>
        Array.from({ length: perActor }, (_, n) => log.append(record(actor, n))),
      ),
    );
    assert.ok(outcomes.every((outcome) => outcome === 'appended'));
    const verification = await log.verify();
    assert.equal(verification.intact, true, JSON.stringify(verification));
    for (const shard of verification.shards) {
      assert.equal(shard.entries, perActor);
      assert.equal(shard.head?.seq, perActor);
    }
    const paged = await new AuditLog(router, { verifyPageSize: 5 }).verify();
    assert.deepEqual(paged, verification, 'the same, read five entries at a time');
    // The chain as stored: seq from 1, each prev_hash the hash before, each hash recomputable.
    const [firstShard] = router.map.shardIds;
    const { rows } = await (await home(firstShard ?? 0)).query(
      'SELECT * FROM public.audit_log ORDER BY seq',
    );
    let previous = GENESIS_HASH;
    rows.forEach((row, index) => {
      assert.equal(row.seq, String(index + 1));
      assert.deepEqual(row.prev_hash, previous);
      assert.deepEqual(entryHash(previous, hashedOf(row)), row.hash);
      previous = row.hash;
    });
    await checkListing(actors, perActor);
  });

  test('the trigger refuses UPDATE and DELETE', async () => {
    const pool = await home(router.map.shardIds[0] ?? 0);
    await assert.rejects(pool.query("UPDATE public.audit_log SET action = 'x'"), /append-only/);
    await assert.rejects(pool.query('DELETE FROM public.audit_log'), /append-only/);
  });

  test('a rewritten action or outcome is named at exactly its seq; restored, the chain is intact', async () => {
    const shardId = router.map.shardIds[1] ?? 0;
    const original = await rowAt(shardId, 3);
    await asAttacker(
      shardId,
      "UPDATE public.audit_log SET action = 'GET /v1/nothing' WHERE seq = 3",
    );
    let report = await shardReport(shardId);
    assert.equal(report.status, 'broken');
    assert.equal(report.brokenAt?.seq, 3);
    assert.equal(report.brokenAt?.reason, 'entry_altered');
    assert.equal(report.brokenAt?.action, 'GET /v1/nothing');
    assert.equal(report.brokenAt?.actor, original.actor);
    assert.equal(report.entries, 2);
    await asAttacker(
      shardId,
      'UPDATE public.audit_log SET action = $1, outcome = 200 WHERE seq = 5',
      [original.action],
    );
    await asAttacker(shardId, 'UPDATE public.audit_log SET action = $1 WHERE seq = 3', [
      original.action,
    ]);
    report = await shardReport(shardId);
    assert.equal(report.brokenAt?.seq, 5, 'the outcome changed at 5');
    assert.equal(report.brokenAt?.reason, 'entry_altered');
    await asAttacker(shardId, 'UPDATE public.audit_log SET outcome = 201 WHERE seq = 5');
    assert.equal((await shardReport(shardId)).status, 'intact');
  });

  test('a removed entry breaks the next link; a removed last entry breaks the head', async () => {
    const shardId = router.map.shardIds[2] ?? 0;
    const removed = await rowAt(shardId, 2);
    await asAttacker(shardId, 'DELETE FROM public.audit_log WHERE seq = 2');
    let report = await shardReport(shardId);
    assert.equal(report.brokenAt?.seq, 3);
    assert.equal(report.brokenAt?.reason, 'link_broken');
    await asAttacker(shardId, reinsert, rowValues(removed));
    assert.equal((await shardReport(shardId)).status, 'intact');

    const last = await rowAt(shardId, perActor);
    await asAttacker(shardId, 'DELETE FROM public.audit_log WHERE seq = $1', [perActor]);
    report = await shardReport(shardId);
    assert.equal(report.brokenAt?.seq, perActor);
    assert.equal(report.brokenAt?.reason, 'head_mismatch');
    await asAttacker(shardId, reinsert, rowValues(last));
    // An entry rewritten with its hash recomputed checks out alone; the link after it breaks.
    const fourth = await rowAt(shardId, 4);
    const forged = entryHash(fourth.prev_hash as Buffer, { ...hashedOf(fourth), action: 'forged' });
    await asAttacker(
      shardId,
      "UPDATE public.audit_log SET action = 'forged', hash = $1 WHERE seq = 4",
      [forged],
    );
    report = await shardReport(shardId);
    assert.equal(report.brokenAt?.seq, 5);
    assert.equal(report.brokenAt?.reason, 'link_broken');
    await asAttacker(shardId, 'UPDATE public.audit_log SET action = $1, hash = $2 WHERE seq = 4', [
      fourth.action,
      fourth.hash,
    ]);
    assert.equal((await shardReport(shardId)).status, 'intact');
  });

  test('a batch whose commit was unknown is retried without a second record; failures are counted', async () => {
    let calls = 0;
    const flaky: AuditRouter = {
      map: router.map,
      readShard: (shardId, work, options) => router.readShard(shardId, work, options),
      async writeToShard(shardId, work) {
        calls += 1;
        if (calls === 1) {
          await router.writeToShard(shardId, work);
          throw new MainstayError('write_outcome_unknown', 'the connection was lost at COMMIT');
        }
        if (calls === 2) throw new MainstayError('primary_unavailable', 'failing over');
        return router.writeToShard(shardId, work);
      },
    };
    const retrying = new AuditLog(flaky, { retryDelayMsMin: 10 });
    const actor = 'key_audit_retry';
    const outcomes = await Promise.all(
      Array.from({ length: 5 }, (_, n) => retrying.append(record(actor, n))),
    );
    assert.deepEqual(outcomes, Array(5).fill('appended'));
    const stats = retrying.stats();
    assert.equal(stats.appendedCount, 5);
    assert.equal(stats.failedBatchCount, 2);
    assert.equal(stats.pendingCount, 0);
    assert.match(stats.lastError ?? '', /failing over/);
    const page = await log.list({ actor }, { limit: 100 });
    assert.equal(page.data.length, 5, 'each action recorded once');
    assert.equal((await shardReport(router.map.shardOf(actor))).status, 'intact');
    assert.equal(await retrying.close(), 0);
  });
});

describe('the HTTP hook', () => {
  const apiKey = 'key_audit_hook';
  const staff = 'stf_audit_hook';
  let app: FastifyInstance;

  before(async () => {
    const principals = new Map([
      ['api', principal('api_key', apiKey, ['things:write', 'things:read', 'audit:read'])],
      ['staff', principal('access_token', staff, ['things:read', 'platform:read'])],
    ]);
    const unavailable = () => Promise.reject(new MainstayError('service_unavailable', 'no fleet'));
    app = await buildHttpServer({
      source: { topology: unavailable, health: unavailable },
      version: 'test',
      access: {
        async authenticate(credential) {
          const found = principals.get(credential);
          if (!found) throw new MainstayError('invalid_token', 'unknown credential');
          return found;
        },
      },
      routes: [
        (app) => registerAuditHook(app, log),
        registerThings,
        async (app) => {
          await app.register(async (scope) => registerThings(scope, '/v1/module-things'));
        },
        (app) => registerAuditRoutes(app, log),
      ],
    });
  });

  after(() => app?.close());

  const send = (method: 'GET' | 'POST', url: string, credential?: string, key?: string) =>
    app.inject({
      method,
      url,
      headers: {
        ...(credential ? { authorization: `Bearer ${credential}` } : {}),
        ...(key ? { 'idempotency-key': key } : {}),
      },
      ...(method === 'POST' ? { payload: { cardNumber: '4111111111111111' } } : {}),
    });
  const entriesOf = async (actor: string) => (await log.list({ actor }, { limit: 100 })).data;

  test('a write is recorded before its answer leaves: actor, action, path, outcome, key; no body, no query', async () => {
    const answer = await send('POST', '/v1/things/42?token=secret', 'api', 'hook-1');
    assert.equal(answer.statusCode, 201);
    const [entry, ...rest] = await entriesOf(apiKey);
    assert.equal(rest.length, 0);
    assert.ok(entry);
    assert.equal(entry.actorKind, 'api_key');
    assert.equal(entry.action, 'POST /v1/things/:id');
    assert.equal(entry.target, '/v1/things/42');
    assert.equal(entry.outcome, 201);
    assert.equal(entry.requestId, 'hook-1');
    assert.equal(entry.sourceIp, '127.0.0.1');
    assert.doesNotMatch(JSON.stringify(entry), /4111|secret/);
  });

  test("a failed write and a write in a module plugin are recorded; a client's reads are not", async () => {
    assert.equal((await send('GET', '/v1/things/42', 'api')).statusCode, 200);
    assert.equal((await send('POST', '/v1/things/42/fail', 'api', 'hook-2')).statusCode, 409);
    assert.equal((await send('POST', '/v1/module-things/7', 'api', 'hook-3')).statusCode, 201);
    const entries = await entriesOf(apiKey);
    assert.deepEqual(
      entries.map((entry) => `${entry.action} ${entry.outcome}`),
      ['POST /v1/module-things/:id 201', 'POST /v1/things/:id/fail 409', 'POST /v1/things/:id 201'],
    );
  });

  test('refused calls are recorded, reads too: 401 as anonymous@address, 403 as who was refused', async () => {
    const anonymous = 'anonymous@127.0.0.1';
    const before = (await entriesOf(anonymous)).length;
    assert.equal((await send('POST', '/v1/things/9', undefined, 'hook-4')).statusCode, 401);
    assert.equal((await send('POST', '/v1/things/9', 'nobody', 'hook-5')).statusCode, 401);
    assert.equal((await send('GET', '/v1/things/9', 'nobody')).statusCode, 401);
    const refused = (await entriesOf(anonymous)).slice(0, -before || undefined);
    assert.deepEqual(
      refused.map((e) => `${e.actorKind} ${e.action} ${e.target} ${e.outcome} ${e.requestId}`),
      [
        'anonymous GET /v1/things/:id /v1/things/9 401 null',
        'anonymous POST /v1/things/:id /v1/things/9 401 hook-5',
        'anonymous POST /v1/things/:id /v1/things/9 401 hook-4',
      ],
    );
    assert.doesNotMatch(JSON.stringify(refused), /nobody/, 'the presented credential is not kept');
    // A valid credential without the scope: named, even on a read.
    assert.equal((await send('GET', '/v1/audit/verify', 'staff')).statusCode, 403);
    const [denied] = await entriesOf(staff);
    assert.equal(
      `${denied?.actorKind} ${denied?.action} ${denied?.outcome}`,
      'access_token GET /v1/audit/verify 403',
    );
  });

  test('a public route that asks for it is recorded always, under the account its handler names', async () => {
    const anonymous = 'anonymous@127.0.0.1';
    assert.equal((await send('POST', '/v1/things/known/login')).statusCode, 200);
    assert.equal((await send('POST', '/v1/things/other/login')).statusCode, 401);
    const [login] = await entriesOf('stf_audit_login');
    assert.equal(
      `${login?.actorKind} ${login?.action} ${login?.outcome}`,
      'staff POST /v1/things/:id/login 200',
    );
    assert.deepEqual(login?.detail, { method: 'password' });
    const [failed] = await entriesOf(anonymous);
    assert.equal(`${failed?.target} ${failed?.outcome}`, '/v1/things/other/login 401');
  });

  test("a staff member's reads are recorded too", async () => {
    assert.equal((await send('GET', '/v1/things/5', 'staff')).statusCode, 200);
    assert.equal((await send('GET', '/v1/topology', 'staff')).statusCode, 503);
    const actions = (await entriesOf(staff)).map((entry) => `${entry.action} ${entry.outcome}`);
    assert.deepEqual(actions.slice(0, 2), ['GET /v1/topology 503', 'GET /v1/things/:id 200']);
  });

  test('GET /v1/audit/entries and GET /v1/audit/verify answer with audit:read', async () => {
    const listed = await send('GET', `/v1/audit/entries?actor=${apiKey}&limit=2`, 'api');
    assert.equal(listed.statusCode, 200, listed.body);
    const page = listed.json() as { data: AuditEntry[]; hasMore: boolean; nextCursor: string };
    assert.equal(page.data.length, 2);
    assert.equal(page.hasMore, true);
    const next = await send(
      'GET',
      `/v1/audit/entries?actor=${apiKey}&startingAfter=${page.nextCursor}`,
      'api',
    );
    assert.equal((next.json() as { data: AuditEntry[] }).data.length, 1);
    const verified = await send('GET', '/v1/audit/verify', 'api');
    assert.equal(verified.statusCode, 200, verified.body);
    const body = verified.json() as { intact: boolean; shards: unknown[] };
    assert.equal(body.intact, true, verified.body);
    assert.equal(body.shards.length, router.map.shardIds.length);
    assert.equal((await send('GET', '/v1/audit/verify', 'staff')).statusCode, 403);
    assert.equal((await send('GET', '/v1/audit/verify?shardId=999', 'api')).statusCode, 400);
  });
});

describe('a lane, alone', () => {
  const options = { batchSizeMax: 10, retryDelayMsMin: 1, retryDelayMsMax: 5 };

  test('a record its shard refuses alone is refused; the others are appended', async () => {
    const figures = newFigures();
    const written: string[] = [];
    const lane = new AuditLane(
      async (records) => {
        if (records.some((r) => r.action === 'bad'))
          throw Object.assign(new Error('value too long'), { code: '22001' });
        written.push(...records.map((r) => r.action));
        return records.length;
      },
      figures,
      options,
    );
    const outcomes = await Promise.all(['a', 'bad', 'c', 'd'].map((a) => lane.push(pending(a))));
    assert.deepEqual(outcomes, ['appended', 'refused', 'appended', 'appended']);
    assert.deepEqual(written, ['a', 'c', 'd']);
    assert.equal(figures.refusedCount, 1);
    assert.equal(figures.appendedCount, 3);
  });

  test('records wait while their shard fails; drain gives up at its deadline and counts them', async () => {
    const figures = newFigures();
    let attempts = 0;
    const lane = new AuditLane(
      async () => {
        attempts += 1;
        throw new MainstayError('primary_unavailable', 'no primary');
      },
      figures,
      options,
    );
    const outcome = lane.push(pending('a'));
    await new Promise((done) => setTimeout(done, 50));
    assert.equal(lane.pendingCount, 1);
    assert.ok(attempts >= 2, `retried (${attempts} attempts)`);
    assert.equal(await lane.drain(Date.now() + 100), 1);
    assert.equal(await outcome, 'dropped');
    assert.equal(figures.droppedCount, 1);
    assert.equal(lane.pendingCount, 0);
  });
});

test('the CLI names the first broken link: seq, time, actor, action', () => {
  const text = renderVerification({
    intact: false,
    shards: [
      {
        shardId: 0,
        status: 'intact',
        entries: 3,
        head: { seq: 3, hash: 'ab' },
        brokenAt: null,
        error: null,
      },
      {
        shardId: 1,
        status: 'broken',
        entries: 1,
        head: { seq: 4, hash: 'cd' },
        brokenAt: {
          seq: 2,
          at: '2025-01-01T00:00:00.000000Z',
          actor: 'key_x',
          action: 'POST /v1/things',
          reason: 'entry_altered',
          detail: 'its fields no longer give its hash',
        },
        error: null,
      },
      { shardId: 2, status: 'unavailable', entries: 0, head: null, brokenAt: null, error: 'down' },
    ],
  });
  assert.match(text, /shard 0: intact, 3 entries, head 3 ab/);
  assert.match(text, /shard 1: BROKEN at seq 2 \(entry_altered\)/);
  assert.match(
    text,
    /entry 2: at 2025-01-01T00:00:00.000000Z, actor key_x, action POST \/v1\/things/,
  );
  assert.match(text, /shard 2: NOT CHECKED \(down\)/);
  assert.match(text, /NOT INTACT/);
});

/** A principal of `kind` (built apart, so it fits both shapes of `Principal`). */
function principal(kind: 'api_key' | 'access_token', subject: string, scopes: string[]): Principal {
  const value = { kind, subject, scopes: new Set(scopes), roles: new Set<string>() };
  return value;
}

/** A write, a write that fails, and a read, under `prefix`. */
async function registerThings(app: FastifyInstance, prefix = '/v1/things'): Promise<void> {
  const write = { security: requires('things:write'), headers: IdempotencyKeyHeaders };
  app.post(`${prefix}/:id`, { schema: write }, async (_request, reply) => {
    reply.code(201);
    return { ok: true };
  });
  app.post(`${prefix}/:id/fail`, { schema: write }, async () => {
    throw new MainstayError('state_conflict', 'not in this state');
  });
  app.get(`${prefix}/:id`, { schema: { security: requires('things:read') } }, async () => ({
    ok: true,
  }));
  // A login-like public route: recorded always; the handler names the account it found.
  app.post<{ Params: { id: string } }>(
    `${prefix}/:id/login`,
    { schema: { security: PUBLIC }, config: { audit: 'always' } },
    async (request, reply) => {
      if (request.params.id === 'known') {
        request.auditActor = { kind: 'staff', subject: 'stf_audit_login' };
        request.auditDetail = { method: 'password' };
        return { ok: true };
      }
      reply.code(401);
      return { ok: false };
    },
  );
}

function newFigures(): LaneFigures {
  return {
    appendedCount: 0,
    refusedCount: 0,
    droppedCount: 0,
    failedBatchCount: 0,
    lastError: null,
  };
}

function pending(action: string) {
  return {
    id: crypto.randomUUID(),
    at: '2025-01-01T00:00:00.000000Z',
    actorKind: 'system',
    actor: 'lane-test',
    action,
    target: null,
    sourceIp: null,
    outcome: 200,
    requestId: null,
    detail: null,
  };
}

const reinsert = `INSERT INTO public.audit_log (seq, entry_id, at, actor_kind, actor, action, target,
  source_ip, outcome, request_id, detail, prev_hash, hash)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`;

function rowValues(row: Record<string, unknown>): unknown[] {
  const names = ['seq', 'entry_id', 'at', 'actor_kind', 'actor', 'action', 'target', 'source_ip'];
  const rest = ['outcome', 'request_id', 'detail', 'prev_hash', 'hash'];
  return [...names, ...rest].map((name) =>
    name === 'detail' && row[name] !== null ? JSON.stringify(row[name]) : row[name],
  );
}

function hashedOf(row: Record<string, unknown>) {
  return {
    seq: BigInt(String(row.seq)),
    id: String(row.entry_id),
    at: atText(row.at as Date),
    actorKind: String(row.actor_kind),
    actor: String(row.actor),
    action: String(row.action),
    target: row.target as string | null,
    sourceIp: row.source_ip as string | null,
    outcome: Number(row.outcome),
    requestId: row.request_id as string | null,
    detail: row.detail,
  };
}

/** One actor's entries, newest first, two at a time; then every shard's merged, seven at a time. */
async function checkListing(actors: readonly string[], perActor: number): Promise<void> {
  const [actor] = actors;
  assert.ok(actor);
  const own = await pages((startingAfter) => log.list({ actor }, { limit: 2, startingAfter }));
  assert.equal(own.length, perActor);
  assert.ok(
    own.every((entry) => entry.actor === actor && entry.target?.startsWith('/v1/card-accounts')),
  );
  assert.deepEqual(
    own.map((entry) => entry.seq),
    [...own].sort((a, b) => b.at.localeCompare(a.at) || b.seq - a.seq).map((entry) => entry.seq),
  );
  const all = await pages((startingAfter) => log.list({}, { limit: 7, startingAfter }));
  assert.equal(all.length, actors.length * perActor);
  assert.equal(new Set(all.map((entry) => entry.id)).size, all.length, 'no entry twice');
  for (let n = 1; n < all.length; n += 1) {
    assert.ok((all[n - 1]?.at ?? '') >= (all[n]?.at ?? ''), 'newest first');
  }
  await assert.rejects(
    log.list({}, { limit: 5, startingAfter: 'bm90IGEgY3Vyc29y' }),
    /startingAfter/,
  );
}

async function pages(
  page: (
    startingAfter: string | undefined,
  ) => Promise<{ data: readonly AuditEntry[]; nextCursor: string | null }>,
): Promise<AuditEntry[]> {
  const found: AuditEntry[] = [];
  let cursor: string | undefined;
  for (let round = 0; round < 100; round += 1) {
    const { data, nextCursor } = await page(cursor);
    found.push(...data);
    if (nextCursor === null) return found;
    cursor = nextCursor;
  }
  throw new Error('the pages never ended');
}
