/**
 * The admission gate against a real platform (decision 55). Two tables get real traffic on every
 * shard: one read six times per write (half of the reads on the replicas, so that without them it
 * would read 3:1), one written four times per read. The gate must measure them over every shard
 * and server and recommend read/write splitting for the first alone; growth is measured between
 * two decisions; malformed requests get their codes, hostile bytes are refused alone, and nothing
 * refused is recorded. The CLI prints the decision.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Router } from '../../../src/data/router.ts';
import { admissionModule } from '../../../src/domains/admission/module.ts';
import { BIN } from '../../support/cli.ts';
import { authHeaders } from '../../support/demo-credentials.ts';
import { type Answer, platformCaller, startTestPlatform } from '../../support/platform-call.ts';
import { removeHome, tempHome } from '../../support/temp-home.ts';

const home = tempHome('admission-api');
const configFile = path.join(home, 'mainstay.config.json');
// Growth measured against samples a second old, and a small sharding bound, so that a table
// grown by a few MB in the test crosses it; every other threshold keeps its default.
writeFileSync(
  configFile,
  JSON.stringify({
    admission: {
      growthSampleAgeSecondsMin: 1,
      shardingBytesAbove: 4 * 1024 * 1024,
      growthHorizonDays: 1,
    },
  }),
);
const env = { MAINSTAY_CONFIG: configFile };
let platform: Awaited<ReturnType<typeof startTestPlatform>>;
const call = platformCaller(home, () => platform.url);
let keys = 0;
const nextKey = (label: string) => `${label}-${process.pid}-${++keys}`;

const PROBE = 'admission_probe';
/** Per shard: rows inserted, and index lookups on the primary and again on each replica. */
const READ_MOSTLY = { table: `${PROBE}.read_mostly`, rows: 50, lookups: 150 };
const WRITE_MOSTLY = { table: `${PROBE}.write_mostly`, rows: 400, lookups: 50 };
const GROWING = `${PROBE}.growing`;

const CHANGE = {
  title: 'Probe service',
  system: 'probe',
  triggers: ['new_system', 'call_relations'],
  tables: [{ name: READ_MOSTLY.table }, { name: WRITE_MOSTLY.table }],
  availability: { rtoSeconds: 3600, rpoSeconds: 60, moneyPath: false },
  services: [{ name: 'probe-api', instancesPerDataCentre: 2, keepsLocalState: false }],
};

const admit = (body: unknown, key = nextKey('admit')) =>
  call('POST', '/v1/admission/requests', body, { 'idempotency-key': key });

/** Runs `work` until it stops failing (a replica that has not replayed the DDL yet). */
async function retried<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= 50) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** `lookups` primary-key reads of `table` on one server, each fetching one row by index. */
function lookUp(
  router: Router,
  server: string,
  database: string,
  table: string,
  rows: number,
  lookups: number,
) {
  return router.queryServer(server, database, async (db) => {
    await db.query('BEGIN');
    try {
      await db.query('SET LOCAL enable_seqscan = off');
      await db.query('SET LOCAL enable_bitmapscan = off');
      await db.query(
        `DO $$ BEGIN FOR i IN 1..${lookups} LOOP
           PERFORM body FROM ${table} WHERE id = (i % ${rows}) + 1;
         END LOOP; END $$`,
      );
      await db.query('COMMIT');
    } catch (error) {
      await db.query('ROLLBACK');
      throw error;
    }
    await db.query('SELECT pg_stat_force_next_flush()');
  });
}

