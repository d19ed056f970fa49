import { performance } from 'node:perf_hooks';
import { isEntityId } from '../../../../data/entity-id.ts';
import { fingerprintOf } from '../../../../data/idempotency.ts';
import type { Router } from '../../../../data/router.ts';
import { MainstayError } from '../../../../errors/mainstay-error.ts';
import {
  type QuarantineEntry,
  type ReconciliationReport,
  StandInAdviceApplier,
} from './advice-applier.ts';
import { authorizationIdOf } from './authorization-id.ts';
import type { HoldChangeResult, HoldMover } from './authorization-service.ts';
import type {
  AdviceOutcome,
  AuthorizationAdvice,
  AuthorizationOutcome,
  AuthorizationRequest,
} from './authorization-types.ts';
import { EngineStats, type EngineStatsSnapshot } from './engine-stats.ts';
import { runLaneBatch } from './lane-batch.ts';
import type { BatchLatency } from './latency-window.ts';
import {
  assertWellFormed,
  isValidAmount,
  rejectionOf,
  unwrittenOutcome,
} from './request-validation.ts';
import { type EngineAnswer, type LaneItem, ShardLane } from './shard-lane.ts';

/** Tuning of an {@link AuthorizationEngine}; every bound is explicit. */
export interface AuthorizationEngineOptions {
  /** How long the first request of a batch waits for company before the batch closes. */
  readonly batchWindowMicros?: number;
  /** A batch closes as soon as it holds this many items (requests and hold moves). */
  readonly batchSizeMax?: number;
  /** Items waiting per shard; beyond it `authorize` / `moveHold` fail at once with `overloaded`. */
  readonly queueDepthMax?: number;
  /** How long an approved hold lives before the sweeper releases it. */
  readonly holdTtlSeconds?: number;
  /** How long a batch waits for a writable primary (failover) before failing definitely. */
  readonly writeWaitMs?: number;
  /**
   * How far back the latency figure of a shard reaches: batches that ended longer ago are
   * forgotten, so one slow spell (a failover waited out) does not outlive it by minutes.
   */
  readonly latencyWindowMs?: number;
  /**
   * Failing items a failed batch is bisected for; past it, the rest of the batch goes one item
   * per transaction. Bounds the work of a batch full of bad items (see `batch-isolation.ts`).
   */
  readonly bisectedFailuresMax?: number;
}

export const AUTHORIZATION_ENGINE_DEFAULTS = {
  batchWindowMicros: 500,
  batchSizeMax: 512,
  queueDepthMax: 8_192,
  holdTtlSeconds: 7 * 24 * 60 * 60,
  writeWaitMs: 2_000,
  latencyWindowMs: 5_000,
  bisectedFailuresMax: 8,
} as const satisfies Required<AuthorizationEngineOptions>;

/** An engine's settings: its options with the defaults applied. */
export type AuthorizationEngineSettings = {
  readonly [K in keyof typeof AUTHORIZATION_ENGINE_DEFAULTS]: number;
};

/**
 * The issuer's authorization path. Requests and hold moves (captures, reversals:
 * {@link moveHold}) are queued per shard and applied in micro-batches with group commit: a batch
 * closes after `batchWindowMicros` or at `batchSizeMax` items, each shard has a single writer
 * (one batch in flight), and a batch is ONE call of `public.card_engine_batch` in one
 * transaction, so a shard commits once per batch instead of once per request, and no other
 * transaction holds a hot account's row lock while the batches wait for it. A full queue refuses at once (`overloaded`) rather than letting latency
 * grow without bound; stand-in reads {@link queueDepth} and {@link latency} to decide when the
 * issuer path is overloaded.
 *
 * Declines are values ({@link AuthorizationOutcome.status}); only faults throw. A retry with
 * the same request id returns the first outcome; the same request id with other fields fails
 * that request alone with `idempotency_key_reused`.
 *
 * @example
 * const engine = new AuthorizationEngine(router);
 * const outcome = await engine.authorize({ requestId: 'r1', cardId, amount: 1_000n,
 *   currency: 'CNY', merchantId: 'm1', merchantCategory: '5411' });
 * if (outcome.status === 'approved') ship();
 */
export class AuthorizationEngine implements HoldMover {
  readonly #router: Router;
  readonly #settings: AuthorizationEngineSettings;
  readonly #lanes = new Map<number, ShardLane>();
  readonly #stats = new EngineStats();
  readonly #advices: StandInAdviceApplier;
  #closed = false;

