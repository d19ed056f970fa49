import type { JobLease } from './job-lease.ts';
import {
  checkJobSpec,
  type JobOutcome,
  type JobSnapshot,
  type JobSpec,
  jitterOf,
  nextDelayMs,
} from './job-spec.ts';

/** Longest error message kept in a job's statistics (a driver error can carry a whole query). */
const ERROR_TEXT_LENGTH_MAX = 500;

/** The reason a run's signal aborts when it passes its `runTimeoutMs`. */
export class JobTimeoutError extends Error {
  constructor(job: string, timeoutMs: number) {
    super(`job "${job}" timed out after ${timeoutMs} ms`);
    this.name = 'JobTimeoutError';
  }
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * One job's loop inside a `JobRunner`: one timer, at most one run in flight, the run's timeout,
 * the lease check before a run and the job's statistics. Only the runner drives it.
 */
export class JobLoop {
  readonly #spec: JobSpec;
  readonly #random: () => number;
  readonly #stats: Mutable<JobSnapshot>;
  #active = false;
  #timer: NodeJS.Timeout | null = null;
  #inFlight: Promise<void> | null = null;
  #abort: AbortController | null = null;

  constructor(spec: JobSpec, random: () => number) {
    checkJobSpec(spec);
    this.#spec = spec;
    this.#random = random;
    this.#stats = {
      name: spec.name,
      runCount: 0,
      failureCount: 0,
      timeoutCount: 0,
      notHolderCount: 0,
      lastDurationMs: null,
      lastOutcome: null,
      lastError: null,
      lastErrorAt: null,
      lastFinishedAt: null,
      running: false,
      leaseHeld: spec.lease ? false : null,
    };
  }

  /** Schedules the first run (at once or after an interval, plus jitter); no-op when started. */
  start(): void {
    if (this.#active) return;
    this.#active = true;
    const { intervalMs, jitterMs = 0, runAtStart = false } = this.#spec;
    this.#schedule((runAtStart ? 0 : intervalMs) + jitterOf(jitterMs, this.#random));
  }

  /** Starts no further run, aborts and awaits the one in flight, gives the lease back. */
  async stop(): Promise<void> {
    this.#active = false;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#abort?.abort(new Error(`job "${this.#spec.name}" stopped`));
    await this.#inFlight;
    const { lease } = this.#spec;
    if (lease && this.#stats.leaseHeld) {
      this.#stats.leaseHeld = false;
      await lease.release(this.#spec.name).catch(() => undefined);
    }
  }

  /** A copy of the statistics. */
  snapshot(): JobSnapshot {
    return { ...this.#stats };
  }

  #schedule(delayMs: number): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#tick(), delayMs);
  }

  async #tick(): Promise<void> {
    this.#timer = null;
    if (!this.#active || this.#inFlight) return;
    const startedAt = performance.now();
    const attempt = this.#attempt();
    this.#inFlight = attempt;
    await attempt;
    this.#inFlight = null;
    if (!this.#active) return;
    const { intervalMs, jitterMs = 0 } = this.#spec;
    const elapsedMs = performance.now() - startedAt;
    this.#schedule(nextDelayMs(intervalMs, jitterMs, elapsedMs, this.#random));
  }

  /** The lease check (if any), then the run; never rejects. */
  async #attempt(): Promise<void> {
    const { lease } = this.#spec;
    if (lease && !(await this.#holdLease(lease))) return;
    if (!this.#active) return;
    await this.#runBounded();
  }

  async #holdLease(lease: JobLease): Promise<boolean> {
    const stats = this.#stats;
    let held = false;
    try {
      held = await lease.tryAcquire(this.#spec.name);
    } catch (error) {
      this.#recordError(`lease: ${describe(error)}`);
    }
    stats.leaseHeld = held;
    if (!held) {
      stats.notHolderCount += 1;
      stats.lastOutcome = 'not_holder';
    }
    return held;
  }

  async #runBounded(): Promise<void> {
    const { name, runTimeoutMs } = this.#spec;
    const stats = this.#stats;
    const controller = new AbortController();
    this.#abort = controller;
    stats.runCount += 1;
    stats.running = true;
    const startedAt = performance.now();
    let outcome: JobOutcome | 'stopped' = 'succeeded';
    const timer = setTimeout(() => {
      // Counted when the bound passes, not when the run settles: a hung run shows at once.
      outcome = 'timed_out';
      stats.timeoutCount += 1;
      stats.failureCount += 1;
      this.#recordError(`timed out after ${runTimeoutMs} ms`);
      controller.abort(new JobTimeoutError(name, runTimeoutMs));
    }, runTimeoutMs);
    try {
      await this.#spec.run(controller.signal);
    } catch (error) {
      // An error after a timeout is the timeout's; one after a stop is the stop's, not a failure.
      if (outcome === 'succeeded' && !this.#active) outcome = 'stopped';
      else if (outcome === 'succeeded') {
        outcome = 'failed';
        stats.failureCount += 1;
        this.#recordError(describe(error));
      }
    } finally {
      clearTimeout(timer);
      this.#abort = null;
      stats.running = false;
      stats.lastDurationMs = Math.round(performance.now() - startedAt);
      stats.lastFinishedAt = Date.now();
      if (outcome !== 'stopped') stats.lastOutcome = outcome;
    }
  }

  #recordError(text: string): void {
    this.#stats.lastError = text.slice(0, ERROR_TEXT_LENGTH_MAX);
    this.#stats.lastErrorAt = Date.now();
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
