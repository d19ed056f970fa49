import { isMainstayError } from '../../../../errors/mainstay-error.ts';
import type { CircuitState } from './issuer-circuit.ts';
import type { IssuerPath } from './issuer-path.ts';

/**
 * Why a shard's requests are sent to stand-in now. `circuit_open`: the issuer failed recently
 * (the circuit is open or half-open). `queue_depth`: the shard's engine queue is at
 * `queueDepthStandInMin`. `latency`: the recent p99 went over `latencyStandInMs` and the
 * issuer gets only a ramping share of requests until its answers are fast again. `overloaded`:
 * the engine refused a request because its queue was full, within the last probe interval.
 */
export const DIVERSION_REASONS = [
  'none',
  'circuit_open',
  'queue_depth',
  'latency',
  'overloaded',
] as const;
export type DiversionReason = (typeof DIVERSION_REASONS)[number];

/** The figures of one shard's diversion, for stats and metrics. */
export interface ShardDiversion {
  readonly reason: DiversionReason;
  /** The shard's issuer p99 over the engine's recent window, in ms (`null`: no batch in it). */
  readonly latencyP99Ms: number | null;
  /** Requests waiting in the shard's engine queue. */
  readonly queueDepth: number;
  /** Percent of requests let through to the issuer while the latency diversion ramps (100: all). */
  readonly issuerSharePercent: number;
}

/** The thresholds and bounds of capacity diversion (all part of the stand-in options). */
export interface DiversionOptions {
  readonly queueDepthStandInMin: number;
  readonly latencyStandInMs: number;
  /** At least one request per this interval tries the issuer, whatever the share. */
  readonly probeIntervalMs: number;
  /** How often the share of a latency-diverted shard is doubled (fast) or halved (slow). */
  readonly recoveryStepMs: number;
  /** The share, in percent, a latency diversion starts at and never goes below. */
  readonly recoverySharePercentMin: number;
}

interface Ramp {
  sharePercent: number;
  /** When the share last changed (or the diversion began): evidence is what ended after it. */
  stepAtMs: number;
  /** Percent of a request owed to the issuer (the share, added up per request). */
  creditPercent: number;
}

/**
 * Capacity diversion per shard (the Double-11 overload path), and the way back from it. A
 * shard whose recent p99 (the engine's time window) is over `latencyStandInMs` is diverted,
 * but never wholly: a share of its requests, from `recoverySharePercentMin` percent, still
 * goes to the issuer, plus one per `probeIntervalMs` at least. Every `recoveryStepMs` the
 * batches that ended since the last step are the evidence: fast, the share doubles; slow, it
 * halves. At 100% the diversion ends, and the samples older than that moment no longer count
 * towards a new one, so the slow spell that caused it cannot cause it again. A healthy shard
 * is back on the issuer a few steps after it recovered (5% to 100% is five doublings), where a
 * p99 over the last N batches with one request per second let through took minutes.
 */
export class OverloadDiversion {
  readonly #issuer: Pick<IssuerPath, 'queueDepth' | 'latencyP99Ms'>;
  readonly #options: DiversionOptions;
  readonly #ramps = new Map<number, Ramp>();
  /** Per shard: when the last latency diversion ended (older samples are no evidence). */
  readonly #clearedAtMs = new Map<number, number>();
  /** Per shard: when the engine last refused a request with `overloaded`. */
  readonly #overloadedAtMs = new Map<number, number>();

  constructor(issuer: Pick<IssuerPath, 'queueDepth' | 'latencyP99Ms'>, options: DiversionOptions) {
    if (options.recoveryStepMs < 1) throw new RangeError('recoveryStepMs must be at least 1');
    if (options.recoverySharePercentMin < 1 || options.recoverySharePercentMin > 100)
      throw new RangeError('recoverySharePercentMin must be 1 to 100');
    this.#issuer = issuer;
    this.#options = options;
  }

