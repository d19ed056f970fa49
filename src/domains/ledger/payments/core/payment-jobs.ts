import type { Router } from '../../../../data/router.ts';
import type { JobLease } from '../../../../jobs/job-lease.ts';
import { JobRunner } from '../../../../jobs/job-runner.ts';
import type { LedgerEngine } from '../../core/ledger-engine.ts';
import type { SettleRequest } from '../../core/ledger-types.ts';
import { deleteFees, listEndedFees } from '../store/payment-fees-store.ts';
import type { PaymentBatches } from './payment-batches.ts';

/** Fees settled per engine call, and calls per shard per pass. */
const FEE_BATCH_SIZE = 200;
const FEE_BATCHES_PER_SHARD_MAX = 20;
const RUN_TIMEOUT_MS = 300_000;

/**
 * The payments' background work (decision 50), one job on a runner of its own: the fees of
 * cross-shard payments posted or voided once their transfer has ended, and batches whose
 * process stopped resumed. Both are idempotent (derived ids, conditional updates), so two
 * processes running them at once waste work and change nothing.
 */
export class PaymentJobs {
  readonly #router: Router;
  readonly #engine: LedgerEngine;
  readonly #batches: PaymentBatches;
  readonly jobs = new JobRunner();

  constructor(router: Router, engine: LedgerEngine, batches: PaymentBatches) {
    this.#router = router;
    this.#engine = engine;
    this.#batches = batches;
  }

  /** Runs every `intervalMs` until {@link stop}, behind `lease` when given. */
  start(intervalMs: number, lease?: JobLease): void {
    if (this.jobs.snapshot().length === 0)
      this.jobs.add({
        name: 'ledger-payments',
        intervalMs,
        runTimeoutMs: RUN_TIMEOUT_MS,
        ...(lease === undefined ? {} : { lease }),
        run: async () => {
          await this.settleEndedFees();
          await this.#batches.resumeStale();
        },
      });
    this.jobs.start();
  }

  stop(): Promise<void> {
    return this.jobs.stop();
  }

  /**
   * Posts the fee of every cross-shard payment whose transfer posted and voids the fee of every
   * one voided, under derived ids (`<fee id>:post`, `<fee id>:void`), then forgets them;
   * answers how many it settled.
   */
  async settleEndedFees(): Promise<number> {
    let settled = 0;
    for (const shardId of this.#router.map.shardIds) {
      for (let round = 0; round < FEE_BATCHES_PER_SHARD_MAX; round += 1) {
        const { value: ended } = await this.#router.readShard(
          shardId,
          (db) => listEndedFees(db, FEE_BATCH_SIZE),
          { consistency: 'primary' },
        );
        const first = ended[0];
        if (first === undefined) break;
        const requests: SettleRequest[] = ended.map((fee) =>
          fee.state === 'posted'
            ? { kind: 'post', id: `${fee.feeId}:post`, pendingId: fee.feeId }
            : { kind: 'void', id: `${fee.feeId}:void`, pendingId: fee.feeId },
        );
        await this.#engine.submit(requests, first.debitAccountId);
        await this.#router.writeToShard(shardId, (tx) =>
          deleteFees(
            tx,
            ended.map((fee) => fee.transferId),
          ),
        );
        settled += ended.length;
        if (ended.length < FEE_BATCH_SIZE) break;
      }
    }
    return settled;
  }
}
