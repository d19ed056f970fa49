/**
 * The ops module through HTTP on a real platform (decision 54): a compare-and-repair workflow
 * finds planted differences exactly, waits for a second person, repairs and compares equal; the
 * starter cannot approve; a failover drill leaves 0 differences; every action is in the audit
 * trail, and an altered entry is caught; bad input gets clear errors.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type pg from 'pg';
import { loadConfig } from '../../../src/config/load-config.ts';
import type { DemoCredentials } from '../../../src/domains/identity/index.ts';
import { CONFIG_SECTIONS, MODULES } from '../../../src/modules.ts';
import { type Platform, startPlatform } from '../../../src/platform/platform.ts';
import { fleetFromTemplate } from '../../support/platform-template.ts';
import { staffLogin } from '../../support/staff-login.ts';
import { removeHome, tempHome } from '../../support/temp-home.ts';

const home = tempHome('ops-api');
let platform: Platform;
let demo: DemoCredentials;
let maker = '';
let checker = '';
let counter = 0;

type Answer = { status: number; body: Record<string, unknown>; headers: Headers };

async function call(
  method: string,
  route: string,
  credential: string,
  body?: unknown,
  key?: string,
): Promise<Answer> {
  const response = await fetch(`${platform.url}${route}`, {
    method,
    headers: {
      authorization: `Bearer ${credential}`,
      ...(method !== 'GET' ? { 'idempotency-key': key ?? `ops-${++counter}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : {}, headers: response.headers };
}

function login(username: string, password: string, totpUri: string): Promise<string> {
  return staffLogin(platform.url, { username, password, totpUri });
}

type Run = {
  id: string;
  status: string;
  steps: { name: string; status: string; output: Record<string, unknown> | null }[];
};

async function until(runId: string, statuses: string[], timeoutMs = 90_000): Promise<Run> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await call('GET', `/v1/ops/runs/${runId}`, demo.apiKey);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const run = answer.body as unknown as Run;
    if (statuses.includes(run.status)) return run;
    assert.ok(
      Date.now() < deadline,
      `run ${runId} still ${run.status}: ${JSON.stringify(run.steps)}`,
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Starts `workflow` as the maker, approves its one sensitive step as the checker, waits for its end. */
async function approvedRun(workflow: string, input: unknown): Promise<Run> {
  const started = await call('POST', '/v1/ops/runs', maker, { workflow, input });
  assert.equal(started.status, 202, JSON.stringify(started.body));
  const runId = started.body.id as string;
  await until(runId, ['waiting_approval']);
  const approved = await call('POST', `/v1/ops/runs/${runId}/approve`, checker, {});
  assert.equal(approved.status, 200, JSON.stringify(approved.body));
  return until(runId, ['succeeded', 'compensated', 'compensation_failed'], 180_000);
}

/** A drill's table checks (steps 2 and 5: before and after) found no difference. */
function assertComparedEqual(done: Run): void {
  for (const position of [1, 4]) {
    const compared = done.steps[position]?.output as Record<string, number> | undefined;
    assert.deepEqual(
      [compared?.missingCount, compared?.extraCount, compared?.differentCount],
      [0, 0, 0],
      done.steps[position]?.name,
    );
  }
}

