import type { Router } from '../../../../data/router.ts';
import { JobRunner } from '../../../../jobs/job-runner.ts';

/** Tuning of a {@link HoldSweeper}. */
export interface HoldSweeperOptions {
  /** Holds released per transaction: bounds lock time and transaction size. */
  readonly batchSizeMax?: number;
  /** Pause between sweeps of all shards. */
  readonly sweepIntervalMs?: number;
  /** Transactions per shard per sweep, so one sweep always ends. */
  readonly batchCountMax?: number;
}

export const HOLD_SWEEPER_DEFAULTS = {
  batchSizeMax: 500,
  sweepIntervalMs: 5_000,
  batchCountMax: 100,
} as const;

/**
 * Releases lapsed holds: an approved authorization that is neither captured nor reversed before
 * its `hold_expires_at` gives its credit back. One sweeper per process walks every shard in
 * bounded transactions (`card_expire_holds`, which locks accounts in id order like every other
 * writer of holds); several processes may sweep at once without harm, since an expired hold is
 * no longer open for the next one.
 */
/** A sweep releases lapsed holds shard by shard; one slower than this is counted as timed out. */
const SWEEP_TIMEOUT_MS = 60_000;

export class HoldSweeper {
  readonly #router: Router;
  readonly #options: Required<HoldSweeperOptions>;
  /** The sweep's loop, for metrics. */
  readonly jobs = new JobRunner();
  #sweeping: Promise<number> | null = null;

  constructor(router: Router, options: HoldSweeperOptions = {}) {
    this.#router = router;
    this.#options = { ...HOLD_SWEEPER_DEFAULTS, ...options };
  }

  /** Sweeps every `sweepIntervalMs` until {@link stop} (a job of {@link jobs}). */
  start(): void {
    if (this.jobs.snapshot().length === 0) {
      this.jobs.add({
        name: 'card-hold-expiry',
        intervalMs: this.#options.sweepIntervalMs,
        runTimeoutMs: SWEEP_TIMEOUT_MS,
        run: async () => {
          await this.expireHolds();
        },
      });
    }
    this.jobs.start();
  }

  async stop(): Promise<void> {
    await this.jobs.stop();
    await this.#sweeping?.catch(() => 0);
  }

  /**
   * Releases every hold lapsed at `now` (default: the server's clock) on every shard; returns
   * how many. Tests pass a future `now` instead of waiting.
   */
  expireHolds(now?: Date): Promise<number> {
    const run = async () => {
      let released = 0;
      for (const shardId of this.#router.map.shardIds)
        released += await this.#sweepShard(shardId, now);
      return released;
    };
    const sweep = run().finally(() => {
      if (this.#sweeping === sweep) this.#sweeping = null;
    });
    this.#sweeping = sweep;
    return sweep;
  }

  async #sweepShard(shardId: number, now: Date | undefined): Promise<number> {
    let released = 0;
    for (let batch = 0; batch < this.#options.batchCountMax; batch += 1) {
      const { value } = await this.#router.writeToShard(shardId, (tx) =>
        tx.query<{ n: number }>('SELECT public.card_expire_holds(coalesce($1, now()), $2) AS n', [
          now ?? null,
          this.#options.batchSizeMax,
        ]),
      );
      const count = value.rows[0]?.n ?? 0;
      released += count;
      if (count < this.#options.batchSizeMax) break;
    }
    return released;
  }
}
