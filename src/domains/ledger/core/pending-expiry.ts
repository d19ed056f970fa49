import { createHash } from 'node:crypto';
import type { Router } from '../../../data/router.ts';
import type { JobLease } from '../../../jobs/job-lease.ts';
import { JobRunner } from '../../../jobs/job-runner.ts';
import type { LedgerEngine } from './ledger-engine.ts';
import type { SettleRequest } from './ledger-types.ts';

/** Pending transfers voided per engine call, and calls per shard per sweep. */
const EXPIRY_BATCH_SIZE = 200;
const EXPIRY_BATCHES_PER_SHARD_MAX = 50;
const SWEEP_TIMEOUT_MS = 60_000;
export const PENDING_SWEEP_INTERVAL_MS_DEFAULT = 1_000;

/**
 * Voids pending transfers whose timeout passed (decision 49): each becomes an `expire` request
 * through the engine, under the derived id `expire:<pending id>`, so two processes sweeping at
 * once, or a sweep repeated after a crash, expire each pending transfer once (the second is
 * answered from the first).
 */
export class PendingExpiry {
  readonly #router: Router;
  readonly #engine: LedgerEngine;
  readonly jobs = new JobRunner();

  constructor(router: Router, engine: LedgerEngine) {
    this.#router = router;
    this.#engine = engine;
  }

  /**
   * Sweeps every `intervalMs` until {@link stop}; behind `lease`, in one process at a time (a
   * second sweeper would be harmless, only wasted work).
   */
  start(intervalMs = PENDING_SWEEP_INTERVAL_MS_DEFAULT, lease?: JobLease): void {
    if (this.jobs.snapshot().length === 0) {
      this.jobs.add({
        name: 'ledger-pending-expiry',
        intervalMs,
        runTimeoutMs: SWEEP_TIMEOUT_MS,
        ...(lease === undefined ? {} : { lease }),
        run: async () => {
          await this.expireDue();
        },
      });
    }
    this.jobs.start();
  }

  stop(): Promise<void> {
    return this.jobs.stop();
  }

  /** Expires every pending transfer due now on every shard; returns how many it expired. */
  async expireDue(): Promise<number> {
    let expired = 0;
    for (const shardId of this.#router.map.shardIds) expired += await this.#sweepShard(shardId);
    return expired;
  }

  async #sweepShard(shardId: number): Promise<number> {
    let expired = 0;
    for (let round = 0; round < EXPIRY_BATCHES_PER_SHARD_MAX; round += 1) {
      const { value } = await this.#router.readShard(
        shardId,
        (db) =>
          db.query<{ id: string; debit_account_id: string }>(
            `SELECT id, debit_account_id FROM public.ledger_transfers
              WHERE pending_state = 'open' AND timeout_at <= clock_timestamp()
              ORDER BY timeout_at LIMIT $1`,
            [EXPIRY_BATCH_SIZE],
          ),
        { consistency: 'primary' },
      );
      const due = value.rows;
      const first = due[0];
      if (first === undefined) break;
      const requests: SettleRequest[] = due.map((row) => ({
        kind: 'expire',
        id: expiryIdOf(row.id),
        pendingId: row.id,
      }));
      const outcomes = await this.#engine.submit(requests, first.debit_account_id);
      expired += outcomes.filter((outcome) => outcome.status === 'expired').length;
      if (due.length < EXPIRY_BATCH_SIZE) break;
    }
    return expired;
  }
}

/** The derived id of a pending transfer's expiry: `expire:<id>`, or a digest when too long. */
export function expiryIdOf(pendingId: string): string {
  const id = `expire:${pendingId}`;
  if (id.length <= 255) return id;
  return `expire:sha256:${createHash('sha256').update(pendingId).digest('hex')}`;
}
