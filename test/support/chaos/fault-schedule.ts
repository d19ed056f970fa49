/**
 * A seeded schedule of faults: which, on which data centre, held how long, after which pause.
 * The same seed gives the same schedule, so a run that failed is run again with its seed.
 */
import type { SeededRandom } from './seeded-random.ts';

/**
 * - `kill_primary`: SIGKILL to a DC primary's postmaster only (its backends live on until the
 *   controller shoots them: the window where a dead server can still acknowledge).
 * - `hang_primary`: SIGSTOP to a DC primary's whole process tree, SIGCONT after `holdMs`.
 * - `pause_replay`: `pg_wal_replay_pause()` on a DC replica, resumed after `holdMs`.
 * - `lose_dc`: SIGKILL to every server of a DC (its shards move home to their copies).
 */
export const FAULT_KINDS = ['kill_primary', 'hang_primary', 'pause_replay', 'lose_dc'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface PlannedFault {
  readonly kind: FaultKind;
  readonly dc: string;
  /** How long a hang or a replay pause lasts. */
  readonly holdMs: number;
  /** Pause before the fault, once the fleet is whole again after the last one. */
  readonly gapMs: number;
}

export interface SchedulePlan {
  readonly dataCentres: readonly string[];
  /** Faults that always come, in a seeded order (the short run's three). */
  readonly once: readonly FaultKind[];
  /** Seconds of load; random faults are added until their expected cost fills it. */
  readonly seconds: number;
  /** End with the loss of a whole DC. */
  readonly dcLoss: boolean;
}

const HOLD_MS = { min: 2_000, max: 5_000 } as const;
const GAP_MS = { min: 500, max: 2_500 } as const;
/** What a fault costs on the clock, including the fleet's repair (a rebuild takes ~10 s). */
const EXPECTED_COST_MS: Readonly<Record<FaultKind, number>> = {
  kill_primary: 14_000,
  hang_primary: 16_000,
  pause_replay: 2_000,
  lose_dc: 20_000,
};
const REPEATING: readonly FaultKind[] = ['kill_primary', 'hang_primary', 'pause_replay'];

/** The faults of one run, in order. */
export function planFaults(random: SeededRandom, plan: SchedulePlan): PlannedFault[] {
  const kinds = shuffle(random, plan.once);
  let costMs = kinds.reduce((sum, kind) => sum + EXPECTED_COST_MS[kind], 0);
  const budgetMs = plan.seconds * 1000 - (plan.dcLoss ? EXPECTED_COST_MS.lose_dc : 0);
  for (let guard = 0; guard < 1_000; guard += 1) {
    const kind = random.pick(REPEATING);
    if (costMs + EXPECTED_COST_MS[kind] > budgetMs) break;
    kinds.push(kind);
    costMs += EXPECTED_COST_MS[kind];
  }
  if (plan.dcLoss) kinds.push('lose_dc');
  // The faults that always come take turns over the DCs, so that one DC's repair (a rebuild
  // after a kill or a hang) does not hold up the next fault of a short run.
  const first = random.int(0, plan.dataCentres.length - 1);
  return kinds.map((kind, n) => ({
    kind,
    dc:
      n < plan.once.length
        ? (plan.dataCentres[(first + n) % plan.dataCentres.length] ?? random.pick(plan.dataCentres))
        : random.pick(plan.dataCentres),
    holdMs: random.int(HOLD_MS.min, HOLD_MS.max),
    gapMs: random.int(GAP_MS.min, GAP_MS.max),
  }));
}

function shuffle<T>(random: SeededRandom, items: readonly T[]): T[] {
  const left = [...items];
  const shuffled: T[] = [];
  while (left.length > 0) shuffled.push(...left.splice(random.int(0, left.length - 1), 1));
  return shuffled;
}
