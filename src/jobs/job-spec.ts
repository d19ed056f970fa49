import type { JobLease } from './job-lease.ts';

/** How a job's last tick ended. */
export const JOB_OUTCOMES = ['succeeded', 'failed', 'timed_out', 'not_holder'] as const;
/**
 * `succeeded` and `failed`: the run ended, without or with an error; `timed_out`: it passed its
 * `runTimeoutMs` (a failure too); `not_holder`: no run, another process holds the job's lease
 * (or the lease could not be checked, see `lastError`).
 */
export type JobOutcome = (typeof JOB_OUTCOMES)[number];

/** One job: what to run, how often, how long at most, and whether one process at a time. */
export interface JobSpec {
  /** Unique within a runner; also the lease's name across processes. */
  readonly name: string;
  /**
   * Time from one run's start to the next. A run longer than this skips the ticks it covered
   * (as `setInterval` with an overlap guard did), so runs never pile up or overlap.
   */
  readonly intervalMs: number;
  /**
   * Up to this much random extra wait before each run (uniform, `0` by default), so that the
   * processes started together do not all hit the same server in the same millisecond.
   */
  readonly jitterMs?: number;
  /**
   * Bound on one run: at this age its signal aborts and the run counts as `timed_out`. The next
   * run still waits for this one to settle (never two at once), so the work must honour the
   * signal or have bounded I/O of its own.
   */
  readonly runTimeoutMs: number;
  /** The first run at start (after its jitter) instead of one interval later. */
  readonly runAtStart?: boolean;
  /** When given, a tick runs the job only in the process holding this lease. */
  readonly lease?: JobLease;
  /** The work; `signal` aborts at the run's timeout and when the runner stops. */
  run(signal: AbortSignal): Promise<void>;
}

/** A job's statistics, as plain values: what the metrics read. */
export interface JobSnapshot {
  readonly name: string;
  /** Runs started (ticks skipped for the lease are not runs). */
  readonly runCount: number;
  /** Runs that threw or timed out. */
  readonly failureCount: number;
  /** Runs that passed `runTimeoutMs` (counted in `failureCount` as well). */
  readonly timeoutCount: number;
  /** Ticks without a run because another process held the lease or it could not be checked. */
  readonly notHolderCount: number;
  /** How long the last finished run took, `null` before the first. */
  readonly lastDurationMs: number | null;
  /** How the last tick ended, `null` before the first. */
  readonly lastOutcome: JobOutcome | null;
  /** The last failure's message (a run's error, a timeout, a lease error), kept until the next. */
  readonly lastError: string | null;
  /** When the last failure happened (Unix ms), `null` if none yet. */
  readonly lastErrorAt: number | null;
  /** When the last run finished (Unix ms), `null` before the first. */
  readonly lastFinishedAt: number | null;
  /** A run is in flight now. */
  readonly running: boolean;
  /** Whether this process held the lease at the last tick; `null` for a job without one. */
  readonly leaseHeld: boolean | null;
}

/** Largest interval, timeout or jitter a job takes (a day; longer is a cron's work). */
export const JOB_PERIOD_MS_MAX = 24 * 60 * 60 * 1000;
const NAME_PATTERN = /^[a-z][a-z0-9.-]{0,62}$/;

/** Refuses a spec with a bad name or a bound out of range: programmer errors, thrown at once. */
export function checkJobSpec(spec: JobSpec): void {
  if (!NAME_PATTERN.test(spec.name))
    throw new Error(`job name "${spec.name}" must match ${NAME_PATTERN}`);
  const bounds: [string, number | undefined, number][] = [
    ['intervalMs', spec.intervalMs, 1],
    ['runTimeoutMs', spec.runTimeoutMs, 1],
    ['jitterMs', spec.jitterMs, 0],
  ];
  for (const [field, value, minimum] of bounds) {
    if (value === undefined) continue;
    if (!Number.isInteger(value) || value < minimum || value > JOB_PERIOD_MS_MAX)
      throw new Error(
        `job "${spec.name}": ${field} must be an integer ${minimum}-${JOB_PERIOD_MS_MAX}, got ${value}`,
      );
  }
}

/** A jitter in `[0, jitterMs]`, drawn from `random` (which returns values in `[0, 1)`). */
export function jitterOf(jitterMs: number, random: () => number): number {
  return Math.max(0, Math.min(jitterMs, Math.floor(random() * (jitterMs + 1))));
}

/**
 * The wait before a job's next run, given how long ago (`elapsedMs`) the last one started: the
 * rest of the interval (of the current one, when the run took longer than an interval), plus a
 * jitter in `[0, jitterMs]`.
 */
export function nextDelayMs(
  intervalMs: number,
  jitterMs: number,
  elapsedMs: number,
  random: () => number,
): number {
  const intoTick = Math.max(0, elapsedMs) % intervalMs;
  return Math.ceil(intervalMs - intoTick) + jitterOf(jitterMs, random);
}
