/**
 * The fault suite, run long: a seeded random schedule of primary kills (-9), primary hangs
 * (SIGSTOP), replica replay pauses and, with --dc-loss, the loss of a whole data centre, under
 * a mixed load through every API process; then the checks after recovery and the client-seen
 * RTO per operation and fault. Prints the seed first: the same seed gives the same schedule.
 *
 *   npm run chaos -- --seconds 120 --seed 7            (synchronous, the default configuration)
 *   npm run chaos -- --seconds 300 --seed 7 --async    (each DC in the asynchronous mode)
 *   npm run chaos -- --seconds 300 --dc-loss           (ends with a DC loss)
 *
 * Exits 1 when a check fails.
 */
import { parseArgs } from 'node:util';
import { chaosConfig } from '../test/support/chaos/chaos-config.ts';
import { CHAOS_RUN_DEFAULTS } from '../test/support/chaos/chaos-defaults.ts';
import { formatReport } from '../test/support/chaos/chaos-report.ts';
import { runChaos } from '../test/support/chaos/run-chaos.ts';

const SECONDS_MIN = 10;
const SECONDS_MAX = 3_600;

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '120' },
    seed: { type: 'string' },
    async: { type: 'boolean', default: false },
    'dc-loss': { type: 'boolean', default: false },
  },
});
const seconds = Number(values.seconds);
if (!Number.isInteger(seconds) || seconds < SECONDS_MIN || seconds > SECONDS_MAX) {
  throw new Error(`--seconds must be an integer from ${SECONDS_MIN} to ${SECONDS_MAX}`);
}
const seed =
  values.seed === undefined ? Math.floor(Math.random() * 1_000_000) : Number(values.seed);
if (!Number.isSafeInteger(seed)) throw new Error('--seed must be an integer');
const mode = values.async ? 'async' : 'sync';
console.log(
  `fault suite: seed ${seed}, ${seconds} s, ${mode}${values['dc-loss'] ? ', with a DC loss' : ''}`,
);
const started = Date.now();
const report = await runChaos({
  ...CHAOS_RUN_DEFAULTS,
  seed,
  seconds,
  config: chaosConfig(mode),
  once: ['kill_primary', 'hang_primary', 'pause_replay'],
  dcLoss: values['dc-loss'] ?? false,
  log: (line) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${line}`),
});
console.log(`\n${formatReport(report)}`);
const failed = report.checks.filter((check) => check.outcome === 'fail');
console.log(
  `\n${failed.length === 0 ? 'no check failed' : `${failed.length} checks failed`} (seed ${seed})`,
);
process.exitCode = failed.length === 0 ? 0 : 1;
