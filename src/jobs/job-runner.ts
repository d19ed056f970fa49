import { JobLoop } from './job-loop.ts';
import type { JobSnapshot, JobSpec } from './job-spec.ts';

export type { JobLease } from './job-lease.ts';
export { JobTimeoutError } from './job-loop.ts';
export { JOB_OUTCOMES, type JobOutcome, type JobSnapshot, type JobSpec } from './job-spec.ts';

/** Jobs one runner holds: each is a timer and its statistics, so the bound is generous. */
export const JOB_COUNT_MAX = 64;

/** Options of a {@link JobRunner}. */
export interface JobRunnerOptions {
  /** Source of the jitter, `Math.random` by default (a test passes its own). */
  readonly random?: () => number;
}

/**
 * Runs bounded background work: each job on its interval (plus jitter), never two runs of one job
 * at once, each run bounded in time, a failure counted without ending the loop, optionally in
 * one process at a time across processes (a {@link JobSpec.lease}), and a stop that waits for
 * the runs in flight. Every background loop of Mainstay runs on one (docs/ARCHITECTURE.md,
 * decision 40), so each has the same guarantees and the same statistics.
 *
 * @example
 * const jobs = new JobRunner();
 * jobs.add({ name: 'catalog-poll', intervalMs: 1_000, runTimeoutMs: 5_000, run: () => reload() });
 * jobs.start();
 * // ... later, metrics read jobs.snapshot(); shutdown awaits:
 * await jobs.stop();
 */
export class JobRunner {
  readonly #loops = new Map<string, JobLoop>();
  readonly #random: () => number;
  #started = false;

  constructor(options: JobRunnerOptions = {}) {
    this.#random = options.random ?? Math.random;
  }

  /** Adds a job; it starts at once if the runner has. Names are unique within a runner. */
  add(spec: JobSpec): void {
    if (this.#loops.has(spec.name)) throw new Error(`job "${spec.name}" is already scheduled`);
    if (this.#loops.size >= JOB_COUNT_MAX)
      throw new Error(`a job runner holds at most ${JOB_COUNT_MAX} jobs`);
    const loop = new JobLoop(spec, this.#random);
    this.#loops.set(spec.name, loop);
    if (this.#started) loop.start();
  }

  /** Starts every job's loop (again, after a stop). */
  start(): void {
    this.#started = true;
    for (const loop of this.#loops.values()) loop.start();
  }

  /**
   * Stops every loop: no run starts after this is called; a run in flight has its signal aborted
   * and is waited for; leases held are given back. A run that ignores its signal is still
   * waited for, so every job's work must end on its own (bounded I/O), signal or not.
   */
  async stop(): Promise<void> {
    this.#started = false;
    await Promise.all([...this.#loops.values()].map((loop) => loop.stop()));
  }

  /** Whether the runner is started (and not stopped since). */
  get started(): boolean {
    return this.#started;
  }

  /** Each job's statistics now, as plain values (for metrics, read at scrape time). */
  snapshot(): JobSnapshot[] {
    return [...this.#loops.values()].map((loop) => loop.snapshot());
  }
}
