import type { EngineStatsSnapshot as BatchEngineStatsSnapshot } from '../../../../engine/engine-stats.ts';

export { BATCH_SIZE_BUCKETS, EngineStats } from '../../../../engine/engine-stats.ts';

/**
 * The card engine's own counters, beside the batching engine's (`src/engine/engine-stats.ts`):
 * what only card authorization knows of its batches. Monotonic, like Prometheus counters.
 */
export class CardEngineCounters {
  /** Captures and reversals that reached a batch (repeats of a key sent round again are not). */
  moves = 0;
  /** Requests answered from an earlier stored outcome (retries with the same request id). */
  replays = 0;
  /** Requests refused as `idempotency_key_reused`. */
  conflicts = 0;
  /** Repeats of a request already in the same batch, answered with that request's outcome. */
  folded = 0;
  /** Requests declined before any write (bad amount, malformed card id). */
  rejectedUnwritten = 0;
}

/**
 * The authorization engine's counters: the batching engine's (batches, `requests` counting
 * authorization requests only, isolation, overload, batch sizes) and the card ones.
 */
export type EngineStatsSnapshot = BatchEngineStatsSnapshot & Readonly<CardEngineCounters>;
