/**
 * Router benchmark, side by side with baselines measured in the same run:
 *   1. router overhead: point read and single-row upsert through the Router vs a bare pg.Pool on
 *      the same server, same concurrency and op count, alternating rounds; with the shared
 *      recent-write store on (the default) and off, side by side;
 *   2. stale reads under forced lag: `session` reads with tokens vs `any` reads;
 *   3. RTO and RPO of a synchronous DC primary's loss (kill -9, and a hang), with Patroni's
 *      documented defaults as the reference line;
 *   4. RTO of a whole DC's loss, and the unreplicated tail the controller reports;
 *   5. stateless takeover: appends divert to the other DC while the home primary is down, then
 *      merge back;
 *   6. sync cost: write latency and throughput with synchronous commit `on` vs the asynchronous
 *      mode, side by side on one fleet (support/sync-cost-scenario.ts).
 * Each scenario that kills servers runs on a fresh fleet. Prints a summary of every figure with
 * its target; exits 0 on a missed target (a benchmark reports), non-zero if a scenario crashed.
 *
 *   npm run bench:router              (every scenario)
 *   npm run bench:router -- overhead  (the scenarios whose title holds a word)
 */
import os from 'node:os';
import { startFleet } from '../test/support/fleet-fixture.ts';
import {
  FAILOVER,
  type FailoverFigures,
  type FailoverPlan,
  movedTails,
  runFailover,
} from './support/failover-scenario.ts';
import { runOverhead } from './support/overhead-scenario.ts';
import { ms, printTable, type SummaryRow } from './support/report.ts';
import { describeError, ScenarioRunner } from './support/scenario-runner.ts';
import { runStaleReads } from './support/stale-read-scenario.ts';
import { runSyncCost } from './support/sync-cost-scenario.ts';

const KILL: FailoverPlan = {
  label: 'kill',
  victims: ['dc1-a'],
  signal: 'SIGKILL',
  homeDc: 'dc1',
  newPrimary: 'dc1-b',
  recoveredBy: 'replica_promoted',
};
const HANG: FailoverPlan = { ...KILL, label: 'hang', signal: 'SIGSTOP' };
const TAKEOVER: FailoverPlan = { ...KILL, label: 'takeover', takeover: true };
const DC_LOSS: FailoverPlan = {
  label: 'dcloss',
  victims: ['dc1-a', 'dc1-b'],
  signal: 'SIGKILL',
  homeDc: 'dc1',
  newPrimary: 'dc2-a',
  recoveredBy: 'shard_moved',
};
/** Reference line: Patroni's documented defaults (dynamic configuration), not a measurement. */
const PATRONI_REFERENCE = [
  'Patroni defaults (documented, NOT measured)',
  '~20-30 s',
  'leader key ttl 30 s',
  '-',
  '-',
  '-',
  '-',
  'loop_wait 10 s, retry_timeout 10 s',
];
const FAILOVER_HEADER = [
  'failure',
  'RTO',
  'detection',
  'promotion',
  'acked',
  'acked+lost',
  'loop stall max',
  'writer errors (retried)',
];
const EVENT_DETAIL_LENGTH_MAX = 90;

const runner = new ScenarioRunner();

/** Runs one part of a scenario; a crash is printed and recorded, and `null` returned. */
async function attempt<T>(label: string, run: () => Promise<T>): Promise<T | null> {
  try {
    return await run();
  } catch (error) {
    runner.crashed.push(label);
    console.log(`CRASHED (${label}): ${describeError(error)}`);
    return null;
  }
}

/** Overhead and stale reads kill nothing, so they share one fleet (default config). */
async function onSharedFleet(): Promise<void> {
  let fixture: Awaited<ReturnType<typeof startFleet>> | null = null;
  try {
    fixture = await startFleet('bench-router');
  } catch (error) {
    await runner.run('1. router overhead vs bare pg.Pool', () => Promise.reject(error));
    await runner.run('2. stale reads under forced lag', () => Promise.reject(error));
    return;
  }
  const shared = fixture;
  try {
    const writer = await shared.router({ applicationName: 'bench-service-a' });
    const reader = await shared.router({ applicationName: 'bench-service-b' });
    const plain = await shared.router({
      applicationName: 'bench-service-plain',
      sharedRecentWrites: false,
    });
    await runner.run('1. router overhead vs bare pg.Pool', () =>
      runOverhead(shared, writer, plain),
    );
    await runner.run('2. stale reads under forced lag', () =>
      runStaleReads(shared, writer, reader, plain),
    );
  } finally {
    await shared.stop();
  }
}

function errorsText(figures: FailoverFigures): string {
  const entries = [...figures.errors].map(([code, n]) => `${code} x${n}`);
  return entries.length > 0 ? entries.join(', ') : 'none';
}

function printTimeline(figures: FailoverFigures): void {
  console.log(`\n${figures.plan.label}: controller events, ms after the failure was injected`);
  for (const { sinceKillMs, event } of figures.events) {
    const detail =
      event.detail.length > EVENT_DETAIL_LENGTH_MAX
        ? `${event.detail.slice(0, EVENT_DETAIL_LENGTH_MAX)}...`
        : event.detail;
    const server = (event.server ?? '-').padEnd(6);
    console.log(
      `  +${String(sinceKillMs).padStart(6)}  ${event.kind.padEnd(18)} ${server} ${detail}`,
    );
  }
}

