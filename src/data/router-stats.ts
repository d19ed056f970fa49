import { CONSISTENCY_LEVELS, type ConsistencyLevel } from './router-options.ts';

/** Why a read went to a primary instead of a replica. */
export const FALLBACK_REASONS = [
  'no_replica',
  'replica_behind',
  'replica_failed',
  /** The shared recent-write store could not be asked (decision 35): the safe side. */
  'recent_writes_unavailable',
] as const;
export type FallbackReason = (typeof FALLBACK_REASONS)[number];

/** The `reads` map's keys ("target:level"), built once rather than on every read. */
const READ_KEYS = {
  primary: readKeysFor('primary'),
  replica: readKeysFor('replica'),
};

function readKeysFor(target: string): Record<ConsistencyLevel, string> {
  return Object.fromEntries(
    CONSISTENCY_LEVELS.map((level) => [level, `${target}:${level}`]),
  ) as Record<ConsistencyLevel, string>;
}

/**
 * Counters a router keeps for its metrics: plain numbers, cheap to bump on the hot path and
 * read by the Prometheus endpoint.
 */
export class RouterStats {
  readonly reads = new Map<string, number>();
  readonly fallbacks = new Map<FallbackReason, number>();
  fallbacksRefused = 0;
  sessionWaits = 0;
  writes = 0;
  writesFailedDefinite = 0;
  writesOutcomeUnknown = 0;
  writeRetries = 0;
  /** Appends a TakeoverWriter on this router diverted to the other DC's takeover tables. */
  writesDiverted = 0;
  /** Operations a BypassWriter on this router decided without the database and spooled. */
  writesSpooled = 0;
  catalogReloads = 0;

  countRead(target: 'primary' | 'replica', consistency: ConsistencyLevel): void {
    const key = READ_KEYS[target][consistency];
    this.reads.set(key, (this.reads.get(key) ?? 0) + 1);
  }

  countFallback(reason: FallbackReason): void {
    this.fallbacks.set(reason, (this.fallbacks.get(reason) ?? 0) + 1);
  }
}
