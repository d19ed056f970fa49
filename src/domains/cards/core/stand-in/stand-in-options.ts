import { checkIntegerOption } from '../../../../errors/integer-options.ts';
import type { AdviceForwarderOptions } from './advice-forwarder.ts';
import { STAND_IN_LIMITS_DEFAULT, type StandInLimits } from './stand-in-limits.ts';

/** How stand-in processing decides when to stand in, and the bounds it keeps. */
export interface StandInOptions {
  readonly limits: StandInLimits;
  /** An issuer attempt slower than this is abandoned and the request decided in stand-in. */
  readonly issuerTimeoutMs: number;
  /** How long a shard's open circuit waits before one probe request tries the issuer again. */
  readonly probeIntervalMs: number;
  /** Capacity diversion: a shard queue this deep (or deeper) sends new requests to stand-in. */
  readonly queueDepthStandInMin: number;
  /** Capacity diversion: a recent issuer p99 latency above this sends requests to stand-in. */
  readonly latencyStandInMs: number;
  /**
   * While a shard is diverted for latency, how often the share of its requests that still go
   * to the issuer doubles (its batches were fast since the last step) or halves (slow).
   */
  readonly recoveryStepMs: number;
  /** The share (percent) of a latency-diverted shard's requests that still go to the issuer. */
  readonly recoverySharePercentMin: number;
  /** A cached card older than this is re-read from a replica before stand-in decides. */
  readonly cardRefreshAgeMs: number;
  /** Bound on one replica read of a card. */
  readonly cardReadTimeoutMs: number;
  /**
   * Bound on one look-up or decision in the stand-in registry on the witness; past it nothing
   * is promised (`issuer_unavailable`).
   */
  readonly registryTimeoutMs: number;
  /**
   * Bound on reading, from a replica, an answer the issuer may already have acknowledged;
   * past it stand-in decides unverified (decision 37).
   */
  readonly acknowledgedReadTimeoutMs: number;
  /** Cards in the status cache. */
  readonly cardCacheCountMax: number;
  /** Cards whose stand-in approvals are counted (window limits). */
  readonly cardsTrackedMax: number;
  /** Forwarded advices remembered in memory. */
  readonly forwardedKeptMax: number;
  /** Issuer answers that arrive after their timeout, remembered for pairing. */
  readonly lateAnswersKeptMax: number;
  readonly forwarder: Partial<AdviceForwarderOptions>;
}

/**
 * Defaults: an issuer that has not answered in a second is treated as down (a card network
 * waits a few seconds at most), and a down shard is probed again every second.
 */
export const STAND_IN_OPTIONS_DEFAULT: StandInOptions = {
  limits: STAND_IN_LIMITS_DEFAULT,
  issuerTimeoutMs: 1_000,
  probeIntervalMs: 1_000,
  queueDepthStandInMin: 4_096,
  latencyStandInMs: 500,
  recoveryStepMs: 500,
  recoverySharePercentMin: 5,
  cardRefreshAgeMs: 60_000,
  cardReadTimeoutMs: 300,
  registryTimeoutMs: 1_000,
  acknowledgedReadTimeoutMs: 300,
  cardCacheCountMax: 100_000,
  cardsTrackedMax: 100_000,
  forwardedKeptMax: 10_000,
  lateAnswersKeptMax: 10_000,
  forwarder: {},
};

/** The options with defaults applied; a bad bound is a programmer error (`RangeError`). */
export function standInOptions(options: Partial<StandInOptions> = {}): StandInOptions {
  const merged = { ...STAND_IN_OPTIONS_DEFAULT, ...options };
  for (const [name, value] of Object.entries(merged)) {
    if (typeof value === 'number') checkIntegerOption(`stand-in option ${name}`, value, 0);
  }
  return merged;
}