  /**
   * Where a request of `shardId` goes when its circuit is closed: the issuer, or stand-in with
   * the reason. `lastIssuerAttemptMs` is when a request of the shard last went to the issuer.
   */
  route(shardId: number, nowMs: number, lastIssuerAttemptMs: number): 'issuer' | DiversionReason {
    if (this.#issuer.queueDepth(shardId) >= this.#options.queueDepthStandInMin)
      return 'queue_depth';
    let ramp = this.#ramps.get(shardId);
    if (!ramp) {
      if (!this.#slow(this.#issuer.latencyP99Ms(shardId, this.#clearedAtMs.get(shardId))))
        return 'issuer';
      ramp = {
        sharePercent: this.#options.recoverySharePercentMin,
        stepAtMs: nowMs,
        creditPercent: 0,
      };
      this.#ramps.set(shardId, ramp);
      return 'latency';
    }
    if (nowMs - ramp.stepAtMs >= this.#options.recoveryStepMs && this.#step(shardId, ramp, nowMs))
      return 'issuer';
    if (nowMs - lastIssuerAttemptMs >= this.#options.probeIntervalMs) return 'issuer';
    ramp.creditPercent += ramp.sharePercent;
    if (ramp.creditPercent < 100) return 'latency';
    ramp.creditPercent -= 100;
    return 'issuer';
  }

  /** Moves the share by the evidence since the last step; `true` when the diversion ended. */
  #step(shardId: number, ramp: Ramp, nowMs: number): boolean {
    const p99 = this.#issuer.latencyP99Ms(shardId, ramp.stepAtMs);
    // No batch ended since the last step: no evidence either way, wait for some.
    if (p99 === null) return false;
    const { recoverySharePercentMin } = this.#options;
    ramp.sharePercent = this.#slow(p99)
      ? Math.max(recoverySharePercentMin, Math.floor(ramp.sharePercent / 2))
      : Math.min(100, ramp.sharePercent * 2);
    ramp.stepAtMs = nowMs;
    if (ramp.sharePercent < 100) return false;
    this.#ramps.delete(shardId);
    this.#clearedAtMs.set(shardId, nowMs);
    return true;
  }

  #slow(p99Ms: number | null): boolean {
    return p99Ms !== null && p99Ms > this.#options.latencyStandInMs;
  }

  /** Notes that the engine refused a request of `shardId` as `overloaded` (its queue is full). */
  refused(shardId: number, nowMs: number): void {
    this.#overloadedAtMs.set(shardId, nowMs);
  }

  /** The shard's diversion as it stands, without moving anything. */
  snapshot(shardId: number, circuit: CircuitState, nowMs: number): ShardDiversion {
    const queueDepth = this.#issuer.queueDepth(shardId);
    const latencyP99Ms = this.#issuer.latencyP99Ms(shardId);
    const ramp = this.#ramps.get(shardId);
    const overloadedAtMs = this.#overloadedAtMs.get(shardId);
    const reason: DiversionReason =
      circuit !== 'closed'
        ? 'circuit_open'
        : queueDepth >= this.#options.queueDepthStandInMin
          ? 'queue_depth'
          : ramp
            ? 'latency'
            : overloadedAtMs !== undefined && nowMs - overloadedAtMs < this.#options.probeIntervalMs
              ? 'overloaded'
              : 'none';
    return {
      reason,
      latencyP99Ms,
      queueDepth,
      issuerSharePercent: ramp?.sharePercent ?? 100,
    };
  }

  /**
   * `issuer` with its `authorize` watched for `overloaded` refusals (noted per shard for
   * {@link snapshot}); everything else goes straight to `issuer`.
   */
  watch(issuer: IssuerPath, shardOf: (cardId: string) => number): IssuerPath {
    const authorize: IssuerPath['authorize'] = async (request) => {
      try {
        return await issuer.authorize(request);
      } catch (error) {
        if (isMainstayError(error, 'overloaded')) this.refused(shardOf(request.cardId), Date.now());
        throw error;
      }
    };
    return new Proxy(issuer, {
      get(target, property) {
        if (property === 'authorize') return authorize;
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  }
}
