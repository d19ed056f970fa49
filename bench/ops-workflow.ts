/**
 * The workflow engine's figures for the ops benchmark (decision 54), on one real PostgreSQL
 * server:
 *
 *   steps/s: runs of ten steps that do nothing, driven by one worker, against a baseline of the
 *            same number of jobs through a plain queue table claimed with `FOR UPDATE SKIP
 *            LOCKED` (one job per step, the way job queues hand work to a worker);
 *   resume:  a worker process killed with SIGKILL in the middle of a step, and the time until a
 *            standby worker (another process, already running, polling at the default interval)
 *            has taken the run over and started the step again.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { guardedPool } from '../src/postgres/guarded-pool.ts';
import { WorkflowEngine } from '../src/workflow/workflow-engine.ts';
import { startOneServer } from '../test/support/jobs-postgres.ts';
import {
  prepareWorkflowDatabase,
  TEST_WORKFLOWS,
  testModules,
} from '../test/support/workflow-fixtures.ts';
import { printTable, type SummaryRow } from './support/report.ts';

const RUNS = 200;
const STEPS_PER_RUN = 10;
const KILLS = 5;
const RESUME_TARGET_MS = 1_000;
const n0 = (value: number) => Math.round(value).toLocaleString('en-US');

export async function workflowFigures(): Promise<SummaryRow[]> {
  const server = await startOneServer('bench-workflow');
  const pool = guardedPool({ ...server.connection, max: 8 });
  try {
    await prepareWorkflowDatabase(pool);
    const engineRate = await engineStepsPerSecond(pool, server.connection);
    const queueRate = await queueJobsPerSecond(pool);
    const resumes: number[] = [];
    for (let kill = 0; kill < KILLS; kill += 1)
      resumes.push(await killAndResume(pool, server.connection));
    resumes.sort((a, b) => a - b);
    const median = resumes[Math.floor(resumes.length / 2)] as number;
    printTable(
      ['figure', 'value'],
      [
        [
          `workflow engine: ${RUNS} runs x ${STEPS_PER_RUN} steps, one worker`,
          `${n0(engineRate)} steps/s`,
        ],
        [`SKIP LOCKED queue: ${RUNS * STEPS_PER_RUN} jobs, one worker`, `${n0(queueRate)} jobs/s`],
        [
          `SIGKILL mid-step to resumed by a standby (${KILLS} kills)`,
          `median ${n0(median)} ms, max ${n0(resumes.at(-1) as number)} ms (${resumes.map(n0).join(', ')})`,
        ],
      ],
    );
    return [
      {
        figure: 'workflow steps/s vs one job per step through a SKIP LOCKED queue',
        value: `${n0(engineRate)} vs ${n0(queueRate)} (${(engineRate / queueRate).toFixed(2)}x)`,
        target: 'none set',
        met: null,
      },
      {
        figure: 'kill -9 of the worker to the run resuming, median of 5',
        value: `${n0(median)} ms (max ${n0(resumes.at(-1) as number)} ms)`,
        target: `< ${RESUME_TARGET_MS} ms`,
        met: median < RESUME_TARGET_MS,
      },
    ];
  } finally {
    await pool.end();
    await server.stop();
  }
}

async function engineStepsPerSecond(pool: pg.Pool, connection: pg.ClientConfig): Promise<number> {
  const engine = new WorkflowEngine({
    pool,
    connection,
    workflows: TEST_WORKFLOWS,
    modules: testModules(pool),
    concurrency: 8,
  });
  await engine.start();
  try {
    const started = performance.now();
    const ids: string[] = [];
    for (let run = 0; run < RUNS; run += 1) {
      const { run: made } = await engine.startRun({
        id: `run_${randomUUID()}`,
        workflow: 'ten-noops',
        input: {},
        startedBy: 'bench',
        idempotencyKey: randomUUID(),
      });
      ids.push(made.id);
    }
    for (;;) {
      const { rows } = await pool.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM workflow_runs WHERE id = ANY($1) AND status = 'succeeded'",
        [ids],
      );
      if (rows[0]?.n === RUNS) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return (RUNS * STEPS_PER_RUN) / ((performance.now() - started) / 1_000);
  } finally {
    await engine.stop();
  }
}

/** The baseline: jobs inserted, then claimed one at a time and deleted, as a queue's worker does. */
async function queueJobsPerSecond(pool: pg.Pool): Promise<number> {
  await pool.query(
    'CREATE TABLE IF NOT EXISTS bench_jobs (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, payload jsonb NOT NULL, locked_by text)',
  );
  const count = RUNS * STEPS_PER_RUN;
  const started = performance.now();
  await pool.query(
    "INSERT INTO bench_jobs (payload) SELECT jsonb_build_object('step', n) FROM generate_series(1, $1) n",
    [count],
  );
  const client = await pool.connect();
  try {
    let done = 0;
    while (done < count) {
      await client.query('BEGIN');
      const claimed = await client.query<{ id: string }>(
        'SELECT id FROM bench_jobs ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED',
      );
      const id = claimed.rows[0]?.id;
      if (id) await client.query('DELETE FROM bench_jobs WHERE id = $1', [id]);
      await client.query('COMMIT');
      done += 1;
    }
  } finally {
    client.release();
  }
  return count / ((performance.now() - started) / 1_000);
}

function startWorker(connection: pg.ClientConfig, name: string): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'test/support/workflow-worker-child.ts'],
    {
      env: {
        ...process.env,
        MAINSTAY_TEST_DB: JSON.stringify({ ...connection, application_name: name }),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`worker ${name} exited with ${code}`)));
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolve(child);
    });
  });
}

/** Starts a run on worker A; once A is in its second step, starts standby B and kills A; ms until B resumed the step. */
async function killAndResume(pool: pg.Pool, connection: pg.ClientConfig): Promise<number> {
  const active = await startWorker(connection, 'bench-active');
  const starter = new WorkflowEngine({
    pool,
    connection,
    workflows: TEST_WORKFLOWS,
    modules: testModules(pool),
    worker: false,
  });
  const { run } = await starter.startRun({
    id: `run_${randomUUID()}`,
    workflow: 'three-marks',
    input: { holdMs: 600_000 },
    startedBy: 'bench',
    idempotencyKey: randomUUID(),
  });
  await waitForRow(
    pool,
    "SELECT 1 FROM effects WHERE run_id = $1 AND step = 'second' AND what = 'executed'",
    [run.id],
  );
  const standby = await startWorker(connection, 'bench-standby').catch((error) => {
    active.kill('SIGKILL');
    throw error;
  });
  try {
    const killedAt = performance.now();
    active.kill('SIGKILL');
    await waitForRow(
      pool,
      "SELECT 1 FROM workflow_events WHERE run_id = $1 AND kind = 'step_resumed'",
      [run.id],
      1,
    );
    const resumedMs = performance.now() - killedAt;
    await waitForRow(pool, "SELECT 1 FROM workflow_runs WHERE id = $1 AND status = 'succeeded'", [
      run.id,
    ]);
    return resumedMs;
  } finally {
    active.kill('SIGKILL');
    standby.kill('SIGKILL');
  }
}

async function waitForRow(
  pool: pg.Pool,
  sql: string,
  values: unknown[],
  pollMs = 10,
): Promise<void> {
  const deadline = Date.now() + 60_000;
  while ((await pool.query(sql, values)).rowCount === 0) {
    if (Date.now() > deadline) throw new Error(`not within 60 s: ${sql}`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
