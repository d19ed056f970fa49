import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import type pg from 'pg';
import { renderEvent } from '../src/cli/commands/ops.ts';
import { isMainstayError } from '../src/errors/mainstay-error.ts';
import { guardedPool } from '../src/postgres/guarded-pool.ts';
import { WorkflowEngine } from '../src/workflow/workflow-engine.ts';
import type { RunView } from '../src/workflow/workflow-types.ts';
import { type OneServer, startOneServer } from './support/jobs-postgres.ts';
import {
  prepareWorkflowDatabase,
  TEST_WORKFLOWS,
  testModules,
} from './support/workflow-fixtures.ts';

/**
 * The durable workflow engine (decision 54) on a real PostgreSQL server: steps with retries,
 * compensation, approvals by another person, idempotent starts, and a worker killed (SIGKILL)
 * mid-step whose run another worker resumes and completes.
 */

let server: OneServer;
let pool: pg.Pool;
let engine: WorkflowEngine;

before(async () => {
  server = await startOneServer('workflow');
  pool = guardedPool({ ...server.connection, max: 4 });
  // The server stops at the end with this pool's last clients possibly still closing: their
  // "terminating connection" must not surface as an uncaught error after the tests passed.
  await prepareWorkflowDatabase(pool);
  engine = newEngine();
  await engine.start();
});

after(async () => {
  await engine?.stop();
  await pool?.end();
  await server?.stop();
});

function newEngine(worker = true) {
  return new WorkflowEngine({
    pool,
    connection: server.connection,
    workflows: TEST_WORKFLOWS,
    modules: testModules(pool),
    worker,
    pollMs: 100,
    retryDelays: { minMs: 20, maxMs: 100 },
  });
}

async function start(
  workflow: string,
  input: unknown = {},
  startedBy = 'stf_maker',
  key = randomUUID(),
) {
  return engine.startRun({
    id: `run_${randomUUID()}`,
    workflow,
    input,
    startedBy,
    idempotencyKey: key,
  });
}

