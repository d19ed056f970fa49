/** Batch latency of one shard, over the recent time window. */
export interface BatchLatency {
  /** 99th percentile of the batches that ended inside the window, in milliseconds (0 if none). */
  readonly p99Ms: number;
  /** Batches that ended inside the window. */
  readonly sampleCount: number;
  /** How far back the window reaches, in milliseconds. */
  readonly windowMs: number;
}

/** Smallest latency told apart from zero, in milliseconds. */
const BUCKET_FLOOR_MS = 0.25;
/** Buckets per doubling: each bucket's bound is 2^(1/4) (19%) above the one before. */
const BUCKETS_PER_OCTAVE = 4;
/** 0.25 ms .. 2^19 * 0.25 ms (about 131 s); anything slower counts in the last bucket. */
const BUCKET_COUNT = 19 * BUCKETS_PER_OCTAVE + 2;

/** Upper bound of bucket `index`, in milliseconds. */
function bucketBoundMs(index: number): number {
  return BUCKET_FLOOR_MS * 2 ** (index / BUCKETS_PER_OCTAVE);
}

function bucketOf(latencyMs: number): number {
  if (!(latencyMs > BUCKET_FLOOR_MS)) return 0;
  const index = Math.ceil(Math.log2(latencyMs / BUCKET_FLOOR_MS) * BUCKETS_PER_OCTAVE);
  return Math.min(index, BUCKET_COUNT - 1);
}

interface Slot {
  /** Start of the slot's time span (`Date.now()` ms, a multiple of the slot length). */
  startMs: number;
  count: number;
  maxMs: number;
  readonly counts: Uint32Array;
}

/**
 * Batch latency of one shard over a sliding time window: `slotCount` slots of
 * `windowMs / slotCount` each, every slot a histogram with buckets 19% apart, so memory and the
 * cost of a read are fixed whatever the load. A sample older than the window is forgotten: a
 * batch that waited out a failover weighs on the p99 for `windowMs`, never for the next N
 * batches (which, with a client diverting traffic away, as cards' stand-in does, could take
 * minutes to come).
 *
 * The p99 is the upper bound of the bucket holding the 99th percentile (never above the
 * largest sample seen), so it reads at most 19% high. A client may read it on every request
 * (cards' stand-in does), so the last read is kept until a sample arrives or the clock enters
 * another slot.
 *
 * @example
 * const window = new LatencyWindow(5_000);
 * window.record(12.5);
 * window.read().p99Ms; // 12.7 (the bucket's bound)
 */
export class LatencyWindow {
  readonly windowMs: number;
  readonly #slotMs: number;
  readonly #slots: Slot[];
  #version = 0;
  #cache: { version: number; slotIndex: number; sinceMs: number; read: BatchLatency } | null = null;

  constructor(windowMs: number, slotCount = 20) {
    if (!Number.isSafeInteger(windowMs) || windowMs < slotCount || slotCount < 1)
      throw new RangeError('the latency window must be at least one millisecond per slot');
    this.windowMs = windowMs;
    this.#slotMs = windowMs / slotCount;
    this.#slots = Array.from({ length: slotCount }, () => ({
      startMs: Number.NEGATIVE_INFINITY,
      count: 0,
      maxMs: 0,
      counts: new Uint32Array(BUCKET_COUNT),
    }));
  }

  /** Adds one batch's latency, ended at `nowMs`. */
  record(latencyMs: number, nowMs: number = Date.now()): void {
    const slotIndex = Math.floor(nowMs / this.#slotMs);
    const slot = this.#slots[slotIndex % this.#slots.length] as Slot;
    const startMs = slotIndex * this.#slotMs;
    if (slot.startMs !== startMs) {
      slot.startMs = startMs;
      slot.count = 0;
      slot.maxMs = 0;
      slot.counts.fill(0);
    }
    slot.count += 1;
    if (latencyMs > slot.maxMs) slot.maxMs = latencyMs;
    slot.counts[bucketOf(latencyMs)] = (slot.counts[bucketOf(latencyMs)] ?? 0) + 1;
    this.#version += 1;
  }

  /**
   * The p99 over the window ending at `nowMs`, counting only slots that began after `sinceMs`
   * (so nothing that ended before it): what a diverting client asks for, "only what happened
   * since I last looked".
   */
  read(nowMs: number = Date.now(), sinceMs: number = Number.NEGATIVE_INFINITY): BatchLatency {
    const slotIndex = Math.floor(nowMs / this.#slotMs);
    const cache = this.#cache;
    if (
      cache &&
      cache.version === this.#version &&
      cache.slotIndex === slotIndex &&
      cache.sinceMs === sinceMs
    )
      return cache.read;
    const read = this.#compute(nowMs, sinceMs);
    this.#cache = { version: this.#version, slotIndex, sinceMs, read };
    return read;
  }

  #compute(nowMs: number, sinceMs: number): BatchLatency {
    const oldestMs = nowMs - this.windowMs;
    const live = this.#slots.filter(
      (slot) => slot.count > 0 && slot.startMs + this.#slotMs > oldestMs && slot.startMs > sinceMs,
    );
    let count = 0;
    let maxMs = 0;
    for (const slot of live) {
      count += slot.count;
      if (slot.maxMs > maxMs) maxMs = slot.maxMs;
    }
    if (count === 0) return { p99Ms: 0, sampleCount: 0, windowMs: this.windowMs };
    const rank = Math.ceil(count * 0.99);
    let seen = 0;
    let p99Ms = maxMs;
    for (let bucket = 0; bucket < BUCKET_COUNT; bucket += 1) {
      for (const slot of live) seen += slot.counts[bucket] ?? 0;
      if (seen >= rank) {
        p99Ms = Math.min(bucketBoundMs(bucket), maxMs);
        break;
      }
    }
    return { p99Ms, sampleCount: count, windowMs: this.windowMs };
  }
}
