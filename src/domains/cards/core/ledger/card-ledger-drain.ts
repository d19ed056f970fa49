import type { Router } from '../../../../data/router.ts';
import type { JobLease } from '../../../../jobs/job-lease.ts';
import { JobRunner } from '../../../../jobs/job-runner.ts';
import {
  type CardLedgerOutboxRow,
  deleteCardLedgerEvents,
  listDueCardLedgerEvents,
  recordCardLedgerFailures,
} from '../../store/card-ledger-outbox.ts';
import type { CardLedgerEvent, CardPostingSink } from './card-ledger-port.ts';

/** Tuning of a {@link CardLedgerDrain}. */
export interface CardLedgerDrainOptions {
  /** Time between runs of the job. */
  readonly intervalMs?: number;
  /** Events handed to the sink per call. */
  readonly batchSizeMax?: number;
  /** Calls per shard per run, so one run always ends. */
  readonly batchesPerShardMax?: number;
  /** The wait after an event's first failed delivery; it doubles per failure up to the max. */
  readonly backoffBaseMs?: number;
  readonly backoffMaxMs?: number;
  /** One draining process at a time across processes (decision 40); none: every process. */
  readonly lease?: JobLease;
  /** Called after the sink answered and before the rows are marked (tests crash here). */
  readonly onPosted?: (events: readonly CardLedgerEvent[]) => void | Promise<void>;
}

const DEFAULTS = {
  intervalMs: 250,
  batchSizeMax: 200,
  batchesPerShardMax: 50,
  backoffBaseMs: 500,
  backoffMaxMs: 60_000,
};
const RUN_TIMEOUT_MS = 60_000;

/** What one run did. */
export interface CardLedgerDrainSummary {
  readonly posted: number;
  /** Events refused by the sink or caught in a fault (recorded, tried again after a backoff). */
  readonly failed: number;
}

/**
 * Hands card ledger events (card_ledger_outbox rows, written in the transaction of each change
 * of a hold or a capture) to a {@link CardPostingSink}, and deletes each row once the sink
 * answered it posted (decision 52). Read, post, then delete: a crash between posting and
 * deleting hands the same events again, and the sink, idempotent by (authorization,
 * generation), posts nothing twice. A refusal or a fault is recorded on the row (`attempts`,
 * `last_error`) and tried again after a doubling backoff; the authorization's later events wait
 * behind it, so they are always handed over in order.
 */
export class CardLedgerDrain {
  readonly #router: Router;
  readonly #options: typeof DEFAULTS & CardLedgerDrainOptions;
  /** The draining loop, for metrics. */
  readonly jobs = new JobRunner();
  #sink: CardPostingSink | null = null;

  constructor(router: Router, options: CardLedgerDrainOptions = {}) {
    this.#router = router;
    this.#options = { ...DEFAULTS, ...options };
  }

  /** Whether a sink is attached (the drain does nothing without one). */
  get attached(): boolean {
    return this.#sink !== null;
  }

  /**
   * Drains to `sink` every `intervalMs` until {@link stop}, behind `lease` when given (which
   * overrides the constructor's).
   */
  start(sink: CardPostingSink, lease?: JobLease): void {
    this.#sink = sink;
    const leaseOf = lease ?? this.#options.lease;
    if (this.jobs.snapshot().length === 0) {
      this.jobs.add({
        name: 'card-ledger-postings',
        intervalMs: this.#options.intervalMs,
        runTimeoutMs: RUN_TIMEOUT_MS,
        runAtStart: true,
        ...(leaseOf === undefined ? {} : { lease: leaseOf }),
        run: async (signal) => {
          await this.runOnce(signal);
        },
      });
    }
    this.jobs.start();
  }

  stop(): Promise<void> {
    return this.jobs.stop();
  }

  /** One pass over every shard; a shard that fails is left for the next run. */
  async runOnce(signal?: AbortSignal, sink = this.#sink): Promise<CardLedgerDrainSummary> {
    if (sink === null) throw new Error('the card ledger drain has no sink attached');
    let posted = 0;
    let failed = 0;
    const errors: unknown[] = [];
    for (const shardId of this.#router.map.shardIds) {
      if (signal?.aborted) break;
      try {
        const done = await this.#drainShard(shardId, sink, signal);
        posted += done.posted;
        failed += done.failed;
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0)
      throw new AggregateError(errors, `${errors.length} shard(s) could not be drained`);
    return { posted, failed };
  }

  async #drainShard(
    shardId: number,
    sink: CardPostingSink,
    signal?: AbortSignal,
  ): Promise<CardLedgerDrainSummary> {
    let posted = 0;
    let failed = 0;
    for (let round = 0; round < this.#options.batchesPerShardMax; round += 1) {
      if (signal?.aborted) break;
      const { value: due } = await this.#router.readShard(
        shardId,
        (db) => listDueCardLedgerEvents(db, this.#options.batchSizeMax),
        { consistency: 'primary' },
      );
      if (due.length === 0) break;
      const done = await this.#deliver(shardId, sink, due);
      posted += done.posted;
      failed += done.failed;
      if (due.length < this.#options.batchSizeMax) break;
    }
    return { posted, failed };
  }

  async #deliver(
    shardId: number,
    sink: CardPostingSink,
    due: readonly CardLedgerOutboxRow[],
  ): Promise<CardLedgerDrainSummary> {
    const events = due.map(eventOf);
    let results: Awaited<ReturnType<CardPostingSink['post']>>;
    try {
      results = await sink.post(events);
      if (results.length !== events.length)
        throw new Error(`the sink answered ${results.length} results for ${events.length} events`);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      await this.#recordFailures(
        shardId,
        events.map((event) => ({ event, error: message })),
      );
      throw error;
    }
    await this.#options.onPosted?.(events);
    const done = events.filter((_, index) => results[index]?.posted === true);
    const failures = events.flatMap((event, index) => {
      const result = results[index];
      return result && !result.posted ? [{ event, error: result.reason }] : [];
    });
    await this.#router.writeToShard(shardId, async (tx) => {
      await deleteCardLedgerEvents(tx, done);
      await recordCardLedgerFailures(tx, failures, this.#backoff());
    });
    return { posted: done.length, failed: failures.length };
  }

  async #recordFailures(
    shardId: number,
    failures: readonly { readonly event: CardLedgerEvent; readonly error: string }[],
  ): Promise<void> {
    await this.#router
      .writeToShard(shardId, (tx) => recordCardLedgerFailures(tx, failures, this.#backoff()))
      .catch(() => undefined);
  }

  #backoff(): { baseMs: number; maxMs: number } {
    return { baseMs: this.#options.backoffBaseMs, maxMs: this.#options.backoffMaxMs };
  }
}

function eventOf(row: CardLedgerOutboxRow): CardLedgerEvent {
  return {
    authorizationId: row.authorizationId,
    generation: row.generation,
    cardAccountId: row.cardAccountId,
    merchantId: row.merchantId,
    currency: row.currency,
    heldBefore: row.heldBefore,
    heldAfter: row.heldAfter,
    captured: row.captured,
  };
}
