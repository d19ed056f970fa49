import { mkdir, open, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { MainstayError } from '../../errors/mainstay-error.ts';
import { GroupCommitWriter } from './group-commit-writer.ts';
import { installCompactedFile, syncDirectory, writeCompactedFile } from './spool-compaction.ts';
import {
  ackFrameBytes,
  encodeAck,
  encodeEntry,
  prepareEntry,
  type SpoolEntry,
  type SpoolEntryInput,
} from './spool-entry.ts';
import { encodeFrame, scanFrames } from './spool-frame.ts';
import { SpoolIndex } from './spool-index.ts';
import {
  BATCH_BYTES_MAX,
  type BypassSpoolOptions,
  REPLAY_ACKS_IN_FLIGHT_MAX,
  type SpoolLimits,
  spoolLimits,
} from './spool-limits.ts';

export type { SpoolEntry, SpoolEntryInput } from './spool-entry.ts';
export type { BypassSpoolOptions } from './spool-limits.ts';

/**
 * What `append` did. A duplicate id writes nothing: if the entry is still pending it is
 * returned as stored; if it was already replayed and acknowledged, its outcome lives in the
 * database now and `entry` is undefined.
 */
export type AppendResult =
  | { readonly duplicate: false; readonly acknowledged: false; readonly entry: SpoolEntry }
  | { readonly duplicate: true; readonly acknowledged: false; readonly entry: SpoolEntry }
  | { readonly duplicate: true; readonly acknowledged: true; readonly entry: undefined };

/** What one `replay` pass did: entries applied and acknowledged, and the shard's backlog after. */
export interface ReplayResult {
  readonly applied: number;
  readonly remaining: number;
}

/** The apply failure that stopped a replay, kept until that shard replays cleanly. */
export interface ReplayFailure {
  readonly shardId: number;
  readonly entryId: string;
  readonly error: unknown;
}

/**
 * The data-bypass spool: when a shard's database is unavailable, a critical operation (a card
 * authorisation decided in stand-in) is decided without it and recorded here, durably, so the
 * business goes on; when the shard is back, `replay` hands the entries to the database in order.
 *
 * Guarantees. `append` resolves only after its frame is fsynced, so an acknowledged append
 * survives a crash of the process or the machine. Replay is at-least-once and in append order
 * per shard: an entry is acknowledged (an ack frame, fsynced) only after `apply` succeeded, and
 * a crash between the two applies it again; `apply` must therefore be idempotent, keyed by
 * `entry.id`. One process owns a spool file: opening it twice in a process throws, and a
 * second process must not open it (there is no cross-process lock).
 *
 * @example
 * const spool = await BypassSpool.open({ dir: '/var/lib/mainstay/bypass', name: 'auth' });
 * await spool.append({ id: authId, shardId: 3, kind: 'authorisation', payload: decision });
 * // ...shard 3 is back:
 * const { remaining } = await spool.replay(3, (entry) => ledger.applyStandIn(entry));
 */
export class BypassSpool {
  static readonly #openFiles = new Set<string>();

  /** The spool file's path. */
  readonly file: string;
  /** Bytes of a torn tail (a frame a crash left half-written) that open cut away. */
  readonly recoveredTornBytes: number;
  readonly #writer: GroupCommitWriter;
  readonly #index: SpoolIndex;
  readonly #limits: SpoolLimits;
  readonly #inflight = new Map<string, Promise<SpoolEntry>>();
  readonly #replays = new Map<number, Promise<void>>();
  #reservedAckBytes: number;
  #lastReplayError: ReplayFailure | undefined;
  #closed = false;

  private constructor(init: {
    file: string;
    writer: GroupCommitWriter;
    index: SpoolIndex;
    limits: SpoolLimits;
    recoveredTornBytes: number;
  }) {
    this.file = init.file;
    this.#writer = init.writer;
    this.#index = init.index;
    this.#limits = init.limits;
    this.recoveredTornBytes = init.recoveredTornBytes;
    this.#reservedAckBytes = init.index.pending().reduce((sum, e) => sum + ackFrameBytes(e.id), 0);
  }

  /**
   * Opens (or creates) `<dir>/<name>.spool`, checks every frame and rebuilds the pending
   * entries. A torn tail is cut away (see `recoveredTornBytes`); a damaged frame with valid
   * frames after it throws `bypass_spool_corrupt` and leaves the file untouched. Open reads the
   * whole file once; `spoolBytesMax` bounds it.
   */
  static async open(options: BypassSpoolOptions): Promise<BypassSpool> {
    const limits = spoolLimits(options);
    const file = path.resolve(options.dir, `${options.name}.spool`);
    if (BypassSpool.#openFiles.has(file)) throw new Error(`bypass spool ${file} is already open`);
    BypassSpool.#openFiles.add(file);
    try {
      await mkdir(options.dir, { recursive: true });
      await rm(`${file}.tmp`, { force: true });
      const handle = await open(file, 'a');
      try {
        await syncDirectory(path.dirname(file));
        const scan = scanFrames(await readFile(file), file);
        const index = SpoolIndex.rebuild(scan.frames, file, limits.acknowledgedIdsMax);
        if (scan.tornBytes > 0) {
          await handle.truncate(scan.validBytes);
          await handle.datasync();
        }
        const writer = new GroupCommitWriter({
          handle,
          file,
          sizeBytes: scan.validBytes,
          batchBytesMax: BATCH_BYTES_MAX,
        });
        const spool = new BypassSpool({
          file,
          writer,
          index,
          limits,
          recoveredTornBytes: scan.tornBytes,
        });
        await spool.#compactIfIdle();
        return spool;
      } catch (error) {
        await handle.close();
        throw error;
      }
    } catch (error) {
      BypassSpool.#openFiles.delete(file);
      throw error;
    }
  }

  /** Entries not yet acknowledged, in append order; of one shard, or of all. */
  pending(shardId?: number): readonly SpoolEntry[] {
    return this.#index.pending(shardId);
  }

  get pendingCount(): number {
    return this.#index.pendingCount;
  }

  /** Bytes of the spool file, as synced. */
  get sizeBytes(): number {
    return this.#writer.sizeBytes;
  }

  /** Completed fsyncs of appended frames: far fewer than appends under concurrency. */
  get flushCount(): number {
    return this.#writer.flushCount;
  }

  /** The apply failure that stopped the latest failed replay, until its shard replays cleanly. */
  get lastReplayError(): ReplayFailure | undefined {
    return this.#lastReplayError;
  }

  /**
   * Records an entry durably: resolves after the fsync that covers it. An id already pending
   * or recently acknowledged writes nothing and returns `duplicate: true` (the stored entry is
   * returned as is, even if this call's fields differ). Throws `invalid_request` for a bad
   * entry, `bypass_spool_full` when the file or the append queue is at its bound, and
   * `internal_error` if the write or fsync failed (the spool must then be reopened).
   */
  async append(input: SpoolEntryInput): Promise<AppendResult> {
    this.#assertUsable();
    const { entry, bytes } = prepareEntry(input, this.#limits.recordBytesMax);
    const duplicate = this.#duplicateOf(entry.id);
    if (duplicate) return duplicate;
    if (this.#writer.queueLength >= this.#limits.appendQueueMax) {
      throw this.#full(`${this.#writer.queueLength} appends already wait for an fsync`);
    }
    const frame = encodeFrame('entry', bytes);
    const ackBytes = ackFrameBytes(entry.id);
    const committed = this.#writer.sizeBytes + this.#writer.queuedBytes + this.#reservedAckBytes;
    if (committed + frame.length + ackBytes > this.#limits.spoolBytesMax) {
      throw this.#full(`${committed} of ${this.#limits.spoolBytesMax} bytes are taken`);
    }
    this.#reservedAckBytes += ackBytes;
    const written = this.#writer
      .write(frame, () => this.#index.add(entry))
      .then(
        () => entry,
        (error: unknown) => {
          this.#reservedAckBytes -= ackBytes;
          throw error;
        },
      );
    this.#inflight.set(entry.id, written);
    try {
      return { duplicate: false, acknowledged: false, entry: await written };
    } finally {
      this.#inflight.delete(entry.id);
    }
  }

  /**
   * Hands a shard's pending entries to `apply`, one at a time in append order, acknowledging
   * each after `apply` resolves. The first `apply` failure stops the pass: nothing is thrown,
   * the counts say what is left and `lastReplayError` says why, and a later call resumes at
   * that entry. Calls for the same shard queue behind each other, so `apply` never runs twice
   * at once for a shard. Entries appended during a pass wait for the next one. Throws only for
   * a spool fault (a failed ack write), never for an `apply` failure.
   */
  replay(shardId: number, apply: (entry: SpoolEntry) => Promise<void>): Promise<ReplayResult> {
    if (!Number.isSafeInteger(shardId) || shardId < 0) {
      const detail = 'must be a non-negative safe integer';
      return Promise.reject(
        new MainstayError('invalid_request', `bypass spool replay: shardId ${detail}`, {
          errors: [{ pointer: '/shardId', detail }],
        }),
      );
    }
    const previous = this.#replays.get(shardId) ?? Promise.resolve();
    const pass = previous.then(() => this.#replayPass(shardId, apply));
    const settled = pass.then(
      () => undefined,
      () => undefined,
    );
    this.#replays.set(shardId, settled);
    void settled.then(() => {
      if (this.#replays.get(shardId) === settled) this.#replays.delete(shardId);
    });
    return pass;
  }

  /**
   * Rewrites the file with only the pending entries (`<name>.spool.tmp`, fsync, rename over,
   * fsync the directory). Appends wait meanwhile. Replay calls it when nothing is pending and
   * the file has grown past `compactBytesMin`. Acknowledged ids stay remembered in memory, but
   * not across a reopen after compaction: the database's idempotency on `entry.id` covers that.
   */
  async compact(): Promise<void> {
    this.#assertUsable();
    const tmpFile = `${this.file}.tmp`;
    await this.#writer.exclusive(async (handle) => {
      const frames = this.#index.pending().map((e) => encodeFrame('entry', encodeEntry(e)));
      const sizeBytes = await writeCompactedFile(tmpFile, frames);
      try {
        const next = await installCompactedFile(tmpFile, this.file);
        await handle.close();
        return { handle: next, sizeBytes };
      } catch (error) {
        throw this.#writer.fail(error, 'compaction (rename and reopen)');
      }
    });
  }

  /** Waits for in-flight appends and acks, then closes the file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#writer.close();
    } finally {
      BypassSpool.#openFiles.delete(this.file);
    }
  }

  async #replayPass(shardId: number, apply: (e: SpoolEntry) => Promise<void>) {
    const acks: Promise<void>[] = [];
    let applied = 0;
    let failure: ReplayFailure | undefined;
    for (const entry of this.#index.pending(shardId)) {
      this.#assertUsable();
      try {
        await apply(entry);
      } catch (error) {
        failure = { shardId, entryId: entry.id, error };
        break;
      }
      applied++;
      const ack = this.#acknowledge(entry);
      ack.catch(() => {}); // Awaited below; this only keeps an early rejection handled.
      acks.push(ack);
      if (acks.length >= REPLAY_ACKS_IN_FLIGHT_MAX) await Promise.all(acks.splice(0));
    }
    await Promise.all(acks);
    if (failure) this.#lastReplayError = failure;
    else if (this.#lastReplayError?.shardId === shardId) this.#lastReplayError = undefined;
    await this.#compactIfIdle();
    return { applied, remaining: this.#index.shardPendingCount(shardId) };
  }

  #acknowledge(entry: SpoolEntry): Promise<void> {
    const frame = encodeFrame('ack', encodeAck(entry.id));
    this.#reservedAckBytes -= frame.length;
    return this.#writer.write(frame, () => this.#index.acknowledge(entry.id));
  }

  async #compactIfIdle(): Promise<void> {
    if (this.#closed || this.#writer.failure) return;
    const threshold = Math.min(this.#limits.compactBytesMin, this.#limits.spoolBytesMax / 2);
    if (this.#index.pendingCount === 0 && this.#writer.sizeBytes >= Math.max(threshold, 1)) {
      await this.compact();
    }
  }

  #duplicateOf(id: string): AppendResult | Promise<AppendResult> | undefined {
    const pending = this.#index.get(id);
    if (pending) return { duplicate: true, acknowledged: false, entry: pending };
    if (this.#index.isAcknowledged(id)) {
      return { duplicate: true, acknowledged: true, entry: undefined };
    }
    const inflight = this.#inflight.get(id);
    if (inflight) {
      return inflight.then((entry) => ({ duplicate: true, acknowledged: false, entry }));
    }
    return undefined;
  }

  #full(why: string): MainstayError {
    return new MainstayError('bypass_spool_full', `bypass spool ${this.file} is full: ${why}`);
  }

  #assertUsable(): void {
    if (this.#closed) throw new Error(`bypass spool ${this.file} is closed`);
    if (this.#writer.failure) throw this.#writer.failure;
  }
}
