/** Upper bounds of the batch size histogram's buckets (the last one catches everything). */
export const BATCH_SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, Infinity] as const;

/**
 * Counters of one engine, for metrics and for tests that check batching happened (by counts,
 * never by timing). Monotonic, like Prometheus counters.
 */
export class EngineStats {
  batches = 0;
  /** Requests that reached a batch (repeats folded into another request are not counted). */
  requests = 0;
  /** Captures and reversals that reached a batch (repeats of a key sent round again are not). */
  moves = 0;
  /** Requests answered from an earlier stored outcome (retries with the same request id). */
  replays = 0;
  /** Requests refused as `idempotency_key_reused`. */
  conflicts = 0;
  /** Repeats of a request already in the same batch, answered with that request's outcome. */
  folded = 0;
  /** Requests refused because the shard's queue was full. */
  overloaded = 0;
  /** Requests declined before any write (bad amount, malformed card id). */
  rejectedUnwritten = 0;
  /** Batches that failed as a whole (no primary, lost connection...). */
  batchesFailed = 0;
  /**
   * Batches that failed for a reason other than the shard's availability and were split so
   * that only their failing items fail (see `batch-isolation.ts`).
   */
  batchesIsolated = 0;
  /** Transactions run to split failed batches (each one a part of a failed batch). */
  isolationTransactions = 0;
  /** Items that failed alone once their batch was split (bad input, a refused row). */
  itemsFailedAlone = 0;
  /** Largest batch so far. */
  batchSizeMax = 0;
  /** Batch counts per {@link BATCH_SIZE_BUCKETS} bucket (a batch counts in the first that fits). */
  readonly batchSizeHistogram: number[] = BATCH_SIZE_BUCKETS.map(() => 0);

  /** Records a batch of `size` requests and `moveCount` hold moves sent in one call. */
  recordBatch(size: number, moveCount = 0): void {
    this.batches += 1;
    this.requests += size;
    this.moves += moveCount;
    if (size > this.batchSizeMax) this.batchSizeMax = size;
    const bucket = BATCH_SIZE_BUCKETS.findIndex((bound) => size <= bound);
    this.batchSizeHistogram[bucket] = (this.batchSizeHistogram[bucket] ?? 0) + 1;
  }

  /** A plain copy, safe to hand out. */
  snapshot(): EngineStatsSnapshot {
    return {
      batches: this.batches,
      requests: this.requests,
      moves: this.moves,
      replays: this.replays,
      conflicts: this.conflicts,
      folded: this.folded,
      overloaded: this.overloaded,
      rejectedUnwritten: this.rejectedUnwritten,
      batchesFailed: this.batchesFailed,
      batchesIsolated: this.batchesIsolated,
      isolationTransactions: this.isolationTransactions,
      itemsFailedAlone: this.itemsFailedAlone,
      batchSizeMax: this.batchSizeMax,
      batchSizeHistogram: BATCH_SIZE_BUCKETS.map((bound, index) => ({
        le: bound,
        count: this.batchSizeHistogram[index] ?? 0,
      })),
    };
  }
}

export type EngineStatsSnapshot = Omit<
  EngineStats,
  'recordBatch' | 'snapshot' | 'batchSizeHistogram'
> & { readonly batchSizeHistogram: readonly { le: number; count: number }[] };
