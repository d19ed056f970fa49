import type { Router } from '../../src/data/router.ts';
import { keysHomedIn, startFleet } from '../../test/support/fleet-fixture.ts';
import { type LoopResult, median, runClosedLoop } from './closed-loop.ts';
import { ms, printTable, type SummaryRow } from './report.ts';

/**
 * The cost of synchronous replication within a DC, measured side by side on one fleet: `dc1`
 * commits with `synchronousCommit: "on"` (the default: the replica's flush before the
 * acknowledgement), `dc2` with `"async_may_lose_acked_writes"`. The two DCs are alike (same
 * machine, same servers, each with a replica and the other's logical copies), so the same
 * single-row upsert through the Router, to keys homed in one DC or the other, in alternating
 * rounds, shows what the wait for the replica costs.
 */
export const SYNC_COST = {
  /** One client shows the latency a request pays; many show the throughput a DC keeps. */
  concurrencies: [1, 16],
  opCount: 1_000,
  warmUpOpCount: 300,
  /** Rounds per mode and concurrency; the order alternates, and medians are reported. */
  roundCount: 6,
  keyCount: 64,
} as const;

const CONFIG = {
  dataCentres: [
    { id: 'dc1', synchronousCommit: 'on' },
    { id: 'dc2', synchronousCommit: 'async_may_lose_acked_writes' },
  ],
};
const MODES = [
  { label: 'sync on (default)', dc: 'dc1' },
  { label: 'async_may_lose_acked_writes', dc: 'dc2' },
] as const;
const UPSERT_SQL = `INSERT INTO router_checks (key, version) VALUES ($1, $2)
  ON CONFLICT (key) DO UPDATE SET version = EXCLUDED.version`;

interface ModeFigures {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly opsPerSecond: number;
}

function summarise(results: readonly LoopResult[]): ModeFigures {
  return {
    p50Ms: median(results.map((r) => r.p50Ms)),
    p99Ms: median(results.map((r) => r.p99Ms)),
    opsPerSecond: median(results.map((r) => r.opsPerSecond)),
  };
}

async function measure(
  router: Router,
  keys: readonly string[],
  concurrency: number,
  opCount: number,
): Promise<LoopResult> {
  return runClosedLoop(opCount, concurrency, (client, n) => {
    // Each client writes keys of its own, so no write waits for another's row lock.
    const key = keys[(client + concurrency * n) % keys.length] as string;
    return router.writeStatement(key, UPSERT_SQL, [key, n]);
  });
}

/** Runs the comparison on a fresh fleet; prints the table and returns the summary rows. */
export async function runSyncCost(): Promise<SummaryRow[]> {
  const fixture = await startFleet('bench-sync-cost', CONFIG);
  try {
    const router = await fixture.router({ applicationName: 'bench-sync-cost' });
    const keys = new Map(MODES.map((m) => [m.dc, keysHomedIn(router, m.dc, SYNC_COST.keyCount)]));
    const rows: string[][] = [];
    const summary: SummaryRow[] = [];
    for (const concurrency of SYNC_COST.concurrencies) {
      const results = new Map<string, LoopResult[]>(MODES.map((m) => [m.dc, []]));
      for (const mode of MODES)
        await measure(router, keys.get(mode.dc) ?? [], concurrency, SYNC_COST.warmUpOpCount);
      for (let round = 0; round < SYNC_COST.roundCount; round += 1) {
        const order = round % 2 === 0 ? MODES : [...MODES].reverse();
        for (const mode of order) {
          const result = await measure(
            router,
            keys.get(mode.dc) ?? [],
            concurrency,
            SYNC_COST.opCount,
          );
          results.get(mode.dc)?.push(result);
        }
      }
      const [sync, async] = MODES.map((m) => summarise(results.get(m.dc) ?? []));
      if (!sync || !async) continue;
      for (const [mode, figures] of [
        [MODES[0], sync],
        [MODES[1], async],
      ] as const) {
        rows.push([
          String(concurrency),
          `${mode.label} (${mode.dc})`,
          ms1(figures.p50Ms),
          ms1(figures.p99Ms),
          Math.round(figures.opsPerSecond).toLocaleString('en-US'),
        ]);
      }
      summary.push(
        {
          figure: `write p50, sync on vs async, ${concurrency} client(s)`,
          value: `${ms1(sync.p50Ms)} vs ${ms1(async.p50Ms)}`,
          target: 'none set',
          met: null,
        },
        {
          figure: `writes/s, sync on vs async, ${concurrency} client(s)`,
          value: `${Math.round(sync.opsPerSecond)} vs ${Math.round(async.opsPerSecond)} (${ratio(sync.opsPerSecond, async.opsPerSecond)})`,
          target: 'none set',
          met: null,
        },
      );
    }
    console.log(
      `single-row upsert through the Router (writeStatement), ${SYNC_COST.opCount} ops per round, ` +
        `${SYNC_COST.roundCount} rounds per mode in alternating order; medians over rounds\n`,
    );
    printTable(['clients', 'mode (DC)', 'p50', 'p99', 'writes/s'], rows);
    return summary;
  } finally {
    await fixture.stop();
  }
}

/** Milliseconds with one decimal (sub-millisecond writes would all read `1 ms`). */
function ms1(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(2)} ms` : ms(value);
}

function ratio(sync: number, async: number): string {
  return `${((sync / async) * 100).toFixed(0)}% of async`;
}