/** The probe tables on every shard, filled, then read on every server that serves the shard. */
async function driveTraffic(router: Router): Promise<void> {
  for (const shard of router.map.snapshot.shards) {
    await router.writeToShard(shard.id, async (tx) => {
      await tx.query(`CREATE SCHEMA IF NOT EXISTS ${PROBE}`);
      for (const { table, rows } of [READ_MOSTLY, WRITE_MOSTLY, { table: GROWING, rows: 10 }]) {
        await tx.query(`CREATE TABLE ${table} (id integer PRIMARY KEY, body text NOT NULL)`);
        await tx.query(
          `INSERT INTO ${table} SELECT g, repeat('x', 100) FROM generate_series(1, $1) g`,
          [rows],
        );
      }
      await tx.query('SELECT pg_stat_force_next_flush()');
    });
    const route = router.map.route(shard.id);
    const servers = [route.primary?.id, ...route.replicas.map((replica) => replica.id)];
    assert.equal(servers.length, 2, 'a primary and a replica serve each shard');
    for (const server of servers) {
      assert.ok(server);
      for (const { table, rows, lookups } of [READ_MOSTLY, WRITE_MOSTLY]) {
        await retried(() => lookUp(router, server, shard.database, table, rows, lookups));
      }
    }
  }
}

const shardCount = () => platform.router.map.snapshot.shards.length;

