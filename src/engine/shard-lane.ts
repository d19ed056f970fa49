import { LatencyWindow } from './latency-window.ts';

/** What a lane needs to know of a queued entry. */
export interface LaneEntry {
  /** When it was queued (`performance.now()` ms). */
  readonly enqueuedAtMs: number;
  /** Places it takes in the batch size and the queue depth (1, or a linked chain's length). */
  readonly weight: number;
}

/**
 * The queue of one shard: a bounded FIFO plus the state of its single writer. A lane has at most
 * one batch in flight; entries arriving meanwhile wait and go out together in the next batch
 * (group commit), which is what makes throughput grow with load instead of latency. Depth and
 * batch size are counted in weight, so an entry of several requests (a linked chain) counts for
 * each of them and is never cut.
 */
export class ShardLane<E extends LaneEntry> {
  readonly shardId: number;
  readonly latency: LatencyWindow;
  #entries: E[] = [];
  #head = 0;
  #weight = 0;
  /** The batch in flight, if any. */
  running: Promise<void> | null = null;
  /** Cancels the pending batch-window wake-up, if one is set. */
  cancelWake: (() => void) | null = null;

  constructor(shardId: number, latencyWindowMs: number) {
    this.shardId = shardId;
    this.latency = new LatencyWindow(latencyWindowMs);
  }

  /** Weight waiting for a batch (not counting the one in flight). */
  get depth(): number {
    return this.#weight;
  }

  /** When the oldest waiting entry arrived (`performance.now()` ms), or `null`. */
  get oldestEnqueuedAtMs(): number | null {
    return this.#entries[this.#head]?.enqueuedAtMs ?? null;
  }

  push(entry: E): void {
    this.#entries.push(entry);
    this.#weight += entry.weight;
  }

  /** Puts entries back at the front, ahead of newer arrivals. */
  requeue(entries: readonly E[]): void {
    this.#entries = [...entries, ...this.#entries.slice(this.#head)];
    this.#head = 0;
    for (const entry of entries) this.#weight += entry.weight;
  }

  /**
   * Removes and returns entries from the front up to `weightMax` in all; the first entry is
   * taken whatever its weight, an entry that would pass the bound is left for the next batch.
   */
  take(weightMax: number): E[] {
    let end = this.#head;
    let taken = 0;
    while (end < this.#entries.length) {
      const weight = (this.#entries[end] as E).weight;
      if (end > this.#head && taken + weight > weightMax) break;
      taken += weight;
      end += 1;
      if (taken >= weightMax) break;
    }
    const batch = this.#entries.slice(this.#head, end);
    this.#head = end;
    this.#weight -= taken;
    if (this.#head === this.#entries.length) {
      this.#entries = [];
      this.#head = 0;
    } else if (this.#head > 4_096 && this.#head * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head);
      this.#head = 0;
    }
    return batch;
  }
}
