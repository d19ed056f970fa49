import type { FileHandle } from 'node:fs/promises';
import { MainstayError } from '../../errors/mainstay-error.ts';

interface WriteJob {
  readonly bytes: Buffer;
  readonly onDurable: () => void;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

interface ExclusiveJob {
  readonly run: (handle: FileHandle) => Promise<{ handle: FileHandle; sizeBytes: number }>;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Appends frames to one file with group commit: while a write + `fdatasync` is in flight, new
 * frames wait in a queue; when it finishes, everything queued (up to `batchBytesMax`) goes out
 * in one write and one `fdatasync`. Each caller's promise resolves only after the `fdatasync`
 * that covers its frame, so "resolved" means "on disk"; throughput under concurrency is that of
 * one fsync per batch, not per frame.
 *
 * `onDurable` callbacks run in file order, synchronously after the covering `fdatasync` and
 * before any other file operation, so in-memory state never runs ahead of or behind the file.
 *
 * After a failed write or `fdatasync` the writer is failed for good: the file's tail is unknown
 * (and Linux may have dropped the dirty pages), so appending more could bury a torn frame under
 * valid ones. Every queued and later write rejects with `internal_error`; reopen the spool.
 */
export class GroupCommitWriter {
  #handle: FileHandle;
  #sizeBytes: number;
  #queuedBytes = 0;
  #flushCount = 0;
  #queue: WriteJob[] = [];
  readonly #exclusive: ExclusiveJob[] = [];
  #draining: Promise<void> | undefined;
  #failure: MainstayError | undefined;
  #closed = false;
  readonly #file: string;
  readonly #batchBytesMax: number;

  constructor(options: {
    handle: FileHandle;
    file: string;
    sizeBytes: number;
    batchBytesMax: number;
  }) {
    this.#handle = options.handle;
    this.#file = options.file;
    this.#sizeBytes = options.sizeBytes;
    this.#batchBytesMax = options.batchBytesMax;
  }

  /** Bytes written and synced to the file. */
  get sizeBytes(): number {
    return this.#sizeBytes;
  }

  /** Bytes queued but not yet synced. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  get queueLength(): number {
    return this.#queue.length;
  }

  /** How many batch `fdatasync` calls have completed: the measure of group commit. */
  get flushCount(): number {
    return this.#flushCount;
  }

  /** Set once a write failed; the writer accepts nothing after it. */
  get failure(): MainstayError | undefined {
    return this.#failure;
  }

  /** Queues `bytes`; resolves once they are written and synced and `onDurable` has run. */
  write(bytes: Buffer, onDurable: () => void): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#closed) return Promise.reject(new Error(`bypass spool ${this.#file} is closed`));
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ bytes, onDurable, resolve, reject });
      this.#queuedBytes += bytes.length;
      this.#kick();
    });
  }

  /**
   * Runs `run` between batches, with no write in flight (queued frames wait), and switches to
   * the file handle and size it returns. Compaction uses it to swap in a rewritten file.
   */
  exclusive(run: ExclusiveJob['run']): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise<void>((resolve, reject) => {
      this.#exclusive.push({ run, resolve, reject });
      this.#kick();
    });
  }

  /** Fails the writer: rejects everything queued and everything after. */
  fail(cause: unknown, what: string): MainstayError {
    this.#failure ??= new MainstayError(
      'internal_error',
      `bypass spool ${this.#file}: ${what} failed; the spool accepts nothing more until reopened`,
      { cause },
    );
    const queued = this.#queue;
    this.#queue = [];
    this.#queuedBytes = 0;
    for (const job of queued) job.reject(this.#failure);
    for (const job of this.#exclusive.splice(0)) job.reject(this.#failure);
    return this.#failure;
  }

  /** Waits until nothing is queued or in flight. */
  async idle(): Promise<void> {
    while (this.#draining) await this.#draining;
  }

  /** Refuses new writes, waits for queued and in-flight ones, then closes the file. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.idle();
    await this.#handle.close();
  }

  #kick(): void {
    if (this.#draining) return;
    this.#draining = this.#drain().finally(() => {
      this.#draining = undefined;
      if (!this.#failure && (this.#queue.length > 0 || this.#exclusive.length > 0)) this.#kick();
    });
  }

  async #drain(): Promise<void> {
    while (!this.#failure) {
      const exclusive = this.#exclusive.shift();
      if (exclusive) {
        await this.#runExclusive(exclusive);
      } else if (this.#queue.length > 0) {
        await this.#flushBatch();
      } else {
        return;
      }
    }
  }

  async #runExclusive(job: ExclusiveJob): Promise<void> {
    try {
      const next = await job.run(this.#handle);
      this.#handle = next.handle;
      this.#sizeBytes = next.sizeBytes;
      job.resolve();
    } catch (error) {
      job.reject(error);
    }
  }

  async #flushBatch(): Promise<void> {
    let count = 0;
    let bytes = 0;
    for (const job of this.#queue) {
      if (count > 0 && bytes + job.bytes.length > this.#batchBytesMax) break;
      count++;
      bytes += job.bytes.length;
    }
    const batch = this.#queue.splice(0, count);
    const data = Buffer.concat(
      batch.map((job) => job.bytes),
      bytes,
    );
    try {
      for (let written = 0; written < data.length; ) {
        const result = await this.#handle.write(data, written, data.length - written);
        written += result.bytesWritten;
      }
      await this.#handle.datasync();
    } catch (error) {
      const failure = this.fail(error, 'an append (write + fdatasync)');
      for (const job of batch) job.reject(failure);
      return;
    }
    this.#flushCount++;
    this.#sizeBytes += data.length;
    this.#queuedBytes -= data.length;
    for (const job of batch) job.onDurable();
    for (const job of batch) job.resolve();
  }
}
