/**
 * One shard's queue of audit records: appended in batches, one batch in flight, each batch one
 * transaction (the group commit of the authorization engine's lanes, decision 26). While a
 * batch commits, the next one fills, so a busy shard appends thousands of entries a second
 * through one serialized chain head. A batch that fails stays at the front and is retried with
 * backoff; nothing leaves the queue before it committed, was refused by the shard on its own, or
 * the log was closed.
 */
import type { PendingRecord } from './audit-store.ts';

/** How an append ended: committed, refused by its shard (bad data, alone), or dropped. */
export const APPEND_OUTCOMES = ['appended', 'refused', 'dropped'] as const;
export type AppendOutcome = (typeof APPEND_OUTCOMES)[number];

/** Running figures of a log's lanes (read by the metrics at scrape time). */
export interface LaneFigures {
  appendedCount: number;
  refusedCount: number;
  droppedCount: number;
  failedBatchCount: number;
  lastError: string | null;
}

/** The bounds of a lane. */
export interface LaneOptions {
  readonly batchSizeMax: number;
  readonly retryDelayMsMin: number;
  readonly retryDelayMsMax: number;
}

interface Waiting {
  readonly record: PendingRecord;
  readonly since: number;
  attempts: number;
  settle(outcome: AppendOutcome): void;
}

/** Appends a batch in one transaction on the lane's shard; `retry` when it may have committed. */
export type BatchWriter = (records: readonly PendingRecord[], retry: boolean) => Promise<number>;

/**
 * An SQLSTATE of class 22 (data exception) or 23 (integrity): the records, not the shard, failed.
 * Except 23505 (unique violation): a record's id is never stored twice (a retry skips stored
 * ones), so a clash is on seq, which means rows were added behind the chain head's back; that is
 * the shard's fault, not the record's, and the records stay queued.
 */
function isDataError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^2[23][0-9A-Z]{3}$/.test(code) && code !== '23505';
}

/** How long drain() waits between two failed attempts. */
const DRAIN_RETRY_DELAY_MS = 100;

/** Waits for `promise` (which never rejects) or `ms`, whichever is first, leaving no timer. */
async function settledWithin(promise: Promise<void> | null, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const elapsed = new Promise<void>((done) => {
    timer = setTimeout(done, Math.max(0, ms));
  });
  try {
    await Promise.race(promise === null ? [elapsed] : [promise, elapsed]);
  } finally {
    clearTimeout(timer);
  }
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** A shard's queue of records, flushed in batches (see the file comment). */
export class AuditLane {
  readonly #queue: Waiting[] = [];
  readonly #write: BatchWriter;
  readonly #figures: LaneFigures;
  readonly #options: LaneOptions;
  #flushing: Promise<void> | null = null;
  #retryTimer: NodeJS.Timeout | null = null;
  #failuresInRow = 0;
  /** Records at the front to send one at a time, after a batch failed on its data. */
  #isolating = 0;
  #closed = false;

  constructor(write: BatchWriter, figures: LaneFigures, options: LaneOptions) {
    this.#write = write;
    this.#figures = figures;
    this.#options = options;
  }

  get pendingCount(): number {
    return this.#queue.length;
  }

  /** When the oldest record still waiting was queued (ms since the epoch), `null` if none. */
  get oldestSince(): number | null {
    return this.#queue[0]?.since ?? null;
  }

  /** Queues `record`; the promise settles with its outcome. */
  push(record: PendingRecord): Promise<AppendOutcome> {
    return new Promise((settle) => {
      this.#queue.push({ record, since: Date.now(), attempts: 0, settle });
      this.#kick();
    });
  }

  #kick(): void {
    if (this.#flushing !== null || this.#retryTimer !== null || this.#closed) return;
    this.#flushing = this.#flush().finally(() => {
      this.#flushing = null;
    });
  }

  async #flush(): Promise<void> {
    while (this.#queue.length > 0 && !this.#closed) {
      const batch = this.#queue.slice(0, this.#isolating > 0 ? 1 : this.#options.batchSizeMax);
      try {
        await this.#write(
          batch.map((waiting) => waiting.record),
          batch.some((waiting) => waiting.attempts > 0),
        );
      } catch (error) {
        if (!this.#failed(batch, error)) return;
        continue;
      }
      if (this.#closed) {
        // Committed after the deadline of drain(), which counted the batch as dropped.
        this.#figures.droppedCount -= batch.length;
        this.#figures.appendedCount += batch.length;
        return;
      }
      this.#queue.splice(0, batch.length);
      this.#failuresInRow = 0;
      this.#isolating = Math.max(0, this.#isolating - batch.length);
      this.#figures.appendedCount += batch.length;
      for (const waiting of batch) waiting.settle('appended');
    }
  }

  /**
   * Counts a failed batch. A batch the shard refused for its data is split: its records go one
   * at a time, and one refused alone is dropped from the queue (counted as refused), so one bad
   * record never holds up the others. Any other failure is retried after a backoff. Returns
   * whether to go on at once.
   */
  #failed(batch: readonly Waiting[], error: unknown): boolean {
    for (const waiting of batch) waiting.attempts += 1;
    this.#figures.failedBatchCount += 1;
    this.#figures.lastError = messageOf(error);
    if (isDataError(error)) {
      if (batch.length > 1) {
        this.#isolating = batch.length;
        return true;
      }
      this.#queue.shift();
      this.#isolating = Math.max(0, this.#isolating - 1);
      this.#figures.refusedCount += 1;
      batch[0]?.settle('refused');
      return true;
    }
    this.#failuresInRow += 1;
    const delayMs = Math.min(
      this.#options.retryDelayMsMax,
      this.#options.retryDelayMsMin * 2 ** (this.#failuresInRow - 1),
    );
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      this.#kick();
    }, delayMs);
    this.#retryTimer.unref();
    return false;
  }

  /**
   * Tries to empty the queue until `deadline` (ms since the epoch), retrying at once rather than
   * after the backoff, then stops the lane: what is still queued is settled `dropped` and its
   * count returned. A batch in flight at the deadline may still commit.
   */
  async drain(deadline: number): Promise<number> {
    while (this.#queue.length > 0 && Date.now() < deadline) {
      if (this.#retryTimer !== null) {
        clearTimeout(this.#retryTimer);
        this.#retryTimer = null;
      }
      this.#kick();
      await settledWithin(this.#flushing, deadline - Date.now());
      // A failed attempt set a retry timer: wait a little before the next one.
      if (this.#retryTimer !== null) await settledWithin(null, DRAIN_RETRY_DELAY_MS);
    }
    this.#closed = true;
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
    const dropped = this.#queue.splice(0);
    this.#figures.droppedCount += dropped.length;
    for (const waiting of dropped) waiting.settle('dropped');
    return dropped.length;
  }
}
