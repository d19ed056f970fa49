/**
 * The fault suite's short schedule: a fresh fleet (`mainstay up`, and `mainstay api` beside it
 * when the command exists), a primary killed (-9), a primary hung (SIGSTOP) and a replica's
 * replay paused, in a seeded order, under a mixed load of authorizations, captures, reversals,
 * binds, lists and ledger transfers through both API processes. After recovery every check must pass. Longer
 * schedules: `npm run chaos -- --seconds N --seed S [--async] [--dc-loss]`.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chaosConfig } from './support/chaos/chaos-config.ts';
import { CHAOS_RUN_DEFAULTS } from './support/chaos/chaos-defaults.ts';
import { formatReport } from './support/chaos/chaos-report.ts';
import { runChaos } from './support/chaos/run-chaos.ts';

/** A fixed seed: the same schedule and the same load choices in every run. */
const SEED = 20_261_202;
/** Load seconds: enough for the three faults and the fleet's repairs between them. */
const SECONDS = 30;

test('a short fault schedule loses no acknowledged write and keeps every other check', async (t) => {
  const report = await runChaos({
    ...CHAOS_RUN_DEFAULTS,
    seed: SEED,
    seconds: SECONDS,
    config: chaosConfig('sync'),
    once: ['kill_primary', 'hang_primary', 'pause_replay'],
    dcLoss: false,
  });
  const text = formatReport(report);
  // The report (with the client-seen RTO, printed, never asserted) in the runner's output.
  for (const line of text.split('\n')) t.diagnostic(line);
  const injected = report.faults.filter((fault) => fault.injectedAt !== null);
  assert.ok(injected.length >= 2, `at least two faults were injected:\n${text}`);
  for (const check of report.checks) {
    assert.notEqual(check.outcome, 'fail', `${check.name}: ${check.detail}\n\n${text}`);
  }
});
