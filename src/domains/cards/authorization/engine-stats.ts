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

/** Recent batch latency of one shard. */
export interface BatchLatency {
  /** Exponentially weighted moving average of batch round trips, in milliseconds. */
  readonly ewmaMs: number;
  /** 99th percentile over the last samples (see `latencySampleCountMax`), in milliseconds. */
  readonly p99Ms: number;
  readonly sampleCount: number;
}

/**
 * Batch latency of one shard: an EWMA (reacts fast, cheap) and a small ring of recent samples
 * for a p99, so stand-in can tell "the issuer path is slow" from one slow batch. Stand-in reads
 * it on every request and batches add samples far less often, so the p99 is computed once per
 * new sample, not once per read.
 */
export class LatencyWindow {
  readonly #samples: Float64Array;
  #next = 0;
  #count = 0;
  #ewmaMs = 0;
  #read: BatchLatency | null = null;
  readonly #alpha: number;

  constructor(sampleCountMax: number, alpha = 0.2) {
    this.#samples = new Float64Array(sampleCountMax);
    this.#alpha = alpha;
  }

  record(latencyMs: number): void {
    this.#ewmaMs =
      this.#count === 0 ? latencyMs : this.#ewmaMs + this.#alpha * (latencyMs - this.#ewmaMs);
    this.#samples[this.#next] = latencyMs;
    this.#next = (this.#next + 1) % this.#samples.length;
    this.#count = Math.min(this.#count + 1, this.#samples.length);
    this.#read = null;
  }

  read(): BatchLatency {
    if (this.#count === 0) return { ewmaMs: 0, p99Ms: 0, sampleCount: 0 };
    if (this.#read) return this.#read;
    const sorted = this.#samples.slice(0, this.#count).sort();
    const p99Ms = sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)] ?? 0;
    this.#read = { ewmaMs: this.#ewmaMs, p99Ms, sampleCount: this.#count };
    return this.#read;
  }
}
