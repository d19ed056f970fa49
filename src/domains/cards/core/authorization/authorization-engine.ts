import { isEntityId } from '../../../../data/entity-id.ts';
import { fingerprintOf } from '../../../../data/idempotency.ts';
import type { Router } from '../../../../data/router.ts';
import { SHARD_BATCH_DEFAULTS, type ShardBatchOptions } from '../../../../engine/batch-client.ts';
import type { BatchLatency } from '../../../../engine/latency-window.ts';
import { ShardBatchEngine } from '../../../../engine/shard-batch-engine.ts';
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
import { CardBatchClient } from './card-batch-client.ts';
import type { CardEntry, CardWork, EngineAnswer } from './card-batch-items.ts';
import type { EngineStatsSnapshot } from './engine-stats.ts';
import {
  assertWellFormed,
  isValidAmount,
  rejectionOf,
  unwrittenOutcome,
} from './request-validation.ts';

/**
 * Tuning of an {@link AuthorizationEngine}; every bound is explicit. The batching options are
 * the engine's (`ShardBatchOptions`: window, batch size in requests and hold moves, queue depth
 * beyond which `authorize` / `moveHold` fail at once with `overloaded`, write wait, latency
 * window, bisection bound); the hold's lifetime is the card one.
 */
export interface AuthorizationEngineOptions extends ShardBatchOptions {
  /** How long an approved hold lives before the sweeper releases it. */
  readonly holdTtlSeconds?: number;
}

/** The batching engine's figures (`src/engine/`) and the hold's lifetime. */
export const AUTHORIZATION_ENGINE_DEFAULTS = {
  ...SHARD_BATCH_DEFAULTS,
  holdTtlSeconds: 7 * 24 * 60 * 60,
} as const satisfies Required<AuthorizationEngineOptions>;

/** An engine's settings: its options with the defaults applied. */
export type AuthorizationEngineSettings = {
  readonly [K in keyof typeof AUTHORIZATION_ENGINE_DEFAULTS]: number;
};

/**
 * The issuer's authorization path, a client of the batching engine (`ShardBatchEngine`,
 * decision 49). Requests and hold moves (captures, reversals: {@link moveHold}) are queued per
 * shard and applied in micro-batches with group commit: a batch closes after
 * `batchWindowMicros` or at `batchSizeMax` items, each shard has a single writer (one batch in
 * flight), and a batch is ONE call of `public.card_engine_batch` in one transaction, so a shard
 * commits once per batch instead of once per request, and no other transaction holds a hot
 * account's row lock while the batches wait for it. A full queue refuses at once
 * (`overloaded`) rather than letting latency grow without bound; stand-in reads
 * {@link queueDepth} and {@link latency} to decide when the issuer path is overloaded.
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
  readonly #client: CardBatchClient;
  readonly #engine: ShardBatchEngine<CardWork, EngineAnswer, CardEntry>;
  readonly #advices: StandInAdviceApplier;

  constructor(router: Router, options: AuthorizationEngineOptions = {}) {
    this.#router = router;
    this.#settings = Object.freeze({ ...AUTHORIZATION_ENGINE_DEFAULTS, ...options });
    for (const [name, value] of Object.entries(this.#settings)) {
      if (!Number.isInteger(value) || value < (name === 'batchWindowMicros' ? 0 : 1))
        throw new RangeError(`AuthorizationEngine option ${name} must be a positive integer`);
    }
    const { holdTtlSeconds, ...batching } = this.#settings;
    this.#client = new CardBatchClient(holdTtlSeconds);
    this.#engine = new ShardBatchEngine(router, 'authorization engine', this.#client, batching);
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
    if (this.#engine.closed)
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
      this.#client.counters.rejectedUnwritten += 1;
      const outcome = unwrittenOutcome(request, rejection, bucketCount);
      return Promise.resolve({ value: outcome, token: null, replayed: false });
    }
    return this.#engine.submit({
      kind: 'authorize',
      request,
      id: authorizationIdOf(
        request.cardId,
        request.requestId,
        this.#router.map.bucketOf(request.cardId),
      ),
      requeued: false,
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
    if (this.#engine.closed)
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
    return this.#engine.submit({
      kind: 'move',
      move: {
        authorizationId,
        capture: kind === 'capture',
        amount,
        key: idempotencyKey,
        fingerprint: fingerprintOf({ id: authorizationId, amount }),
      },
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
    return this.#engine.queueDepth(shardId);
  }

  /**
   * Batch latency of a shard over the last `latencyWindowMs` (zeros when no batch ended in it),
   * counting only batches that ended in time slots begun after `sinceMs` when given.
   */
  latency(shardId: number, sinceMs?: number): BatchLatency {
    return this.#engine.latency(shardId, sinceMs);
  }

  /** Counters since the engine started: the batching engine's and the card ones. */
  get stats(): EngineStatsSnapshot {
    return { ...this.#engine.stats, ...this.#client.counters };
  }

  /** Refuses new requests, sends every queued one at once and waits for all batches to end. */
  close(): Promise<void> {
    return this.#engine.close();
  }
}