async function until(
  runId: string,
  statuses: readonly string[],
  timeoutMs = 20_000,
): Promise<RunView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = await engine.run(runId);
    if (statuses.includes(run.status)) return run;
    if (Date.now() > deadline)
      throw new Error(`run ${runId} still ${run.status}: ${JSON.stringify(run.steps)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function effects(runId: string): Promise<string[]> {
  const rows = await pool.query<{ step: string; what: string }>(
    'SELECT step, what FROM effects WHERE run_id = $1 ORDER BY at',
    [runId],
  );
  return rows.rows.map((row) => `${row.step}: ${row.what}`);
}

test('a run goes through every step, each executed and verified once, with its events', async () => {
  const { run } = await start('three-marks');
  const done = await until(run.id, ['succeeded']);
  assert.deepEqual(
    done.steps.map((step) => step.status),
    ['succeeded', 'succeeded', 'succeeded'],
  );
  assert.deepEqual(done.steps[1]?.output, { marked: 'second' });
  assert.deepEqual(await effects(run.id), [
    'first: executed',
    'first: finished',
    'first: verified',
    'second: executed',
    'second: finished',
    'second: verified',
    'third: executed',
    'third: finished',
    'third: verified',
  ]);
  const kinds = (await engine.events(run.id, 0)).map((event) => event.kind);
  assert.equal(kinds[0], 'run_started');
  assert.equal(kinds.at(-1), 'run_succeeded');
  assert.equal(kinds.filter((kind) => kind === 'step_succeeded').length, 3);
});

test("a long step's progress: one event per half second at most, the last one full, shown as a bar", async () => {
  const { run } = await start('counted');
  await until(run.id, ['succeeded']);
  const progress = (await engine.events(run.id, 0)).filter((event) => event.kind === 'progress');
  assert.ok(progress.length >= 2, 'reported while it ran');
  assert.ok(progress.length <= 6, `throttled: ${progress.length} events for 5,000 reports`);
  assert.equal(progress.at(-1)?.detail, '5000/5000 units counted');
  assert.ok(progress.every((event) => event.position === 0));
  const line = renderEvent({ at: '2026-01-01T10:00:00.000Z', ...progress.at(-1) });
  assert.match(line, /progress\s+\[#+\] 5000\/5000 units counted/);
  assert.match(
    renderEvent({ kind: 'progress', detail: '1/4 shards compared' }),
    /\[#{5}\.{15}\] 1\/4 shards compared/,
  );
});

test('the same key starts one run; the same key with another input is refused', async () => {
  const key = randomUUID();
  const first = await start('three-marks', {}, 'stf_maker', key);
  const again = await start('three-marks', {}, 'stf_maker', key);
  assert.equal(first.created, true);
  assert.equal(again.created, false);
  assert.equal(again.run.id, first.run.id);
  await assert.rejects(start('three-marks', { holdMs: 5 }, 'stf_maker', key), (error) =>
    isMainstayError(error, 'idempotency_key_reused'),
  );
  await until(first.run.id, ['succeeded']);
});

test('a failing step is retried with backoff up to its bound', async () => {
  const { run } = await start('retried');
  const done = await until(run.id, ['succeeded']);
  assert.equal(done.steps[1]?.attempts, 3);
  assert.deepEqual(await effects(run.id), [
    'first: executed',
    'first: finished',
    'first: verified',
    'shaky: attempt 1',
    'shaky: attempt 2',
    'shaky: attempt 3',
  ]);
});

test('a step that fails for good has the steps before it compensated, last first', async () => {
  const { run } = await start('fails-late');
  const done = await until(run.id, ['compensated', 'compensation_failed']);
  assert.equal(done.status, 'compensated');
  assert.equal(done.error?.message, 'the device is on fire');
  assert.deepEqual(
    done.steps.map((step) => step.status),
    ['compensated', 'compensated', 'compensated'],
  );
  const undone = (await effects(run.id)).filter(
    (line) => line.endsWith('compensated') || line.includes('attempt'),
  );
  assert.deepEqual(undone, [
    'last: attempt 1',
    'last: attempt 2',
    'last: compensated',
    'second: compensated',
    'first: compensated',
  ]);
});

test('a preflight refusal fails the step at once, without retries, and compensates', async () => {
  const { run } = await start('refused');
  const done = await until(run.id, ['compensated', 'compensation_failed']);
  assert.equal(done.status, 'compensated');
  assert.equal(done.steps[1]?.attempts, 1);
  assert.equal(done.error?.code, 'preflight_refused');
  assert.ok((await effects(run.id)).includes('first: compensated'));
});

test('an approval step waits; the starter and a person without the role are refused; another approver lets it run', async () => {
  const { run } = await start('approved', {}, 'stf_maker');
  const waiting = await until(run.id, ['waiting_approval']);
  assert.equal(waiting.steps[1]?.status, 'waiting_approval');
  assert.deepEqual(await effects(run.id), [
    'first: executed',
    'first: finished',
    'first: verified',
  ]);
  await assert.rejects(
    engine.decide(run.id, { id: 'stf_maker', roles: ['admin'] }, true, null),
    (error) => isMainstayError(error, 'approval_self'),
  );
  await assert.rejects(
    engine.decide(run.id, { id: 'stf_viewer', roles: ['viewer'] }, true, null),
    (error) => isMainstayError(error, 'approval_role_missing'),
  );
  const approved = await engine.decide(
    run.id,
    { id: 'stf_checker', roles: ['approver'] },
    true,
    'looked at it',
  );
  assert.equal(approved.steps[1]?.decidedBy, 'stf_checker');
  const done = await until(run.id, ['succeeded']);
  assert.equal(done.steps[1]?.status, 'succeeded');
  await assert.rejects(
    engine.decide(run.id, { id: 'stf_other', roles: ['admin'] }, true, null),
    (error) => isMainstayError(error, 'approval_decided'),
  );
});

test('a rejected approval undoes the steps done and ends the run rejected', async () => {
  const { run } = await start('approved', {}, 'stf_maker');
  await until(run.id, ['waiting_approval']);
  await engine.decide(run.id, { id: 'stf_checker', roles: ['admin'] }, false, 'not today');
  const done = await until(run.id, ['rejected', 'compensation_failed']);
  assert.equal(done.status, 'rejected');
  assert.equal(done.steps[1]?.decisionReason, 'not today');
  assert.deepEqual(await effects(run.id), [
    'first: executed',
    'first: finished',
    'first: verified',
    'first: compensated',
  ]);
});

test('an unknown workflow and an invalid input are refused, and nothing is started', async () => {
  const before = (await pool.query('SELECT count(*)::int AS n FROM workflow_runs')).rows[0].n;
  await assert.rejects(start('no-such-workflow'), (error) =>
    isMainstayError(error, 'workflow_unknown'),
  );
  await assert.rejects(start('three-marks', { holdMs: 'long' }), (error) => {
    assert.ok(isMainstayError(error, 'invalid_request'));
    assert.equal(error.errors[0]?.pointer, '/input/holdMs');
    return true;
  });
  await assert.rejects(start('three-marks', { extra: 1 }), (error) =>
    isMainstayError(error, 'invalid_request'),
  );
  assert.equal(
    (await pool.query('SELECT count(*)::int AS n FROM workflow_runs')).rows[0].n,
    before,
  );
});

function startChildWorker(): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'test/support/workflow-worker-child.ts'],
    {
      env: { ...process.env, MAINSTAY_TEST_DB: JSON.stringify(server.connection) },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`worker exited with ${code}`)));
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolve(child);
    });
  });
}

test('a worker killed (SIGKILL) mid-step: another worker resumes the run from that step and completes it', async () => {
  await engine.stop();
  const child = await startChildWorker();
  try {
    engine = newEngine(false);
    const { run } = await start('three-marks', { holdMs: 60_000 });
    const deadline = Date.now() + 20_000;
    while (!(await effects(run.id)).includes('second: executed')) {
      assert.ok(Date.now() < deadline, 'the child worker never reached the second step');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    child.kill('SIGKILL');
    engine = newEngine(true);
    await engine.start();
    const done = await until(run.id, ['succeeded']);
    assert.equal(done.steps[1]?.attempts, 2);
    const lines = await effects(run.id);
    assert.equal(
      lines.filter((line) => line === 'first: executed').length,
      1,
      'a finished step is not run again',
    );
    assert.equal(lines.filter((line) => line === 'second: executed').length, 2);
    assert.equal(lines.filter((line) => line === 'third: executed').length, 1);
    const kinds = (await engine.events(run.id, 0)).map((event) => event.kind);
    assert.ok(kinds.includes('step_resumed'));
  } finally {
    child.kill('SIGKILL');
  }
});

test('a step cut off in its last attempt is not run again: it fails and the run is undone', async () => {
  await engine.stop();
  const child = await startChildWorker();
  try {
    engine = newEngine(false);
    const { run } = await start('held-once');
    const deadline = Date.now() + 20_000;
    while (!(await effects(run.id)).includes('only-once: executed')) {
      assert.ok(Date.now() < deadline, 'the child worker never reached the step');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    child.kill('SIGKILL');
    engine = newEngine(true);
    await engine.start();
    const done = await until(run.id, ['compensated', 'compensation_failed']);
    assert.equal(done.status, 'compensated');
    assert.equal(done.error?.code, 'state_conflict');
    const lines = await effects(run.id);
    assert.equal(lines.filter((line) => line === 'only-once: executed').length, 1);
    assert.ok(lines.includes('first: compensated'));
  } finally {
    child.kill('SIGKILL');
  }
});

test('a worker hung (SIGSTOP) mid-step keeps its run: no second worker runs the step, a retried start answers the same run; once it dies, the run resumes', async () => {
  await engine.stop();
  const child = await startChildWorker();
  try {
    engine = newEngine(false);
    const key = randomUUID();
    const { run } = await start('three-marks', { holdMs: 60_000 }, 'stf_maker', key);
    const deadline = Date.now() + 20_000;
    while (!(await effects(run.id)).includes('second: executed')) {
      assert.ok(Date.now() < deadline, 'the child worker never reached the second step');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    child.kill('SIGSTOP');
    engine = newEngine(true);
    await engine.start();
    const retried = await start('three-marks', { holdMs: 60_000 }, 'stf_maker', key);
    assert.equal(retried.created, false);
    assert.equal(retried.run.id, run.id);
    // Many of the standby's looks (every 100 ms) while the holder is hung: its session still
    // holds the run's lock, so nobody else starts the step.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const kinds = (await engine.events(run.id, 0)).map((event) => event.kind);
    assert.ok(!kinds.includes('step_resumed'), kinds.join(', '));
    assert.equal((await effects(run.id)).filter((line) => line === 'second: executed').length, 1);
    child.kill('SIGKILL');
    const done = await until(run.id, ['succeeded']);
    assert.equal(done.steps[1]?.attempts, 2);
  } finally {
    child.kill('SIGKILL');
  }
});
