/** Upper bounds of the batch size histogram's buckets (the last one catches everything). */
export const BATCH_SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, Infinity] as const;

/**
 * Counters of one `ShardBatchEngine`, the same for every client, for metrics and for tests
 * that check batching happened (by counts, never by timing). Monotonic, like Prometheus
 * counters. A client keeps the counters only it understands (cards: replays, folded repeats)
 * beside these.
 */
export class EngineStats {
  batches = 0;
  /** Requests that reached a batch, as the client counts them (see `OpenBatch.requestCount`). */
  requests = 0;
  /** Requests refused because the shard's queue was full. */
  overloaded = 0;
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

  /** Records a batch of `size` requests sent in one call. */
  recordBatch(size: number): void {
    this.batches += 1;
    this.requests += size;
    if (size > this.batchSizeMax) this.batchSizeMax = size;
    const bucket = BATCH_SIZE_BUCKETS.findIndex((bound) => size <= bound);
    this.batchSizeHistogram[bucket] = (this.batchSizeHistogram[bucket] ?? 0) + 1;
  }

  /** A plain copy, safe to hand out. */
  snapshot(): EngineStatsSnapshot {
    return {
      batches: this.batches,
      requests: this.requests,
      overloaded: this.overloaded,
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

/** {@link EngineStats} as a plain value. */
export type EngineStatsSnapshot = Readonly<
  Omit<EngineStats, 'recordBatch' | 'snapshot' | 'batchSizeHistogram'>
> & { readonly batchSizeHistogram: readonly { le: number; count: number }[] };