/** Waits until every server's statistics show the traffic (backends flush them when idle). */
async function awaitFigures(): Promise<void> {
  const gate = platform.modules.get(admissionModule).gate;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { tables } = await gate.measure();
    const of = (name: string) => tables.find((figures) => figures.table === name);
    const ready = [READ_MOSTLY, WRITE_MOSTLY].every(({ table, rows, lookups }) => {
      const figures = of(table);
      return (
        figures !== undefined &&
        figures.rowsWritten >= rows * shardCount() &&
        figures.rowsRead >= 2 * lookups * shardCount()
      );
    });
    if (ready) return;
    assert.ok(
      Date.now() < deadline,
      `statistics never showed the traffic: ${JSON.stringify(tables)}`,
    );
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

type Pattern = {
  pattern: string;
  status: string;
  findings: { subject: string | null; status: string; reason: string }[];
};
type Figures = {
  table: string;
  window: unknown;
  rowsRead: number;
  rowsReadOnReplicas: number;
  rowsWritten: number;
  growthBytesPerDay: number | null;
  growthSince: string | null;
};
const decisionOf = (answer: Answer) =>
  answer.body.decision as {
    reviewRequired: boolean;
    patterns: Pattern[];
    measured: { tables: Figures[] };
  };
const patternOf = (answer: Answer, name: string) => {
  const found = decisionOf(answer).patterns.find((pattern) => pattern.pattern === name);
  assert.ok(found, name);
  return found;
};
const findingOf = (answer: Answer, name: string, subject: string) => {
  const found = patternOf(answer, name).findings.find((finding) => finding.subject === subject);
  assert.ok(found, `${name} ${subject}`);
  return found;
};
const figuresOf = (answer: Answer, table: string) => {
  const found = decisionOf(answer).measured.tables.find((figures) => figures.table === table);
  assert.ok(found, table);
  return found;
};

async function listAll(): Promise<string[]> {
  const page = await call('GET', '/v1/admission/requests?limit=100');
  assert.equal(page.status, 200, JSON.stringify(page.body));
  return (page.body.data as { id: string }[]).map((record) => record.id);
}

before(async () => {
  platform = await startTestPlatform(home, env);
  await driveTraffic(platform.router);
  await awaitFigures();
});
after(async () => {
  await platform?.stop();
  removeHome(home);
});

describe('the admission gate on a real fleet', () => {
  test('read/write splitting for the table measured above 4:1, not for the one below', async (t) => {
    const answer = await admit(CHANGE);
    assert.equal(answer.status, 201, JSON.stringify(answer.body));
    assert.match(answer.body.id as string, /^adm_[0-9A-Z]{30}$/);
    assert.equal(answer.headers.get('content-type')?.startsWith('application/json'), true);
    const reads = figuresOf(answer, READ_MOSTLY.table);
    const n = shardCount();
    assert.equal(reads.rowsWritten, READ_MOSTLY.rows * n, 'every shard summed');
    assert.ok(reads.rowsRead >= 2 * READ_MOSTLY.lookups * n, JSON.stringify(reads));
    assert.ok(reads.rowsReadOnReplicas >= READ_MOSTLY.lookups * n, 'replicas counted');
    const split = findingOf(answer, 'read_write_splitting', READ_MOSTLY.table);
    assert.equal(split.status, 'required', split.reason);
    const ratio = (reads.rowsRead / reads.rowsWritten).toFixed(1);
    assert.ok(
      split.reason.startsWith(
        `${READ_MOSTLY.table}: ${ratio} reads per write measured over ${reads.rowsRead.toLocaleString('en-US')} rows read (${reads.rowsReadOnReplicas.toLocaleString('en-US')} of them on replicas) and ${reads.rowsWritten} rows written since the servers' statistics were last reset, above 4:1`,
      ),
      split.reason,
    );
    const writes = figuresOf(answer, WRITE_MOSTLY.table);
    assert.equal(writes.rowsWritten, WRITE_MOSTLY.rows * n);
    const notSplit = findingOf(answer, 'read_write_splitting', WRITE_MOSTLY.table);
    assert.equal(notSplit.status, 'not_required', notSplit.reason);
    assert.match(notSplit.reason, /0\.\d reads per write measured .* at or below 4:1$/);
    t.diagnostic(split.reason);
    t.diagnostic(notSplit.reason);
    assert.equal(patternOf(answer, 'read_write_splitting').status, 'required');
    assert.equal(decisionOf(answer).reviewRequired, true);
    // A decision is written to the catalog, not a shard: the caller's token comes back checked.
    const token = (
      await call(
        'POST',
        '/v1/ledger/accounts',
        { currency: 'CNY', kind: 'wallet' },
        { 'idempotency-key': nextKey('wallet') },
      )
    ).headers.get('mainstay-consistency-token');
    assert.ok(token);
    const chained = await call('POST', '/v1/admission/requests', CHANGE, {
      'idempotency-key': nextKey('chained'),
      'mainstay-consistency-token': token,
    });
    assert.equal(chained.status, 201);
    assert.ok(chained.headers.get('mainstay-consistency-token'));
    const fetched = await call('GET', `/v1/admission/requests/${answer.body.id}`);
    assert.equal(fetched.status, 200);
    assert.deepEqual(fetched.body, answer.body);
  });

  test('a retry answers the first decision; the same key with another request is refused', async () => {
    const key = nextKey('retry');
    const first = await admit(CHANGE, key);
    const again = await admit(CHANGE, key);
    assert.equal(again.status, 201);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(again.body, first.body);
    const other = await admit({ ...CHANGE, title: 'Another' }, key);
    assert.equal(other.status, 409);
    assert.equal(other.body.code, 'idempotency_key_reused');
  });

  test('no trigger stated: no review, each trigger with its reason; listed by page', async () => {
    const answer = await admit({ ...CHANGE, triggers: [] });
    assert.equal(answer.status, 201);
    const decision = answer.body.decision as {
      reviewRequired: boolean;
      reviewReason: string;
      triggers: { met: boolean; reason: string }[];
    };
    assert.equal(decision.reviewRequired, false);
    assert.match(decision.reviewReason, /no level-1 trigger/);
    assert.ok(
      decision.triggers.every(
        (trigger) => !trigger.met && trigger.reason.startsWith('not stated: '),
      ),
    );
    const first = await call('GET', '/v1/admission/requests?limit=1');
    assert.equal((first.body.data as { id: string }[])[0]?.id, answer.body.id, 'newest first');
    assert.equal(first.body.hasMore, true);
    const second = await call(
      'GET',
      `/v1/admission/requests?limit=1&startingAfter=${first.body.nextCursor}`,
    );
    assert.notEqual((second.body.data as { id: string }[])[0]?.id, answer.body.id);
    assert.equal((await call('GET', '/v1/admission/requests?limit=0')).status, 400);
  });

  test('growth measured between two decisions makes a growing table one to shard', async () => {
    const change = { ...CHANGE, tables: [{ name: GROWING }] };
    const baseline = await admit(change);
    assert.equal(baseline.status, 201);
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    for (const shard of platform.router.map.snapshot.shards) {
      await platform.router.writeToShard(shard.id, async (tx) => {
        await tx.query(
          `INSERT INTO ${GROWING} SELECT g, repeat('y', 200) FROM generate_series(100, 20099) g`,
        );
        // Counted before the commit is answered, not up to a second later when the backend idles.
        await tx.query('SELECT pg_stat_force_next_flush()');
      });
    }
    const grown = await admit(change);
    const figures = figuresOf(grown, GROWING);
    assert.equal(figures.growthSince, baseline.body.createdAt, 'measured from the first decision');
    assert.ok((figures.growthBytesPerDay ?? 0) > 0, JSON.stringify(figures));
    // The traffic since the first decision decides the ratio: only the rows inserted since.
    assert.deepEqual(figures.window, {
      since: baseline.body.createdAt,
      rowsRead: 0,
      rowsReadOnReplicas: 0,
      rowsWritten: 20_000 * shardCount(),
    });
    const split = findingOf(grown, 'read_write_splitting', GROWING);
    assert.match(
      split.reason,
      new RegExp(`rows written since ${baseline.body.createdAt}, at or below 4:1$`),
    );
    const shard = findingOf(grown, 'sharding', GROWING);
    assert.equal(shard.status, 'required', shard.reason);
    assert.match(shard.reason, /growing .* a day since/);
  });

  test('the gate is a service a release pipeline calls, with the same rules', async () => {
    const gate = platform.modules.get(admissionModule).gate;
    const { record, replayed } = await gate.evaluate(CHANGE, {
      requestedBy: 'release-pipeline',
      idempotencyKey: 'release-1',
    });
    assert.equal(replayed, false);
    assert.equal(record.requestedBy, 'release-pipeline');
    await assert.rejects(
      gate.evaluate(
        { ...CHANGE, title: 'a\u0000b' },
        { requestedBy: 'release-pipeline', idempotencyKey: 'release-2' },
      ),
      { code: 'invalid_request' },
    );
  });
});

describe('bad change requests', () => {
  test('malformed: problem+json with a stable code and a pointer; nothing recorded', async () => {
    const before = await listAll();
    const cases: [unknown, number, string, string | null][] = [
      ['{"title": ', 400, 'malformed_json', null],
      [{ ...CHANGE, availability: undefined }, 400, 'invalid_request', '/availability'],
      [{ ...CHANGE, triggers: ['new_logo'] }, 400, 'invalid_request', '/triggers/0'],
      [
        { ...CHANGE, tables: [{ name: 'Robert; DROP TABLE' }] },
        400,
        'invalid_request',
        '/tables/0/name',
      ],
      [
        { ...CHANGE, tables: [{ name: 'orders' }, { name: 'public.orders' }] },
        422,
        'change_request_invalid',
        '/tables/1/name',
      ],
      [
        { ...CHANGE, availability: { rtoSeconds: 60, rpoSeconds: 600, moneyPath: true } },
        422,
        'change_request_invalid',
        '/availability/rpoSeconds',
      ],
    ];
    const keysUsed: string[] = [];
    for (const [body, status, code, pointer] of cases) {
      const key = nextKey('bad');
      keysUsed.push(key);
      const answer = await admit(body, key);
      assert.equal(answer.status, status, JSON.stringify(answer.body));
      assert.equal(answer.headers.get('content-type'), 'application/problem+json; charset=utf-8');
      assert.equal(answer.body.code, code);
      assert.equal(answer.body.status, status);
      if (pointer !== null) {
        const errors = answer.body.errors as { pointer: string }[];
        assert.ok(
          errors.some((error) => error.pointer === pointer),
          JSON.stringify(errors),
        );
      }
    }
    const forged = await call('POST', '/v1/admission/requests', CHANGE, {
      'idempotency-key': nextKey('forged'),
      'mainstay-consistency-token': 'v1.forged.token',
    });
    assert.equal(forged.body.code, 'consistency_token_invalid', JSON.stringify(forged.body));
    const missingKey = await call('POST', '/v1/admission/requests', CHANGE);
    assert.equal(missingKey.body.code, 'idempotency_key_missing');
    assert.equal(
      (await call('GET', '/v1/admission/requests/adm_nothing')).body.code,
      'resource_not_found',
    );
    assert.deepEqual(await listAll(), before);
    // A refused request kept nothing under its key: the key takes a good request as new.
    const reused = await admit(CHANGE, keysUsed[4]);
    assert.equal(reused.status, 201);
    assert.equal(reused.headers.get('idempotent-replayed'), null);
  });

  test('hostile bytes are refused alone, beside a good request, and leave nothing', async () => {
    const before = await listAll();
    const raw = (bytes: Buffer) =>
      fetch(`${platform.url}/v1/admission/requests`, {
        method: 'POST',
        headers: {
          ...authHeaders(home),
          'content-type': 'application/json',
          'idempotency-key': nextKey('raw'),
        },
        body: bytes,
      });
    const json = JSON.stringify(CHANGE);
    const [nul, surrogate, latin1, good] = await Promise.all([
      raw(Buffer.from(json.replace('Probe service', 'Probe\\u0000service'))),
      raw(Buffer.from(json.replace('Probe service', 'Probe\\ud800service'))),
      raw(
        Buffer.concat([
          Buffer.from(json.slice(0, 12)),
          Buffer.from([0xff, 0xfe]),
          Buffer.from(json.slice(12)),
        ]),
      ),
      admit(CHANGE),
    ]);
    for (const refused of [nul, surrogate, latin1]) {
      assert.equal(refused.status, 400);
      assert.equal(((await refused.json()) as { code: string }).code, 'invalid_text');
    }
    assert.equal(good.status, 201, JSON.stringify(good.body));
    assert.deepEqual(await listAll(), [good.body.id, ...before]);
  });

  test("the gate's outcomes are counted in /metrics", async () => {
    const response = await fetch(`${platform.url}/metrics`, { headers: authHeaders(home) });
    const text = await response.text();
    const value = (outcome: string) =>
      Number(
        new RegExp(
          `^mainstay_admission_requests_total\\{outcome="${outcome}"\\} (\\d+)$`,
          'm',
        ).exec(text)?.[1],
      );
    const stats = platform.modules.get(admissionModule).gate.stats;
    assert.ok(stats.decided > 0 && stats.replayed > 0 && stats.refused > 0, JSON.stringify(stats));
    for (const outcome of ['decided', 'replayed', 'refused', 'failed'] as const) {
      assert.equal(value(outcome), stats[outcome], outcome);
    }
  });

  test('mainstay admit prints the decision as a table, and as JSON', async () => {
    const file = path.join(home, 'change.json');
    writeFileSync(file, JSON.stringify(CHANGE));
    const table = await cli(['admit', file]);
    assert.equal(table.status, 0, table.stderr);
    assert.match(table.stdout, /review REQUIRED/);
    assert.match(
      table.stdout,
      /read_write_splitting +required +admission_probe\.read_mostly +admission_probe\.read_mostly: \d+\.\d reads per write/,
    );
    const piped = await cli(['admit', '-', '--json'], JSON.stringify(CHANGE));
    assert.equal(piped.status, 0, piped.stderr);
    assert.match((JSON.parse(piped.stdout) as { id: string }).id, /^adm_/);
    const bad = await cli(['admit', '-'], '{"title": 1}');
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /error \[invalid_request\]/);
  });
});

/** Runs `mainstay` with the test's home, without blocking the platform this process serves. */
function cli(
  args: string[],
  input?: string,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, MAINSTAY_HOME: home, ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.stdin.end(input ?? '');
  return new Promise((resolve) =>
    child.on('exit', (status) => resolve({ status, stdout, stderr })),
  );
}
