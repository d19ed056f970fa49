import { performance } from 'node:perf_hooks';
import { newEntityId } from '../../../data/entity-id.ts';
import { fingerprintOf } from '../../../data/idempotency.ts';
import type { Router } from '../../../data/router.ts';
import { MainstayError } from '../../../errors/mainstay-error.ts';
import {
  type QuarantineEntry,
  type ReconciliationReport,
  StandInAdviceApplier,
} from './advice-applier.ts';
import { outcomeOfRow } from './authorization-row.ts';
import type {
  AdviceOutcome,
  AuthorizationAdvice,
  AuthorizationOutcome,
  AuthorizationRequest,
} from './authorization-types.ts';
import { type BatchItem, type BatchItemResult, runAuthorizeBatch } from './authorize-batch.ts';
import { type BatchLatency, EngineStats, type EngineStatsSnapshot } from './engine-stats.ts';
import {
  assertWellFormed,
  rejectionOf,
  requestFingerprintFields,
  unwrittenOutcome,
} from './request-validation.ts';
import { type EngineAnswer, type PendingRequest, ShardLane } from './shard-lane.ts';

/** Tuning of an {@link AuthorizationEngine}; every bound is explicit. */
export interface AuthorizationEngineOptions {
  /** How long the first request of a batch waits for company before the batch closes. */
  readonly batchWindowMicros?: number;
  /** A batch closes as soon as it holds this many requests. */
  readonly batchSizeMax?: number;
  /** Requests waiting per shard; beyond it `authorize` fails at once with `overloaded`. */
  readonly queueDepthMax?: number;
  /** How long an approved hold lives before the sweeper releases it. */
  readonly holdTtlSeconds?: number;
  /** How long a batch waits for a writable primary (failover) before failing definitely. */
  readonly writeWaitMs?: number;
  /** Recent batch latencies kept per shard for the p99. */
  readonly latencySampleCountMax?: number;
}

export const AUTHORIZATION_ENGINE_DEFAULTS = {
  batchWindowMicros: 500,
  batchSizeMax: 512,
  queueDepthMax: 8_192,
  holdTtlSeconds: 7 * 24 * 60 * 60,
  writeWaitMs: 2_000,
  latencySampleCountMax: 256,
} as const satisfies Required<AuthorizationEngineOptions>;

/** An engine's settings: its options with the defaults applied. */
export type AuthorizationEngineSettings = {
  readonly [K in keyof typeof AUTHORIZATION_ENGINE_DEFAULTS]: number;
};

