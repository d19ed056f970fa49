/**
 * Switchover write downtime for the ops benchmark (decision 57), on a real fleet with the
 * failover controller watching and four writers appending to dc1's shards through a router:
 *
 *   planned:  `switchover` (fence, clean stop, promote, rejoin), switched and switched back;
 *             the operation's own measure (fence to the first write the new primary committed)
 *             and the writers' longest gap between two acknowledgements;
 *   failover: the baseline on the same fleet: the primary killed (`failoverDrill`) and the
 *             controller left to detect, fence and promote; the writers' longest gap.
 *
 * Beside CloudNativePG's published default: a planned switchover waits up to 3,600 s
 * (`switchoverDelay`) for the old primary to shut down.
 */
import { FailoverController } from '../src/fleet/failover-controller.ts';
import { failoverDrill } from '../src/fleet/failover-drill.ts';
import { switchover } from '../src/fleet/switchover.ts';
import { keysHomedIn, startFleet } from '../test/support/fleet-fixture.ts';
import { routerAppend, TrackedWriter } from '../test/support/tracked-writer.ts';
import { printTable, type SummaryRow } from './support/report.ts';

const ROUNDS = 4;
const DOWNTIME_TARGET_MS = 1_000;
const CLOUDNATIVEPG_SWITCHOVER_DELAY_S = 3_600;
const n0 = (value: number) => Math.round(value).toLocaleString('en-US');

function longestGap(ackedAt: readonly number[]): number {
  const sorted = [...ackedAt].sort((a, b) => a - b);
  return sorted.reduce((longest, at, n) => Math.max(longest, at - (sorted[n - 1] ?? at)), 0);
}

const median = (values: readonly number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

export async function switchoverFigures(): Promise<SummaryRow[]> {
  const fixture = await startFleet('bench-switchover', {
    dataCentres: [
      { id: 'dc1', synchronousCommit: 'on' },
      { id: 'dc2', synchronousCommit: 'on' },
    ],
  });
  const controller = new FailoverController(fixture.fleet);
  controller.start();
  try {
    const router = await fixture.router({ writeWaitMs: 20_000 });
    const ports = new Map(
      fixture.config.dataCentres
        .flatMap((dc) => [dc.primary.id, dc.replica.id])
        .map((id) => [fixture.fleet.connection(id).port, id]),
    );
    const rows: string[][] = [];
    const planned = { downtime: [] as number[], gap: [] as number[] };
    const failover: number[] = [];
    const measure = async (label: string, act: () => Promise<number | null>) => {
      const writer = new TrackedWriter(
        keysHomedIn(router, 'dc1', 8, label),
        label,
        routerAppend(router, ports),
      );
      writer.start(4);
      while (writer.acks.length < 50) await new Promise((resolve) => setTimeout(resolve, 20));
      const reported = await act();
      const after = writer.acks.length;
      while (writer.acks.length < after + 50)
        await new Promise((resolve) => setTimeout(resolve, 20));
      await writer.stop();
      const gap = longestGap(writer.acks.map((ack) => ack.ackedAt));
      rows.push([
        label,
        reported === null ? '-' : `${n0(reported)} ms`,
        `${n0(gap)} ms`,
        n0(writer.acks.length),
      ]);
      return gap;
    };
    for (let round = 1; round <= ROUNDS; round += 1) {
      let downtime: number | null = null;
      planned.gap.push(
        await measure(`planned-${round}`, async () => {
          downtime = (await switchover(fixture.fleet, { dc: 'dc1' })).downtimeMs;
          return downtime;
        }),
      );
      if (downtime !== null) planned.downtime.push(downtime);
    }
    for (let round = 1; round <= 2; round += 1) {
      failover.push(
        await measure(
          `failover-${round}`,
          async () =>
            (await failoverDrill(fixture.fleet, controller, { dc: 'dc1' })).promotedAfterMs,
        ),
      );
    }
    printTable(
      [
        'case',
        'reported (fence or kill to promoted)',
        "writers' longest gap",
        'writes acknowledged',
      ],
      rows,
    );
    return [
      {
        figure: `planned switchover write downtime, median of ${ROUNDS} (switch and back)`,
        value: `${n0(median(planned.downtime))} ms (writers' longest gap ${n0(median(planned.gap))} ms); a failover's gap ${n0(median(failover))} ms`,
        target: `< ${n0(DOWNTIME_TARGET_MS)} ms`,
        met: median(planned.downtime) < DOWNTIME_TARGET_MS,
      },
      {
        figure: "beside CloudNativePG's default switchover delay",
        value: `${(median(planned.downtime) / 1000).toFixed(2)} s vs up to ${n0(CLOUDNATIVEPG_SWITCHOVER_DELAY_S)} s`,
        target: 'none set',
        met: null,
      },
    ];
  } finally {
    await controller.stop();
    await fixture.stop();
  }
}