describe('ops through HTTP', () => {
  let homeDb: pg.Pool;
  let copyDb: pg.Pool;
  const planted = {
    missing: ['cus_ops_missing_1', 'cus_ops_missing_2'],
    extra: ['cus_ops_extra_1'],
    changed: [] as string[],
  };

  before(async () => {
    const config = loadConfig(
      { cwd: home, env: { MAINSTAY_HOME: home, MAINSTAY_PORT: '0' } },
      CONFIG_SECTIONS,
    );
    // The default fleet, copied from the platform's template and restarted (as an environment's).
    await fleetFromTemplate(home);
    platform = await startPlatform({ config, modules: MODULES });
    demo = JSON.parse(readFileSync(path.join(home, 'demo-credentials.json'), 'utf8'));
    const [first, second] = demo.staff;
    assert.ok(first && second);
    maker = await login(first.username, first.password, first.totpUri);
    checker = await login(second.username, second.password, second.totpUri);
    homeDb = await platform.fleet.shardPool(0, 'home');
    copyDb = await platform.fleet.shardPool(0, 'copy');
  });

  after(async () => {
    await platform?.stop();
    removeHome(home);
  });

  test('the catalogue lists the modules and workflows', async () => {
    const modules = await call('GET', '/v1/ops/modules', demo.apiKey);
    assert.equal(modules.status, 200);
    const names = (modules.body.data as { name: string }[]).map((module) => module.name);
    for (const name of [
      'check-fleet',
      'compare-table',
      'repair-table',
      'rebuild-replica',
      'failover-drill',
    ])
      assert.ok(names.includes(name), name);
    const workflows = await call('GET', '/v1/ops/workflows', demo.apiKey);
    const compareAndRepair = (
      workflows.body.data as { name: string; steps: { name: string; approverRoles: string[] }[] }[]
    ).find((w) => w.name === 'compare-and-repair');
    assert.deepEqual(
      compareAndRepair?.steps.map((step) => [step.name, step.approverRoles.length > 0]),
      [
        ['compare', false],
        ['repair', true],
        ['compare-again', false],
      ],
    );
  });

  test('compare-and-repair: planted rows found exactly, the starter refused, another admin approves, the copy repaired', async () => {
    await homeDb.query(
      `INSERT INTO demo_customers (id, bucket, full_name, country) SELECT id, 0, 'Planted', 'SE' FROM unnest($1::text[]) id`,
      [[...planted.missing, 'cus_ops_changed_1']],
    );
    const deadline = Date.now() + 20_000;
    while (
      (await copyDb.query('SELECT 1 FROM demo_customers WHERE id = $1', ['cus_ops_changed_1']))
        .rowCount === 0
    ) {
      assert.ok(Date.now() < deadline, 'the copy never received the planted rows');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await copyDb.query('SET session_replication_role = replica');
    await copyDb.query('DELETE FROM demo_customers WHERE id = ANY ($1)', [planted.missing]);
    await copyDb.query(
      "UPDATE demo_customers SET full_name = 'Edited on the copy' WHERE id = 'cus_ops_changed_1'",
    );
    await copyDb.query(
      "INSERT INTO demo_customers (id, bucket, full_name, country) VALUES ('cus_ops_extra_1', 0, 'Ghost', 'NO')",
    );
    const started = await call('POST', '/v1/ops/runs', maker, {
      workflow: 'compare-and-repair',
      input: { shard: 0, table: 'demo_customers' },
    });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const runId = started.body.id as string;
    const waiting = await until(runId, ['waiting_approval']);
    const compared = waiting.steps[0]?.output as {
      missing: string[][];
      extra: string[][];
      different: string[][];
    };
    assert.deepEqual(compared.missing.flat().sort(), planted.missing);
    assert.deepEqual(compared.extra.flat(), planted.extra);
    assert.deepEqual(compared.different.flat(), ['cus_ops_changed_1']);
    const self = await call('POST', `/v1/ops/runs/${runId}/approve`, maker, {});
    assert.equal(self.status, 403);
    assert.equal(self.body.code, 'approval_self');
    const byKey = await call('POST', `/v1/ops/runs/${runId}/approve`, demo.apiKey, {});
    assert.equal(byKey.status, 403);
    const approved = await call('POST', `/v1/ops/runs/${runId}/approve`, checker, {
      reason: 'planted in a test',
    });
    assert.equal(approved.status, 200, JSON.stringify(approved.body));
    const done = await until(runId, ['succeeded', 'compensated', 'compensation_failed']);
    assert.equal(done.status, 'succeeded', JSON.stringify(done.steps));
    assert.equal(done.steps[2]?.output?.missingCount, 0);
    const onCopy = await copyDb.query(
      "SELECT id, full_name FROM demo_customers WHERE id LIKE 'cus_ops_%' ORDER BY id",
    );
    assert.deepEqual(
      onCopy.rows.map((row) => row.id),
      ['cus_ops_changed_1', ...planted.missing],
    );
    assert.ok(onCopy.rows.every((row) => row.full_name === 'Planted'));
  });

  test('the run followed as server-sent events ends with its status', async () => {
    const started = await call('POST', '/v1/ops/runs', maker, { module: 'check-fleet', input: {} });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const response = await fetch(`${platform.url}/v1/ops/runs/${started.body.id}/events`, {
      headers: { authorization: `Bearer ${demo.apiKey}`, accept: 'text/event-stream' },
    });
    assert.equal(response.headers.get('content-type'), 'text/event-stream');
    const text = await response.text();
    assert.match(text, /event: run_started/);
    assert.match(text, /event: step_succeeded/);
    assert.match(text, /event: end\ndata: \{"status":"succeeded"\}/);
  });

  test('bad input: unknown workflow or module, both or neither named, invalid input, hostile text, no key', async () => {
    const cases: [unknown, number, string][] = [
      [{ workflow: 'no-such-thing', input: {} }, 422, 'workflow_unknown'],
      [{ module: 'no-such-module', input: {} }, 422, 'module_unknown'],
      [
        { workflow: 'compare-and-repair', module: 'check-fleet', input: {} },
        400,
        'invalid_request',
      ],
      [{ input: {} }, 400, 'invalid_request'],
      [
        { workflow: 'compare-and-repair', input: { shard: 'zero', table: 'x' } },
        400,
        'invalid_request',
      ],
      [
        { workflow: 'compare-and-repair', input: { shard: 0, table: 'bad\u0000name' } },
        400,
        'invalid_text',
      ],
      ['{"workflow": "compare-and-repair", "input": {"table": "\\ud800"}}', 400, 'invalid_text'],
    ];
    for (const [body, status, code] of cases) {
      const answer = await call('POST', '/v1/ops/runs', maker, body);
      assert.equal(answer.status, status, JSON.stringify([body, answer.body]));
      assert.equal(answer.body.code, code, JSON.stringify(body));
    }
    const noKey = await fetch(`${platform.url}/v1/ops/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${maker}`, 'content-type': 'application/json' },
      body: JSON.stringify({ module: 'check-fleet', input: {} }),
    });
    assert.equal(noKey.status, 400);
    const unknownRun = await call('GET', '/v1/ops/runs/run_nothing', demo.apiKey);
    assert.equal(unknownRun.status, 404);
    const unknownPerson = await call(
      'POST',
      '/v1/ops/runs/run_nothing/approve',
      'mainstay_ss_nobody_nothing',
      {},
    );
    assert.equal(unknownPerson.status, 401);
  });

  test('a compare on a table without a primary key fails its step with a clear error', async () => {
    await homeDb.query('CREATE TABLE IF NOT EXISTS public.ops_no_key (a integer)');
    await copyDb.query('CREATE TABLE IF NOT EXISTS public.ops_no_key (a integer)');
    const started = await call('POST', '/v1/ops/runs', maker, {
      module: 'compare-table',
      input: { shard: 0, table: 'ops_no_key' },
    });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const done = await until(started.body.id as string, [
      'compensated',
      'compensation_failed',
      'succeeded',
    ]);
    assert.equal(done.status, 'compensated');
    const run = (await call('GET', `/v1/ops/runs/${done.id}`, demo.apiKey)).body as {
      error: { code: string; message: string };
    };
    assert.equal(run.error.code, 'invalid_request');
    assert.match(run.error.message, /primary key/);
  });

  test('a failover drill, approved by another person, leaves 0 differences', async () => {
    const done = await approvedRun('failover-drill', {
      dc: platform.fleet.config.dataCentres[0]?.id,
      check: { shard: 0, table: 'demo_customers' },
    });
    assert.equal(
      done.status,
      'succeeded',
      JSON.stringify(done.steps.map((s) => [s.name, s.status, s.output])),
    );
    const drill = done.steps[2]?.output as { killed: string; promoted: string; verified: boolean };
    assert.ok(drill.killed && drill.promoted);
    assert.notEqual(drill.killed, drill.promoted);
    assert.equal(drill.verified, true);
    assertComparedEqual(done);
  });

  test('a switchover and a switch back, each approved by another person, leave 0 differences', async () => {
    const dc = platform.fleet.config.dataCentres[1]?.id as string;
    const before = (await platform.fleet.catalog.load())?.servers.find(
      (s) => s.dc === dc && s.role === 'primary',
    )?.id;
    for (const round of ['switch', 'switch back']) {
      const done = await approvedRun('switchover', {
        dc,
        check: { shard: 1, table: 'demo_customers' },
      });
      assert.equal(
        done.status,
        'succeeded',
        `${round}: ${JSON.stringify(done.steps.map((s) => [s.name, s.status, s.output]))}`,
      );
      const switched = done.steps[2]?.output as {
        from: string;
        to: string;
        downtimeMs: number | null;
      };
      assert.notEqual(switched.from, switched.to);
      assert.equal(typeof switched.downtimeMs, 'number');
      assertComparedEqual(done);
    }
    const after = (await platform.fleet.catalog.load())?.servers.find(
      (s) => s.dc === dc && s.role === 'primary',
    )?.id;
    assert.equal(after, before, 'switched back to the first primary');
  });

  test('backup and restore: the restored server equals the backup, table by table, and is removed', async () => {
    const primary = (await platform.fleet.catalog.load())?.servers.find(
      (s) => s.role === 'primary' && s.dc !== null,
    )?.id;
    const started = await call('POST', '/v1/ops/runs', maker, {
      workflow: 'backup-and-restore',
      input: { server: primary, name: 'ops-test' },
    });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const done = await until(
      started.body.id as string,
      ['succeeded', 'compensated', 'compensation_failed'],
      180_000,
    );
    assert.equal(
      done.status,
      'succeeded',
      JSON.stringify(done.steps.map((s) => [s.name, s.status, s.output])),
    );
    const restored = done.steps[1]?.output as { tablesCompared: number };
    assert.ok(restored.tablesCompared > 0);
    assert.deepEqual(done.steps[2]?.output, { removed: true });
  });

  test('the release pipeline: the admission gate decides, four sign-offs by another person, the fleet checked', async () => {
    const change = {
      title: 'Customer directory',
      system: 'directory',
      triggers: ['new_system'],
      tables: [{ name: 'demo_customers' }],
      availability: { rtoSeconds: 60, rpoSeconds: 0, moneyPath: false },
    };
    const input = {
      changeRequest: change,
      version: '1.4.0',
      evidence: {
        nonFunctionalRequirements: 'NFR-12',
        nonFunctionalTests: 'bench report 2026-12',
        codeReview: 'review 881',
      },
    };
    const started = await call('POST', '/v1/ops/runs', maker, {
      workflow: 'release-pipeline',
      input,
    });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const runId = started.body.id as string;
    for (const signOff of [
      'non-functional-requirements',
      'non-functional-tests',
      'code-review',
      'deploy',
    ]) {
      const waiting = await until(runId, ['waiting_approval', 'compensated']);
      assert.equal(waiting.status, 'waiting_approval', JSON.stringify(waiting.steps));
      assert.equal(waiting.steps.find((step) => step.status === 'waiting_approval')?.name, signOff);
      const self = await call('POST', `/v1/ops/runs/${runId}/approve`, maker, {});
      assert.equal(self.body.code, 'approval_self');
      const approved = await call('POST', `/v1/ops/runs/${runId}/approve`, checker, {
        reason: `${signOff} seen`,
      });
      assert.equal(approved.status, 200, JSON.stringify(approved.body));
    }
    const done = await until(runId, ['succeeded', 'compensated', 'compensation_failed']);
    assert.equal(
      done.status,
      'succeeded',
      JSON.stringify(done.steps.map((s) => [s.name, s.status])),
    );
    const admission = done.steps[0]?.output as { decisionId: string; reviewRequired: boolean };
    assert.equal(admission.reviewRequired, true);
    const recorded = await call(
      'GET',
      `/v1/admission/requests/${admission.decisionId}`,
      demo.apiKey,
    );
    assert.equal(recorded.status, 200, JSON.stringify(recorded.body));
    const malformed = await call('POST', '/v1/ops/runs', maker, {
      workflow: 'release-pipeline',
      input: { ...input, changeRequest: { ...change, triggers: ['new_logo'] } },
    });
    const refused = await until(malformed.body.id as string, [
      'compensated',
      'compensation_failed',
      'succeeded',
    ]);
    assert.equal(refused.status, 'compensated');
    assert.equal(refused.steps[0]?.status, 'compensated');
    const run = (await call('GET', `/v1/ops/runs/${refused.id}`, demo.apiKey)).body as {
      error: { code: string };
    };
    assert.ok(
      ['invalid_request', 'change_request_invalid'].includes(run.error.code),
      run.error.code,
    );
  });

  test('every action of a run is in the audit trail, and an altered entry is caught', async () => {
    const actions: string[] = [];
    for (const person of demo.staff) {
      const entries = await call(
        'GET',
        `/v1/audit/entries?actor=${person.id}&limit=100`,
        demo.apiKey,
      );
      assert.equal(entries.status, 200, JSON.stringify(entries.body));
      actions.push(...(entries.body.data as { action: string }[]).map((entry) => entry.action));
    }
    for (const action of [
      'ops run_started',
      'ops step_approved',
      'ops step_succeeded',
      'ops run_succeeded',
    ]) {
      assert.ok(actions.includes(action), `${action} in ${actions.join(', ')}`);
    }
    const intact = await call('GET', '/v1/audit/verify', demo.apiKey);
    assert.equal(intact.body.intact, true, JSON.stringify(intact.body));
    const shardIds = platform.router.map.shardIds;
    for (const shardId of shardIds) {
      const db = await platform.fleet.shardPool(shardId, 'home');
      const client = await db.connect();
      try {
        await client.query('SET session_replication_role = replica');
        await client.query(
          `UPDATE audit_log SET outcome = outcome + 1 WHERE action = 'ops step_approved'`,
        );
      } finally {
        client.release();
      }
    }
    const broken = await call('GET', '/v1/audit/verify', demo.apiKey);
    assert.equal(broken.body.intact, false, JSON.stringify(broken.body));
  });

  test('a bucket moves to another shard once a second person approves it, its ledger accounts with it', async () => {
    const approvedRun = async (input: { bucket: number; toShard: number }) => {
      const started = await call('POST', '/v1/ops/runs', maker, { module: 'move-bucket', input });
      assert.equal(started.status, 202, JSON.stringify(started.body));
      const runId = started.body.id as string;
      await until(runId, ['waiting_approval']);
      const approved = await call('POST', `/v1/ops/runs/${runId}/approve`, checker, {});
      assert.equal(approved.status, 200, JSON.stringify(approved.body));
      const done = await until(runId, ['succeeded', 'compensated', 'compensation_failed'], 120_000);
      const step = done.steps[0] as Run['steps'][number] & {
        error?: { code?: string; detail?: string } | null;
      };
      console.log(
        `move-bucket ${input.bucket} run ${done.status}: ${JSON.stringify(step.output ?? step.error)}`,
      );
      return { done, step };
    };
    const shardOf = (bucket: number) =>
      platform.router.map.snapshot.buckets.find((r) => r.first <= bucket && r.last >= bucket)
        ?.shardId;

    // A bucket the books name (a ledger account opened in it), on a shard holding a claim of
    // an identity number written before claims kept their bucket: a move cannot tell whose the
    // claim is, and is refused before anything moved, naming that table alone (the ledger's
    // accounts go with their bucket); the map is as it was.
    const opened = await call('POST', '/v1/ledger/accounts', demo.apiKey, {
      currency: 'EUR',
      kind: 'wallet',
      guard: 'none',
    });
    assert.equal(opened.status, 201, JSON.stringify(opened.body));
    const account = opened.body.id as string;
    const booked = platform.router.map.bucketOf(account);
    const bookedShard = platform.router.map.shardOf(account);
    const elsewhere = platform.router.map.shardIds.find((id) => id !== bookedShard) as number;
    const claim = (bucket: number | null) => (tx: pg.ClientBase) =>
      tx.query(
        `INSERT INTO public.identity_id_number_claims (id_number_lookup, customer_id, bucket)
         VALUES (decode(md5(random()::text) || md5(random()::text), 'hex'), 'cus_ops_claim', $1)`,
        [bucket],
      );
    await platform.router.writeToShard(bookedShard, claim(null));
    const refused = await approvedRun({ bucket: booked, toShard: elsewhere });
    assert.equal(refused.done.status, 'compensated', JSON.stringify(refused.done.steps));
    assert.equal(refused.step.error?.code, 'bucket_move_unattributed');
    assert.match(
      JSON.stringify(refused.step.error),
      /identity_id_number_claims \(a row's bucket column is empty/,
    );
    assert.doesNotMatch(JSON.stringify(refused.step.error), /ledger_accounts/);
    await platform.router.refresh();
    assert.equal(shardOf(booked), bookedShard);
    await platform.router.writeToShard(bookedShard, (tx) =>
      tx.query('DELETE FROM public.identity_id_number_claims WHERE bucket IS NULL'),
    );

    // Without it the bucket moves: a claim in it moves with it, and the ledger account with its
    // balance (brought forward through the clearing stripes; decision 58).
    const second = await call('POST', '/v1/ledger/accounts', demo.apiKey, {
      currency: 'EUR',
      kind: 'wallet',
      guard: 'none',
      ownerId: account,
    });
    assert.equal(platform.router.map.bucketOf(second.body.id as string), booked);
    const payment = {
      requests: [
        {
          id: 'ops-move-paid',
          debitAccountId: account,
          creditAccountId: second.body.id,
          amount: 1250,
          currency: 'EUR',
        },
      ],
    };
    const paid = await call('POST', '/v1/ledger/transfers', demo.apiKey, payment);
    assert.equal(paid.status, 200, JSON.stringify(paid.body));
    assert.equal(
      (paid.body.data as { status: string }[])[0]?.status,
      'posted',
      JSON.stringify(paid.body),
    );
    await platform.router.writeToShard(bookedShard, claim(booked));
    const claimsOn = async (shardId: number) => {
      const { value } = await platform.router.readShard(
        shardId,
        (db) =>
          db.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM public.identity_id_number_claims
              WHERE customer_id = 'cus_ops_claim' AND bucket = $1`,
            [booked],
          ),
        { consistency: 'primary' },
      );
      return value.rows[0]?.n;
    };
    const before = await call('GET', `/v1/ledger/accounts/${account}`, demo.apiKey);
    const moved = await approvedRun({ bucket: booked, toShard: elsewhere });
    assert.equal(moved.done.status, 'succeeded', JSON.stringify(moved.done.steps));
    assert.equal(moved.step.output?.verified, true);
    assert.equal(moved.step.output?.carriedRows, 2, 'two accounts carried');
    await platform.router.refresh();
    assert.equal(shardOf(booked), elsewhere);
    assert.deepEqual([await claimsOn(bookedShard), await claimsOn(elsewhere)], [0, 1]);
    const after = await call('GET', `/v1/ledger/accounts/${account}`, demo.apiKey);
    assert.equal(after.status, 200, JSON.stringify(after.body));
    assert.equal(after.body.balance, before.body.balance);
    assert.equal(Number(after.body.balance), -1250);
    // A retry of the transfer made before the move is answered, not applied again.
    const retried = await call('POST', '/v1/ledger/transfers', demo.apiKey, payment);
    const outcome = (retried.body.data as { status: string; replayed: boolean }[])[0];
    assert.deepEqual(
      [outcome?.status, outcome?.replayed],
      ['posted', true],
      JSON.stringify(retried.body),
    );
    const again = await call('GET', `/v1/ledger/accounts/${account}`, demo.apiKey);
    assert.equal(Number(again.body.balance), -1250);
  });
});
