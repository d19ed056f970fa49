/**
 * A workflow worker in a process of its own, for the tests and the benchmark that kill it
 * (SIGKILL) mid-step: it runs the test workflows against the database in MAINSTAY_TEST_DB (JSON
 * connection) and prints `ready` once it works.
 */
import type pg from 'pg';
import { guardedPool } from '../../src/postgres/guarded-pool.ts';
import { WorkflowEngine } from '../../src/workflow/workflow-engine.ts';
import { TEST_WORKFLOWS, testModules } from './workflow-fixtures.ts';

const connection = JSON.parse(process.env.MAINSTAY_TEST_DB ?? '{}') as pg.ClientConfig;
const pool = guardedPool({ ...connection, max: 2 });
const engine = new WorkflowEngine({
  pool,
  connection,
  workflows: TEST_WORKFLOWS,
  modules: testModules(pool),
  ...(process.env.MAINSTAY_TEST_POLL_MS
    ? { pollMs: Number(process.env.MAINSTAY_TEST_POLL_MS) }
    : {}),
});
await engine.start();
process.stdout.write('ready\n');
setInterval(() => undefined, 60_000);