  constructor(router: Router, options: AuthorizationEngineOptions = {}) {
    this.#router = router;
    this.#settings = Object.freeze({ ...AUTHORIZATION_ENGINE_DEFAULTS, ...options });
    for (const [name, value] of Object.entries(this.#settings)) {
      if (!Number.isInteger(value) || value < (name === 'batchWindowMicros' ? 0 : 1))
        throw new RangeError(`AuthorizationEngine option ${name} must be a positive integer`);
    }
    this.#advices = new StandInAdviceApplier(router, {
      batchSizeMax: this.#settings.batchSizeMax,
      holdTtlSeconds: this.#settings.holdTtlSeconds,
      writeWaitMs: this.#settings.writeWaitMs,
    });
  }

  /** Decides one request; see the class notes. */
  async authorize(request: AuthorizationRequest): Promise<AuthorizationOutcome> {
    return (await this.authorizeWithToken(request)).value;
  }

  /**
   * Like {@link authorize}, also returning the consistency token of the batch's commit (for the
   * `Mainstay-Consistency-Token` header) and whether the outcome was a replay.
   */
  authorizeWithToken(request: AuthorizationRequest): Promise<EngineAnswer> {
    if (this.#closed)
      return Promise.reject(
        new MainstayError('service_unavailable', 'the authorization engine is closed'),
      );
    try {
      assertWellFormed(request);
    } catch (error) {
      return Promise.reject(error);
    }
    const bucketCount = this.#router.map.snapshot.bucketCount;
    const rejection = rejectionOf(request, bucketCount);
    if (rejection !== null) {
      this.#stats.rejectedUnwritten += 1;
      const outcome = unwrittenOutcome(request, rejection, bucketCount);
      return Promise.resolve({ value: outcome, token: null, replayed: false });
    }
    const lane = this.#admit(request.cardId);
    if (!(lane instanceof ShardLane)) return Promise.reject(lane);
    return new Promise<EngineAnswer>((resolve, reject) => {
      lane.push({
        kind: 'authorize',
        request,
        id: authorizationIdOf(
          request.cardId,
          request.requestId,
          this.#router.map.bucketOf(request.cardId),
        ),
        enqueuedAtMs: performance.now(),
        requeued: false,
        resolve,
        reject,
      });
      this.#schedule(lane);
    });
  }

  /**
   * Captures (`kind` `capture`) or reverses part or all (`amount` `null`) of an approved hold,
   * through the hold's shard lane: the single writer applies it in the same batch transaction
   * as the authorizations, so hot accounts have one writer and nobody queues on their row
   * locks. Same answers as the service's direct path: idempotent by `idempotencyKey`
   * (`replayed` for a retry, `idempotency_key_reused` for another request under the key),
   * `resource_not_found`, `state_conflict` for a hold that is not open, `invalid_amount` for
   * a bad amount or more than is held. A failed move fails alone, never its batch.
   */
  moveHold(
    kind: 'capture' | 'reverse',
    authorizationId: string,
    amount: bigint | null,
    idempotencyKey: string,
  ): Promise<HoldChangeResult> {
    if (this.#closed)
      return Promise.reject(
        new MainstayError('service_unavailable', 'the authorization engine is closed'),
      );
    if (!isEntityId(authorizationId, 'auth'))
      return Promise.reject(
        new MainstayError('resource_not_found', `no authorization ${authorizationId}`),
      );
    if (amount !== null && !isValidAmount(amount))
      return Promise.reject(
        new MainstayError('invalid_amount', 'amount must be 1 to 2^53 - 1 minor units'),
      );
    const lane = this.#admit(authorizationId);
    if (!(lane instanceof ShardLane)) return Promise.reject(lane);
    return new Promise<HoldChangeResult>((resolve, reject) => {
      lane.push({
        kind: 'move',
        move: {
          authorizationId,
          capture: kind === 'capture',
          amount,
          key: idempotencyKey,
          fingerprint: fingerprintOf({ id: authorizationId, amount }),
        },
        enqueuedAtMs: performance.now(),
        resolve,
        reject,
      });
      this.#schedule(lane);
    });
  }

  /**
   * Applies stand-in advices for one shard (see {@link StandInAdviceApplier.apply}); one
   * transaction per `batchSizeMax` advices. Runs beside the queue: row locks, not the lane,
   * keep it consistent with concurrent batches.
   */
  applyAdvices(shardId: number, advices: readonly AuthorizationAdvice[]): Promise<AdviceOutcome[]> {
    return this.#advices.apply(shardId, advices);
  }

  /**
   * The settings in force (options with defaults applied). Stand-in reads `holdTtlSeconds`
   * from here so the hold expiry it states in its answers is the one the issuer gives the
   * advice: one setting, no second copy to drift.
   */
  get settings(): AuthorizationEngineSettings {
    return this.#settings;
  }

  /** Keeps an advice that cannot be applied in the shard's dead letters (see the applier). */
  quarantineAdvice(shardId: number, entry: QuarantineEntry): Promise<void> {
    return this.#advices.quarantine(shardId, entry);
  }

  /** Counts per advice result and the exposure stand-in took on one shard. */
  reconciliationReport(shardId: number): Promise<ReconciliationReport> {
    return this.#advices.report(shardId);
  }

  /** Requests waiting on a shard (not counting the batch in flight). */
  queueDepth(shardId: number): number {
    return this.#lanes.get(shardId)?.depth ?? 0;
  }

  /**
   * Batch latency of a shard over the last `latencyWindowMs` (zeros when no batch ended in it),
   * counting only batches that ended in time slots begun after `sinceMs` when given.
   */
  latency(shardId: number, sinceMs?: number): BatchLatency {
    const lane = this.#lanes.get(shardId);
    if (!lane) return { p99Ms: 0, sampleCount: 0, windowMs: this.#settings.latencyWindowMs };
    return lane.latency.read(Date.now(), sinceMs);
  }

  /** Counters since the engine started. */
  get stats(): EngineStatsSnapshot {
    return this.#stats.snapshot();
  }

  /** Refuses new requests, sends every queued one at once and waits for all batches to end. */
  async close(): Promise<void> {
    this.#closed = true;
    for (;;) {
      const busy = [...this.#lanes.values()].filter((lane) => lane.depth > 0 || lane.running);
      if (busy.length === 0) return;
      for (const lane of busy) if (!lane.running) this.#flush(lane);
      await Promise.all(busy.map((lane) => lane.running));
    }
  }

  /** The lane of `key`'s shard, or the `overloaded` error when its queue is full. */
  #admit(key: string): ShardLane | MainstayError {
    const shardId = this.#router.map.shardOf(key);
    const lane = this.#lane(shardId);
    if (lane.depth < this.#settings.queueDepthMax) return lane;
    this.#stats.overloaded += 1;
    return new MainstayError(
      'overloaded',
      `shard ${shardId} has ${lane.depth} items queued (queueDepthMax ${this.#settings.queueDepthMax})`,
    );
  }

  #lane(shardId: number): ShardLane {
    let lane = this.#lanes.get(shardId);
    if (!lane) {
      lane = new ShardLane(shardId, this.#settings.latencyWindowMs);
      this.#lanes.set(shardId, lane);
    }
    return lane;
  }

  /** Starts a batch when the window has passed or the batch is full; else sets a wake-up. */
  #schedule(lane: ShardLane): void {
    if (lane.running || lane.depth === 0) return;
    const oldest = lane.oldestEnqueuedAtMs ?? performance.now();
    const waitedMicros = (performance.now() - oldest) * 1_000;
    const { batchWindowMicros, batchSizeMax } = this.#settings;
    if (this.#closed || lane.depth >= batchSizeMax || waitedMicros >= batchWindowMicros) {
      this.#flush(lane);
      return;
    }
    if (lane.cancelWake) return;
    const wake = () => {
      lane.cancelWake = null;
      this.#schedule(lane);
    };
    const remainingMicros = batchWindowMicros - waitedMicros;
    // Timers have millisecond resolution: a sub-millisecond window re-checks on each turn of
    // the event loop instead (I/O still runs between checks).
    if (remainingMicros >= 1_000) {
      const timer = setTimeout(wake, Math.floor(remainingMicros / 1_000));
      lane.cancelWake = () => clearTimeout(timer);
    } else {
      const immediate = setImmediate(wake);
      lane.cancelWake = () => clearImmediate(immediate);
    }
  }

  #flush(lane: ShardLane): void {
    lane.cancelWake?.();
    lane.cancelWake = null;
    const batch = lane.take(this.#settings.batchSizeMax);
    if (batch.length === 0) return;
    lane.running = this.#runBatch(lane, batch).finally(() => {
      lane.running = null;
      this.#schedule(lane);
    });
  }

  #runBatch(lane: ShardLane, batch: readonly LaneItem[]): Promise<void> {
    return runLaneBatch(
      {
        router: this.#router,
        holdTtlSeconds: this.#settings.holdTtlSeconds,
        writeWaitMs: this.#settings.writeWaitMs,
        bisectedFailuresMax: this.#settings.bisectedFailuresMax,
        stats: this.#stats,
      },
      lane,
      batch,
    );
  }
}
