import type { Router } from '../../../../data/router.ts';
import type { JobLease } from '../../../../jobs/job-lease.ts';
import { JobRunner } from '../../../../jobs/job-runner.ts';
import {
  type CrossShardMove,
  type CrossShardRow,
  type CrossShardState,
  listDueCrossShard,
  readCrossShard,
  recordCrossShardFailure,
} from '../../store/cross-shard-store.ts';
import type { LedgerAccountService } from '../ledger-account-service.ts';
import type { LedgerEngine } from '../ledger-engine.ts';
import type { LedgerOutcome, LedgerRequest, LedgerStatus } from '../ledger-types.ts';
import { CrossShardRowWriter } from './cross-shard-row-writer.ts';
import {
  CROSS_SHARD_DEFAULTS,
  type CrossShardLeg,
  isFinal,
  legId,
  stripeIndexOf,
} from './cross-shard-types.ts';

/** A durable action of the driver: a step's ledger request, or a state change of a row. */
export type CrossShardAction = CrossShardLeg | 'credit-transit' | `state:${CrossShardState}`;

/** Tuning of a {@link CrossShardDriver}. */
export interface CrossShardDriverOptions {
  /** The in_transit account's code (as the starting side's). */
  readonly transitCode?: string;
  /** Time between runs of the job. */
  readonly intervalMs?: number;
  /** The wait after a row's first failed attempt; it doubles per failure up to `backoffMaxMs`. */
  readonly backoffBaseMs?: number;
  readonly backoffMaxMs?: number;
  /** Rows read per shard per run, and rows driven at once per shard. */
  readonly scanLimit?: number;
  readonly concurrency?: number;
  /** One driving process at a time across processes (decision 40); none: every process drives. */
  readonly lease?: JobLease;
  /** Called after each durable action, before the next (tests stop the driver here). */
  readonly onAction?: (action: CrossShardAction, id: string) => void | Promise<void>;
}

const DEFAULTS = {
  transitCode: CROSS_SHARD_DEFAULTS.transitCode,
  intervalMs: 500,
  backoffBaseMs: 500,
  backoffMaxMs: 60_000,
  scanLimit: 512,
  // Each step waits on a synchronous commit, and the engine batches the steps that arrive
  // together: more rows in flight is more rows driven a second, not more commits.
  concurrency: 64,
};
const RUN_TIMEOUT_MS = 60_000;
/** Steps a row needs at most (pending_debit -> credit_pending -> posting -> posted), with slack. */
const STEPS_PER_ROW_MAX = 8;
/** How a void may come out and still leave nothing reserved (an expired one is swept). */
const RELEASED: ReadonlySet<LedgerStatus> = new Set([
  'voided',
  'pending_transfer_already_voided',
  'pending_transfer_already_expired',
  'pending_transfer_expired',
  'pending_transfer_not_found',
]);
const EXPIRED: ReadonlySet<LedgerStatus> = new Set([
  'pending_transfer_expired',
  'pending_transfer_already_expired',
]);

/** What one run did. */
export interface CrossShardRunSummary {
  readonly posted: number;
  readonly voided: number;
  /** Rows whose step failed this run (recorded on the row, tried again after its backoff). */
  readonly failed: number;
}

/**
 * Completes cross-shard transfers (decision 49, "Across shards"): a leased job that reads each
 * shard's coordinator rows not final and moves each through `pending_debit -> credit_pending ->
 * posting -> posted`, or `-> voiding -> voided` when a leg is refused. Each step is a ledger
 * request with a derived id through the engine (a repeat answers its first outcome), then a
 * conditional UPDATE from the state it read, so a crash between any two actions, or two drivers
 * at once, repeat at most an answered request and never move a row twice. A failed step (a shard
 * down) is recorded on the row (`attempts`, `last_error`) and retried after a backoff.
 */
export class CrossShardDriver {
  readonly #router: Router;
  readonly #engine: LedgerEngine;
  readonly #accounts: LedgerAccountService;
  readonly #options: typeof DEFAULTS & CrossShardDriverOptions;
  /** The rows' writes, batched per shard with every other driver step's in this process. */
  readonly #rows: CrossShardRowWriter;
  /** The driving loop, for metrics. */
  readonly jobs = new JobRunner();

  constructor(
    router: Router,
    engine: LedgerEngine,
    accounts: LedgerAccountService,
    options: CrossShardDriverOptions = {},
  ) {
    this.#router = router;
    this.#engine = engine;
    this.#accounts = accounts;
    this.#options = { ...DEFAULTS, ...options };
    this.#rows = new CrossShardRowWriter(router);
  }