function failoverRow(label: string, figures: FailoverFigures): string[] {
  return [
    label,
    ms(figures.rtoMs),
    ms(figures.detectionMs),
    ms(figures.promotionMs),
    String(figures.ackCount),
    String(figures.missingCount),
    ms(figures.loopStallMaxMs),
    errorsText(figures),
  ];
}

async function primaryLoss(): Promise<SummaryRow[]> {
  const rows: SummaryRow[] = [];
  const results: [string, FailoverFigures][] = [];
  for (const [label, plan] of [
    ['kill -9 of dc1-a', KILL],
    ['SIGSTOP (hang) of dc1-a', HANG],
  ] as const) {
    const figures = await attempt(label, () => runFailover(plan));
    if (!figures) {
      rows.push({ figure: `RTO/RPO, ${label}`, value: 'crashed', target: '-', met: false });
      continue;
    }
    results.push([label, figures]);
    rows.push(
      {
        figure: `RTO, ${label} (sync)`,
        value: ms(figures.rtoMs),
        target: `<= ${FAILOVER.rtoMsMax} ms`,
        met: figures.rtoMs !== null && figures.rtoMs <= FAILOVER.rtoMsMax,
      },
      {
        figure: `RPO, ${label} (acked writes lost)`,
        value: String(figures.missingCount),
        target: '0',
        met: figures.missingCount === 0,
      },
    );
  }
  console.log(
    `${FAILOVER.writerCount} writers retrying with the same id. RTO = failure to the first write ` +
      'acknowledged by the new primary that was first tried after it; detection = failure to ' +
      'detection; promotion = detection to the new primary published in the catalog; loop stall ' +
      '= longest event-loop delay of this process (router + controller) during recovery\n',
  );
  printTable(FAILOVER_HEADER, [
    ...results.map(([label, figures]) => failoverRow(label, figures)),
    PATRONI_REFERENCE,
  ]);
  for (const [, figures] of results) printTimeline(figures);
  return rows;
}

async function dcLoss(): Promise<SummaryRow[]> {
  const figures = await runFailover(DC_LOSS);
  console.log(
    'both servers of dc1 killed (-9). RTO = kill to the first write of a dc1-homed shard ' +
      'acknowledged by dc2-a that was first tried after the kill\n',
  );
  printTable(FAILOVER_HEADER, [failoverRow('kill -9 of dc1-a and dc1-b', figures)]);
  const tails = movedTails(figures);
  console.log(`\nunreplicated tail reported by shard_moved: ${tails.join('; ') || 'no event'}`);
  printTimeline(figures);
  return [
    {
      figure: 'RTO, loss of dc1 (both servers)',
      value: ms(figures.rtoMs),
      target: 'none set',
      met: null,
    },
    {
      figure: 'acked writes lost at DC loss (async copy)',
      value: String(figures.missingCount),
      target: 'none set',
      met: null,
    },
    {
      figure: 'unreplicated tail (controller)',
      value: tails.join('; ') || '-',
      target: 'none set',
      met: null,
    },
  ];
}

async function statelessTakeover(): Promise<SummaryRow[]> {
  const figures = await runFailover(TAKEOVER);
  console.log(
    `${FAILOVER.writerCount} writers append through a TakeoverWriter (retrying with the same id); ` +
      'dc1-a killed (-9) with the controller running. takeover = kill to the first append ' +
      'acknowledged by the takeover table in dc2 (first tried after the kill); RTO at home = ' +
      'kill to the first append acknowledged by dc1-b; merge-back runs after recovery\n',
  );
  printTable(
    [
      'failure',
      'takeover',
      'RTO at home',
      'acked',
      'diverted',
      'merged back',
      'acked+lost',
      'errors',
    ],
    [
      [
        'kill -9 of dc1-a',
        ms(figures.takeoverMs),
        ms(figures.rtoMs),
        String(figures.ackCount),
        String(figures.divertedCount),
        String(figures.mergedBackCount),
        String(figures.missingCount),
        errorsText(figures),
      ],
    ],
  );
  printTimeline(figures);
  return [
    {
      figure: 'stateless takeover time, kill -9 of dc1-a',
      value: ms(figures.takeoverMs),
      target: 'none set',
      met: null,
    },
    {
      figure: 'acked appends lost after merge-back',
      value: String(figures.missingCount),
      target: '0',
      met: figures.missingCount === 0,
    },
  ];
}

const started = performance.now();
console.log(`router benchmark, ${os.cpus().length} cores, Node ${process.version}`);
if (
  runner.selected('1. router overhead vs bare pg.Pool') ||
  runner.selected('2. stale reads under forced lag')
) {
  await attempt('fleet shared by scenarios 1 and 2', onSharedFleet);
}
await runner.run('3. RTO/RPO, loss of a synchronous DC primary', primaryLoss);
await runner.run('4. RTO, loss of a whole DC', dcLoss);
await runner.run('5. stateless takeover', statelessTakeover);
await runner.run('6. sync-cost: synchronous commit on vs asynchronous', runSyncCost);
runner.finish(started);
