import { checkIntegerOptions } from '../../../../errors/integer-options.ts';
import { JobRunner } from '../../../../jobs/job-runner.ts';
import {
  type FailureVerdict,
  QUARANTINE_FAILURE_COUNT_DEFAULT,
  QuarantineTracker,
  type Rejection,
} from './advice-quarantine.ts';
import type { AdviceQueue, ForwardPass } from './advice-queue.ts';
import type { IssuerPath } from './issuer-path.ts';
import { type StandInAdvice, toAuthorizationAdvice } from './stand-in-advice.ts';

/** Bounds and pace of forwarding. */
export interface AdviceForwarderOptions {
  /** Advices per issuer transaction. */
  readonly batchSizeMax: number;
  /** How often each shard's backlog is looked at. */
  readonly forwardIntervalMs: number;
  /** Batches one shard forwards per round before yielding to the next round. */
  readonly batchesPerRoundMax: number;
  /**
   * Rounds in a row the issuer may refuse a shard's first advice (a definite error, not an
   * availability one) before that advice is quarantined so the rest of the shard goes on.
   */
  readonly quarantineFailureCountMax: number;
}

/** Small batches often: a backlog drains in seconds without long issuer transactions. */
export const ADVICE_FORWARDER_DEFAULTS: AdviceForwarderOptions = {
  batchSizeMax: 200,
  forwardIntervalMs: 500,
  batchesPerRoundMax: 50,
  quarantineFailureCountMax: QUARANTINE_FAILURE_COUNT_DEFAULT,
};

/** What the forwarder tells its owner. */
export interface ForwarderEvents {
  /**
   * The issuer committed a batch. Awaited before the drain goes on, so that a drain resolves
   * only once what its owner records of the batch (the shared exposure it releases) is written:
   * else a decision right after it could count the batch twice, on the books and as outstanding,
   * and cap a request the caps had room for. Must not throw.
   */
  forwarded(shardId: number, pass: ForwardPass): Promise<void>;
  failed(shardId: number, error: unknown): void;
  /** An advice the issuer kept refusing was moved to the shard's dead letters. */
  quarantined(shardId: number, advice: StandInAdvice, rejection: Rejection): void;
  /** Whether the periodic round should leave the shard alone for now (it is overloaded). */
  holdBack(shardId: number): boolean;
}

/** One shard's drain: advices forwarded and quarantined, left, and the error that stopped it. */
export interface DrainResult {
  readonly forwarded: number;
  readonly quarantined: number;
  readonly remaining: number;
  readonly error: unknown;
}

/**
 * Forwards stand-in advices to the issuer when it is back: one loop per shard with a backlog,
 * in append order, a bounded batch per issuer transaction, at most one pass per shard at a time
 * (so the order holds and a batch is never applied by two passes at once). A failed pass (the
 * primary still down) is retried at the next tick; the issuer's idempotent `applyAdvices` makes
 * a batch sent twice (a crash between apply and the spool's ack) change nothing the second time.
 *
 * An advice the issuer refuses for what it is (malformed, a card no longer on the shard) would
 * stop its shard for good: {@link QuarantineTracker} finds it and, after
 * `quarantineFailureCountMax` rounds of refusals, it is written to the shard's dead letters
 * (`stand_in_quarantine`) and only then acknowledged in the spool, so it is never lost.
 */
/** A round only starts drains (each bounded by its own writes), so it ends at once. */
const ROUND_TIMEOUT_MS = 5_000;

export class AdviceForwarder {
  readonly #queue: AdviceQueue;
  readonly #issuer: IssuerPath;
  readonly #options: AdviceForwarderOptions;
  readonly #events: ForwarderEvents;
  readonly #running = new Map<number, Promise<DrainResult>>();
  readonly #quarantine: QuarantineTracker;
  /** The rounds' loop, for metrics. */
  readonly jobs = new JobRunner();