  /** Drives every `intervalMs` (behind the lease, if given) until {@link stop}. */
  start(): void {
    if (this.jobs.snapshot().length === 0) {
      this.jobs.add({
        name: 'ledger-cross-shard',
        intervalMs: this.#options.intervalMs,
        runTimeoutMs: RUN_TIMEOUT_MS,
        runAtStart: true,
        ...(this.#options.lease === undefined ? {} : { lease: this.#options.lease }),
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

  /** Stops the job and waits for the row writes in flight; `drive` is refused afterwards. */
  async close(): Promise<void> {
    await this.jobs.stop();
    await this.#rows.close();
  }

  /**
   * One pass: every shard's due rows, driven as far as they go. Throws after the pass when a
   * shard could not be read or a row failed a step, so the job counts the run as failed.
   */
  async runOnce(signal?: AbortSignal): Promise<CrossShardRunSummary> {
    const shards = await Promise.allSettled(
      this.#router.map.shardIds.map((shardId) => this.#driveShard(shardId, signal)),
    );
    const summary = { posted: 0, voided: 0, failed: 0 };
    let failure: unknown = null;
    for (const shard of shards) {
      if (shard.status === 'rejected') {
        failure ??= shard.reason;
        continue;
      }
      summary.posted += shard.value.posted;
      summary.voided += shard.value.voided;
      summary.failed += shard.value.failed;
      failure ??= shard.value.error;
    }
    if (failure !== null) throw failure;
    return summary;
  }

  /**
   * Drives transfer `id` (on the shard of `debitAccountId`) to a final state now, whatever its
   * backoff; throws at the first failed step without recording it.
   */
  async drive(id: string, debitAccountId: string): Promise<CrossShardRow> {
    let row = await this.#read(id, debitAccountId);
    for (let step = 0; step < STEPS_PER_ROW_MAX && !isFinal(row.state); step += 1) {
      row = await this.#advance(row);
    }
    return row;
  }

  async #driveShard(shardId: number, signal: AbortSignal | undefined) {
    const { value: rows } = await this.#router.readShard(
      shardId,
      (db) => listDueCrossShard(db, this.#options.scanLimit),
      { consistency: 'primary' },
    );
    const counts = { posted: 0, voided: 0, failed: 0, error: null as unknown };
    let next = 0;
    const worker = async () => {
      for (let row = rows[next++]; row !== undefined; row = rows[next++]) {
        if (signal?.aborted) return;
        const outcome = await this.#driveRow(row, signal);
        if (outcome instanceof Error) {
          counts.failed += 1;
          counts.error ??= outcome;
        } else if (outcome === 'posted') counts.posted += 1;
        else if (outcome === 'voided') counts.voided += 1;
      }
    };
    const workers = Math.min(this.#options.concurrency, rows.length);
    await Promise.all(Array.from({ length: workers }, worker));
    return counts;
  }

  /** Drives one row as far as it goes; a failed step is recorded on the row and answered. */
  async #driveRow(
    first: CrossShardRow,
    signal: AbortSignal | undefined,
  ): Promise<CrossShardState | Error> {
    let row = first;
    try {
      for (let step = 0; step < STEPS_PER_ROW_MAX && !isFinal(row.state); step += 1) {
        if (signal?.aborted) return row.state;
        row = await this.#advance(row);
      }
      return row.state;
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      const backoff = Math.min(
        this.#options.backoffMaxMs,
        this.#options.backoffBaseMs * 2 ** Math.min(row.attempts, 30),
      );
      await this.#router
        .write(row.debitAccountId, (tx) =>
          recordCrossShardFailure(tx, row.id, row.state, failure.message, backoff),
        )
        .catch(() => undefined);
      return failure;
    }
  }

  /** One step of `row` from the state it is in; answers the row after it. */
  #advance(row: CrossShardRow): Promise<CrossShardRow> {
    switch (row.state) {
      case 'pending_debit':
        return this.#creditLeg(row);
      case 'credit_pending':
        return this.#postDebit(row);
      case 'posting':
        return this.#postCredit(row);
      case 'voiding':
        return this.#voidLegs(row);
      default:
        return Promise.resolve(row);
    }
  }

  /** Leg 2, in_transit -> creditor on the creditor's shard: pending, or refused (then void). */
  async #creditLeg(row: CrossShardRow): Promise<CrossShardRow> {
    const transit = await this.#creditTransit(row);
    const outcome = await this.#submit(row, 'credit', transit, {
      kind: 'pending',
      id: legId(row.id, 'credit'),
      debitAccountId: transit,
      creditAccountId: row.creditAccountId,
      amount: row.amount,
      currency: row.currency,
      timeoutSeconds: row.timeoutSeconds,
      ...(row.reference === null ? {} : { reference: row.reference }),
    });
    if (outcome.status === 'pending')
      return this.#move(row, 'credit_pending', { creditLegPending: true });
    return this.#move(row, 'voiding', { voidReason: `credit leg ${outcome.status}` });
  }

