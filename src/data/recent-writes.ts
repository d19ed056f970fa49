/** How long a recent write is remembered, here and in the shared store (decision 35). */
export const RECENT_WRITE_AGE_MS_DEFAULT = 60_000;

/**
 * The recent-write tracker (the seed's MainstayLru): for keys written through this process, the
 * shard and WAL position of the last write, so that a read of a key just written is not served
 * stale even when the caller brought no consistency token. Bounded in entries (least recently
 * written evicted first) and in age (an entry older than any sane replica lag is useless).
 */
export class RecentWriteTracker {
  readonly entryCountMax: number;
  readonly ageMsMax: number;
  readonly #entries = new Map<string, { shardId: number; lsn: bigint; at: number }>();

  constructor(options: { entryCountMax?: number; ageMsMax?: number } = {}) {
    this.entryCountMax = options.entryCountMax ?? 100_000;
    this.ageMsMax = options.ageMsMax ?? RECENT_WRITE_AGE_MS_DEFAULT;
  }

  record(key: string, shardId: number, lsn: bigint, now = Date.now()): void {
    const previous = this.#entries.get(key);
    this.#entries.delete(key);
    const position =
      previous && previous.shardId === shardId && previous.lsn > lsn ? previous.lsn : lsn;
    this.#entries.set(key, { shardId, lsn: position, at: now });
    while (this.#entries.size > this.entryCountMax) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
  }

  /** The last write position of `key` on `shardId`, if recent enough to matter. */
  positionFor(key: string, shardId: number, now = Date.now()): bigint | null {
    const entry = this.#entries.get(key);
    if (!entry || entry.shardId !== shardId) return null;
    if (now - entry.at > this.ageMsMax) {
      this.#entries.delete(key);
      return null;
    }
    return entry.lsn;
  }

  get size(): number {
    return this.#entries.size;
  }

  clear(): void {
    this.#entries.clear();
  }
}
