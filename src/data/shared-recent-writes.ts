import type { RecentWrite, RecentWriteStore } from '../catalog/recent-write-store.ts';
import { formatLsn, parseLsn } from '../postgres/lsn.ts';
import { Coalescer } from './coalescer.ts';

/** Bounds of the shared recent-write store's client side (router option `sharedRecentWrites`). */
export interface SharedRecentWriteOptions {
  /** A lookup slower than this counts as the store being unreachable: the read goes to the primary. */
  readonly lookupTimeoutMs?: number;
  /** A record slower than this is given up (the write is still acknowledged) and retried later. */
  readonly recordTimeoutMs?: number;
  /** After a failure, how long the store is taken as unreachable before it is tried again. */
  readonly retryAfterMs?: number;
  /** Keys per round trip. */
  readonly batchSizeMax?: number;
  /** How often this router deletes entries past their age. */
  readonly pruneIntervalMs?: number;
  /** Records kept for a retry while the store is unreachable (the oldest are dropped first). */
  readonly pendingCountMax?: number;
}

/**
 * The timeouts stay well under the stand-in processor's issuer timeout (1 s): an engine batch
 * waits for its record, and a slow witness must not turn the issuer path into stand-in.
 */
export const SHARED_RECENT_WRITE_DEFAULTS = {
  lookupTimeoutMs: 250,
  recordTimeoutMs: 250,
  retryAfterMs: 1_000,
  batchSizeMax: 512,
  pruneIntervalMs: 5_000,
  pendingCountMax: 10_000,
} as const satisfies Required<SharedRecentWriteOptions>;

/** A key's last write as the store has it, decoded. */
export interface SharedEntry {
  readonly shardId: number;
  readonly epoch: number;
  readonly lsn: bigint;
}

/** The answer to a lookup: the entry, none, or `unavailable` (then read from the primary). */
export type SharedLookup = SharedEntry | null | 'unavailable';

/** Counters for `/metrics`. */
export class SharedRecentWriteStats {
  recorded = 0;
  recordFailures = 0;
  recordsDropped = 0;
  lookups = 0;
  lookupFailures = 0;
  /** Reads the store kept off a replica that had not replayed another process's write. */
  staleCaught = 0;
  roundTrips = 0;
}

/**
 * A router's side of the shared recent-write store (decision 35): records each keyed write after
 * its commit and before the write is acknowledged, and looks keys up for `session` reads. Both
 * are coalesced (one round trip carries every call queued behind the previous one). Neither ever
 * throws: a lookup that fails answers `unavailable`, and the router then reads from the primary
 * (the safe side); a record that fails is counted, kept for a retry, and the write is
 * acknowledged anyway (it committed; see the decision for the window this leaves).
 */
export class SharedRecentWrites {
  readonly stats = new SharedRecentWriteStats();
  readonly ageMsMax: number;
  readonly #store: RecentWriteStore;
  readonly #options: Required<SharedRecentWriteOptions>;
  readonly #records: Coalescer<RecentWrite, undefined>;
  readonly #lookups: Coalescer<string, SharedEntry | null>;
  #pending: RecentWrite[] = [];
  #downUntil = 0;
  #prunedAt = Date.now();

  constructor(store: RecentWriteStore, ageMsMax: number, options: SharedRecentWriteOptions = {}) {
    this.#store = store;
    this.ageMsMax = ageMsMax;
    this.#options = { ...SHARED_RECENT_WRITE_DEFAULTS, ...options };
    const { batchSizeMax } = this.#options;
    this.#records = new Coalescer((writes) => this.#sendRecords(writes), batchSizeMax);
    this.#lookups = new Coalescer((keys) => this.#sendLookups(keys), batchSizeMax);
  }

  /** Whether the store is taken as unreachable now (after a recent failure). */
  get unavailable(): boolean {
    return Date.now() < this.#downUntil;
  }

  /** Records a committed write; resolves when stored, or at once when the store is unreachable. */
  record(key: string, shardId: number, epoch: number, lsn: bigint): Promise<void> {
    const write: RecentWrite = { key, shardId, epoch, lsn: formatLsn(lsn) };
    if (this.unavailable) {
      this.#keepForRetry([write]);
      this.stats.recordFailures += 1;
      return Promise.resolve();
    }
    return this.#records.submit(write).then(
      () => undefined,
      () => undefined,
    );
  }

  /**
   * The key's last write, if any process wrote it within `ageMsMax`. Synchronous
   * (`unavailable`) while the store is taken as unreachable, so reads do not each wait out a
   * timeout.
   */
  lookup(key: string): Promise<SharedLookup> | 'unavailable' {
    if (this.unavailable) return 'unavailable';
    this.stats.lookups += 1;
    return this.#lookups.submit(key).catch((): SharedLookup => 'unavailable');
  }

  async #sendRecords(writes: readonly RecentWrite[]): Promise<readonly undefined[]> {
    const batch = this.#pending.length > 0 ? [...this.#pending.splice(0), ...writes] : writes;
    this.stats.roundTrips += 1;
    try {
      await this.#store.record(batch, this.#options.recordTimeoutMs);
    } catch (error) {
      this.#markDown();
      this.stats.recordFailures += writes.length;
      this.#keepForRetry(batch);
      throw error;
    }
    this.stats.recorded += batch.length;
    this.#maybePrune();
    return writes.map(() => undefined);
  }

  async #sendLookups(keys: readonly string[]): Promise<readonly (SharedEntry | null)[]> {
    this.stats.roundTrips += 1;
    try {
      const found = await this.#store.lookup(keys, this.ageMsMax, this.#options.lookupTimeoutMs);
      return keys.map((key) => {
        const entry = found.get(key);
        const lsn = entry ? parseLsn(entry.lsn) : null;
        return entry && lsn !== null ? { shardId: entry.shardId, epoch: entry.epoch, lsn } : null;
      });
    } catch (error) {
      this.#markDown();
      this.stats.lookupFailures += keys.length;
      throw error;
    }
  }

  #markDown(): void {
    this.#downUntil = Date.now() + this.#options.retryAfterMs;
  }

  #keepForRetry(writes: readonly RecentWrite[]): void {
    this.#pending.push(...writes);
    const excess = this.#pending.length - this.#options.pendingCountMax;
    if (excess > 0) {
      this.#pending.splice(0, excess);
      this.stats.recordsDropped += excess;
    }
  }

  #maybePrune(): void {
    const now = Date.now();
    if (now - this.#prunedAt < this.#options.pruneIntervalMs) return;
    this.#prunedAt = now;
    this.#store.prune(this.ageMsMax, this.#options.recordTimeoutMs).catch(() => undefined);
  }
}