  /** Both legs pending: post leg 1 (the point of no return), or void both if it is refused. */
  async #postDebit(row: CrossShardRow): Promise<CrossShardRow> {
    const outcome = await this.#submit(row, 'post-debit', row.debitAccountId, {
      kind: 'post',
      id: legId(row.id, 'post-debit'),
      pendingId: legId(row.id, 'debit'),
    });
    if (outcome.status === 'posted') return this.#move(row, 'posting');
    return this.#move(row, 'voiding', { voidReason: `debit post ${outcome.status}` });
  }

  /**
   * Leg 1 posted: post leg 2. Had leg 2 expired (a recovery longer than its timeout), the credit
   * is made as a plain transfer from the in_transit stripe instead; any other refusal is kept
   * as the row's error and tried again, for an operator to see.
   */
  async #postCredit(row: CrossShardRow): Promise<CrossShardRow> {
    const outcome = await this.#submit(row, 'post-credit', row.creditAccountId, {
      kind: 'post',
      id: legId(row.id, 'post-credit'),
      pendingId: legId(row.id, 'credit'),
    });
    let status = outcome.status;
    if (EXPIRED.has(status) && row.creditTransitId !== null) {
      const late = await this.#submit(row, 'late-credit', row.creditAccountId, {
        kind: 'transfer',
        id: legId(row.id, 'late-credit'),
        debitAccountId: row.creditTransitId,
        creditAccountId: row.creditAccountId,
        amount: row.amount,
        currency: row.currency,
      });
      status = late.status;
    }
    if (status === 'posted') return this.#move(row, 'posted');
    throw new Error(`the credit leg of ${row.id} was posted on the debit side only: ${status}`);
  }

  /** A leg was refused: void leg 2 (if it was applied) and leg 1. */
  async #voidLegs(row: CrossShardRow): Promise<CrossShardRow> {
    const sides: [CrossShardLeg, CrossShardLeg, string][] = [];
    if (row.creditLegPending) sides.push(['void-credit', 'credit', row.creditAccountId]);
    sides.push(['void-debit', 'debit', row.debitAccountId]);
    for (const [step, pending, key] of sides) {
      const outcome = await this.#submit(row, step, key, {
        kind: 'void',
        id: legId(row.id, step),
        pendingId: legId(row.id, pending),
      });
      if (!RELEASED.has(outcome.status))
        throw new Error(`the ${pending} leg of ${row.id} could not be voided: ${outcome.status}`);
    }
    return this.#move(row, 'voided');
  }

  /**
   * The creditor shard's in_transit stripe for `row`: picked by its id among that shard's
   * stripes, then fixed on the row by the first driver, so every driver asks leg 2 alike.
   */
  async #creditTransit(row: CrossShardRow): Promise<string> {
    if (row.creditTransitId !== null) return row.creditTransitId;
    const shardId = this.#router.map.shardOf(row.creditAccountId);
    const stripes = await this.#accounts.stripesOn(
      this.#options.transitCode,
      row.currency,
      shardId,
    );
    const pick = stripes[stripeIndexOf(row.id, stripes.length)] as string;
    const fixed = await this.#rows.fixCreditTransit(row, pick);
    await this.#options.onAction?.('credit-transit', row.id);
    return fixed;
  }

  /** One step's request through the engine, on the shard of `key`. */
  async #submit(
    row: CrossShardRow,
    step: CrossShardLeg,
    key: string,
    request: LedgerRequest,
  ): Promise<LedgerOutcome> {
    const [outcome] = await this.#engine.submit([request], key);
    if (outcome === undefined) throw new Error(`the ledger answered nothing for ${request.id}`);
    await this.#options.onAction?.(step, row.id);
    return outcome;
  }

  /** Moves `row` on from the state it was read in; if another driver did, reads where it is. */
  async #move(
    row: CrossShardRow,
    to: CrossShardState,
    change: CrossShardMove = {},
  ): Promise<CrossShardRow> {
    const moved = await this.#rows.move(row, to, change);
    await this.#options.onAction?.(`state:${to}`, row.id);
    return moved ?? this.#read(row.id, row.debitAccountId);
  }

  async #read(id: string, debitAccountId: string): Promise<CrossShardRow> {
    const { value } = await this.#router.readShard(
      this.#router.map.shardOf(debitAccountId),
      (db) => readCrossShard(db, id),
      { consistency: 'primary' },
    );
    if (value === null) throw new Error(`no cross-shard transfer ${id} on its debtor's shard`);
    return value;
  }
}
