import { MainstayError } from '../../errors/mainstay-error.ts';
import { decodeAck, decodeEntry, type SpoolEntry } from './spool-entry.ts';
import type { SpoolFrame } from './spool-frame.ts';

/**
 * The in-memory state of a spool: the pending (not yet acknowledged) entries in append order,
 * overall and per shard, and a bounded window of recently acknowledged ids so that a retried
 * append of an operation already replayed is still recognised as a duplicate.
 *
 * Why a map per shard as well as the global one: replay walks one shard's entries, and a spool
 * holding many shards' backlogs must not scan them all for each step.
 */
export class SpoolIndex {
  readonly #all = new Map<string, SpoolEntry>();
  readonly #byShard = new Map<number, Map<string, SpoolEntry>>();
  readonly #acknowledged = new Set<string>();
  readonly #acknowledgedIdsMax: number;

  constructor(acknowledgedIdsMax: number) {
    this.#acknowledgedIdsMax = acknowledgedIdsMax;
  }

  /**
   * Rebuilds the index by replaying a file's frames in order. Throws `bypass_spool_corrupt`
   * (naming `file` and the frame's offset) for a frame whose checksum holds but whose record
   * does not: such a frame was written wrong, it was not torn by a crash.
   */
  static rebuild(
    frames: readonly SpoolFrame[],
    file: string,
    acknowledgedIdsMax: number,
  ): SpoolIndex {
    const index = new SpoolIndex(acknowledgedIdsMax);
    for (const frame of frames) {
      try {
        if (frame.type === 'ack') {
          index.acknowledge(decodeAck(frame.payload));
          continue;
        }
        const entry = decodeEntry(frame.payload);
        if (index.get(entry.id)) throw new Error(`entry id ${entry.id} is already pending`);
        index.add(entry);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        throw new MainstayError(
          'bypass_spool_corrupt',
          `bypass spool ${file}: the ${frame.type} frame at byte offset ${frame.offset} passes ` +
            `its checksum but is invalid: ${reason}`,
          { cause: error },
        );
      }
    }
    return index;
  }

  get pendingCount(): number {
    return this.#all.size;
  }

  /** Pending entries in append order, of one shard or of all. A copy: safe to keep. */
  pending(shardId?: number): SpoolEntry[] {
    const source = shardId === undefined ? this.#all : this.#byShard.get(shardId);
    return source ? [...source.values()] : [];
  }

  shardPendingCount(shardId: number): number {
    return this.#byShard.get(shardId)?.size ?? 0;
  }

  get(id: string): SpoolEntry | undefined {
    return this.#all.get(id);
  }

  isAcknowledged(id: string): boolean {
    return this.#acknowledged.has(id);
  }

  add(entry: SpoolEntry): void {
    this.#all.set(entry.id, entry);
    let shard = this.#byShard.get(entry.shardId);
    if (!shard) {
      shard = new Map();
      this.#byShard.set(entry.shardId, shard);
    }
    shard.set(entry.id, entry);
    // A re-append after the id left the acknowledged window makes it pending again.
    this.#acknowledged.delete(entry.id);
  }

  /** Moves an entry from pending to the acknowledged window (oldest ids fall out first). */
  acknowledge(id: string): void {
    const entry = this.#all.get(id);
    if (entry) {
      this.#all.delete(id);
      const shard = this.#byShard.get(entry.shardId);
      shard?.delete(id);
      if (shard?.size === 0) this.#byShard.delete(entry.shardId);
    }
    if (this.#acknowledgedIdsMax === 0) return;
    this.#acknowledged.delete(id);
    this.#acknowledged.add(id);
    if (this.#acknowledged.size > this.#acknowledgedIdsMax) {
      const oldest = this.#acknowledged.values().next();
      if (!oldest.done) this.#acknowledged.delete(oldest.value);
    }
  }
}