  constructor(
    queue: AdviceQueue,
    issuer: IssuerPath,
    events: ForwarderEvents,
    options: Partial<AdviceForwarderOptions> = {},
  ) {
    this.#queue = queue;
    this.#issuer = issuer;
    this.#events = events;
    this.#options = { ...ADVICE_FORWARDER_DEFAULTS, ...options };
    this.#quarantine = new QuarantineTracker(this.#options.quarantineFailureCountMax);
    checkIntegerOptions('advice forwarder', this.#options, 1);
  }

  /** Starts the periodic rounds (a job of {@link jobs}). */
  start(): void {
    if (this.jobs.snapshot().length === 0) {
      this.jobs.add({
        name: 'stand-in-advice-forwarding',
        intervalMs: this.#options.forwardIntervalMs,
        runTimeoutMs: ROUND_TIMEOUT_MS,
        run: async () => this.round(),
      });
    }
    this.jobs.start();
  }

  /** Stops the rounds and waits for passes in flight. */
  async stop(): Promise<void> {
    await this.jobs.stop();
    await Promise.all(this.#running.values());
  }

  /** Starts a drain of every shard with a backlog (skipping shards draining or held back). */
  round(): void {
    const shards = new Set(this.#queue.spool.pending().map((entry) => entry.shardId));
    for (const shardId of shards) {
      if (!this.#running.has(shardId) && !this.#events.holdBack(shardId)) void this.drain(shardId);
    }
  }

  /**
   * Forwards a shard's backlog now, batch after batch (at most `batchesPerRoundMax`), and
   * resolves with what it did; never throws (the error is in the result). A call while the
   * shard is draining waits for that drain, then drains again.
   */
  drain(shardId: number): Promise<DrainResult> {
    const previous = this.#running.get(shardId);
    const next = (previous ?? Promise.resolve()).then(() => this.#drainOnce(shardId));
    this.#running.set(shardId, next);
    void next.then(() => {
      if (this.#running.get(shardId) === next) this.#running.delete(shardId);
    });
    return next;
  }

  async #drainOnce(shardId: number): Promise<DrainResult> {
    let forwarded = 0;
    let quarantined = 0;
    let remaining = this.#queue.pendingCount(shardId);
    for (let batch = 0; remaining > 0 && batch < this.#options.batchesPerRoundMax; batch += 1) {
      const size = this.#quarantine.batchSize(shardId, this.#options.batchSizeMax);
      const sent = this.#queue.pending(shardId).slice(0, size);
      try {
        const pass = await this.#queue.forward(shardId, size, (advices) =>
          this.#issuer.applyAdvices(shardId, advices.map(toAuthorizationAdvice)),
        );
        this.#quarantine.succeeded(shardId, pass.forwarded.length);
        forwarded += pass.forwarded.length;
        remaining = pass.remaining;
        await this.#events.forwarded(shardId, pass);
      } catch (error) {
        const first = sent[0];
        const verdict: FailureVerdict = first
          ? this.#quarantine.failed(shardId, first.adviceId, sent.length, error)
          : { action: 'wait' };
        if (verdict.action === 'isolate') continue;
        if (verdict.action === 'wait' || !first) {
          this.#events.failed(shardId, error);
          return { forwarded, quarantined, remaining, error };
        }
        try {
          await this.#quarantineFirst(shardId, first, verdict.rejection, verdict.failureCount);
        } catch (failure) {
          this.#events.failed(shardId, failure);
          return { forwarded, quarantined, remaining, error: failure };
        }
        quarantined += 1;
        remaining = this.#queue.pendingCount(shardId);
      }
    }
    return { forwarded, quarantined, remaining, error: null };
  }

  /** Dead letter first (durable on the shard), spool acknowledgement second: never lost. */
  async #quarantineFirst(
    shardId: number,
    advice: StandInAdvice,
    rejection: Rejection,
    failureCount: number,
  ): Promise<void> {
    await this.#issuer.quarantineAdvice(shardId, {
      advice: toAuthorizationAdvice(advice),
      errorCode: rejection.code,
      errorMessage: rejection.message,
      failureCount,
    });
    await this.#queue.dropFirst(advice);
    this.#quarantine.quarantined(shardId);
    this.#events.quarantined(shardId, advice, rejection);
  }
}