/**
 * The issuer's authorization path. Requests are queued per shard and decided in micro-batches
 * with group commit: a batch closes after `batchWindowMicros` or at `batchSizeMax` requests,
 * each shard has a single writer (one batch in flight), and a batch is ONE call of
 * `public.card_authorize_batch` in one transaction, so a shard commits once per batch instead
 * of once per request. A full queue refuses at once (`overloaded`) rather than letting latency
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
export class AuthorizationEngine {
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
    return (await this.authorizeWithToken(request)).outcome;
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
      return Promise.resolve({ outcome, token: null, replayed: false });
    }
    const shardId = this.#router.map.shardOf(request.cardId);
    const lane = this.#lane(shardId);
    if (lane.depth >= this.#settings.queueDepthMax) {
      this.#stats.overloaded += 1;
      return Promise.reject(
        new MainstayError(
          'overloaded',
          `shard ${shardId} has ${lane.depth} authorizations queued (queueDepthMax ${this.#settings.queueDepthMax})`,
        ),
      );
    }
    return new Promise<EngineAnswer>((resolve, reject) => {
      lane.push({
        request,
        fingerprint: fingerprintOf(requestFingerprintFields(request)),
        id: newEntityId('auth', this.#router.map.bucketOf(request.cardId)),
        enqueuedAtMs: performance.now(),
        requeued: false,
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

  /** Recent batch latency of a shard (zeros before its first batch). */
  latency(shardId: number): BatchLatency {
    return this.#lanes.get(shardId)?.latency.read() ?? { ewmaMs: 0, p99Ms: 0, sampleCount: 0 };
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

  #lane(shardId: number): ShardLane {
    let lane = this.#lanes.get(shardId);
    if (!lane) {
      lane = new ShardLane(shardId, this.#settings.latencySampleCountMax);
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

  async #runBatch(lane: ShardLane, batch: readonly PendingRequest[]): Promise<void> {
    const { leaders, repeats } = foldRepeats(batch);
    this.#stats.folded += batch.length - leaders.length;
    this.#stats.recordBatch(leaders.length);
    const items = leaders.map(batchItemOf);
    const first = leaders[0] as PendingRequest;
    const started = performance.now();
    let results: BatchItemResult[];
    let token: string;
    try {
      const written = await this.#router.write(
        first.request.cardId,
        (tx) => runAuthorizeBatch(tx, items, this.#settings.holdTtlSeconds),
        { waitMs: this.#settings.writeWaitMs },
      );
      results = written.value;
      token = written.token;
    } catch (error) {
      this.#stats.batchesFailed += 1;
      for (const pending of batch) pending.reject(error);
      return;
    } finally {
      lane.latency.record(performance.now() - started);
    }
    const again: PendingRequest[] = [];
    leaders.forEach((leader, index) => {
      const settle = this.#settle(leader, results[index], token, again);
      for (const repeat of repeats.get(leader) ?? []) {
        if (repeat.fingerprint !== leader.fingerprint) again.push(repeat);
        else settle(repeat);
      }
    });
    if (again.length > 0) lane.requeue(again);
  }

  /** Answers `leader` from its batch result; returns how to answer its identical repeats. */
  #settle(
    leader: PendingRequest,
    result: BatchItemResult | undefined,
    token: string,
    again: PendingRequest[],
  ): (pending: PendingRequest) => void {
    if (result?.outcome === 'conflict') {
      const settle = (pending: PendingRequest) => {
        this.#stats.conflicts += 1;
        pending.reject(
          new MainstayError(
            'idempotency_key_reused',
            `request id "${pending.request.requestId}" was already used on card ${pending.request.cardId} with other fields`,
          ),
        );
      };
      settle(leader);
      return settle;
    }
    if (!result?.row) {
      // Another process stored this request id between our read and our insert (only possible
      // for a card with no row to lock): one more round finds its row and answers from it.
      if (leader.requeued) {
        leader.reject(
          new MainstayError('internal_error', 'the batch returned no row for a request'),
        );
        return (pending) => again.push(pending);
      }
      leader.requeued = true;
      again.push(leader);
      return (pending) => again.push(pending);
    }
    const replayed = result.outcome === 'replayed';
    const outcome = outcomeOfRow(result.row);
    const settle = (pending: PendingRequest, repeat = true) => {
      if (replayed || repeat) this.#stats.replays += 1;
      pending.resolve({ outcome, token, replayed: replayed || repeat });
    };
    settle(leader, false);
    return settle;
  }
}

/** Splits a batch into one leader per (card, request id) and the repeats that follow it. */
function foldRepeats(batch: readonly PendingRequest[]): {
  leaders: PendingRequest[];
  repeats: Map<PendingRequest, PendingRequest[]>;
} {
  const byKey = new Map<string, PendingRequest>();
  const leaders: PendingRequest[] = [];
  const repeats = new Map<PendingRequest, PendingRequest[]>();
  for (const pending of batch) {
    const key = `${pending.request.cardId}\u0000${pending.request.requestId}`;
    const leader = byKey.get(key);
    if (!leader) {
      byKey.set(key, pending);
      leaders.push(pending);
    } else {
      const list = repeats.get(leader) ?? [];
      list.push(pending);
      repeats.set(leader, list);
    }
  }
  return { leaders, repeats };
}

function batchItemOf(pending: PendingRequest): BatchItem {
  const { request } = pending;
  return {
    id: pending.id,
    requestId: request.requestId,
    cardId: request.cardId,
    amount: request.amount,
    currency: request.currency,
    merchantId: request.merchantId,
    merchantCategory: request.merchantCategory,
    merchantReference: request.merchantReference ?? null,
    fingerprint: pending.fingerprint,
    standInStatus: null,
    decidedAt: null,
  };
}
