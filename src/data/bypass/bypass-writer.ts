import { isMainstayError } from '../../errors/mainstay-error.ts';
import type { Queryable, Router, WriteResult } from '../router.ts';
import type { BypassSpool, SpoolEntry } from './bypass-spool.ts';

/** A critical operation that may be decided without the database when its shard is down. */
export interface BypassOperation<T> {
  /** Client-chosen id: the spool deduplicates by it and replay must be idempotent by it. */
  readonly id: string;
  readonly kind: string;
  /** What replay needs to apply the operation later (JSON; money as decimal strings). */
  readonly payload: unknown;
  /** The decision taken without the database (for example a stand-in approval). */
  decide(): T;
}

/** The write's own result, or, when bypassed, the decision taken without the database. */
export type BypassResult<T, D> =
  | ({ readonly bypassed: false } & WriteResult<T>)
  | {
      readonly bypassed: true;
      readonly value: D;
      readonly shardId: number;
      readonly entry: SpoolEntry | undefined;
    };

export const BYPASS_AFTER_MS_DEFAULT = 1_000;

/**
 * Data bypass (the seed's 数据放通): a critical path that keeps going when its shard's database
 * is unavailable. The write is tried for at most `bypassAfterMs`; if the shard has no writable
 * primary, or the outcome is unknown, the operation is decided without the database and
 * recorded durably in the spool (fsync'd before this returns), to be replayed in order when the
 * shard is back. Replay is idempotent by the operation id, so an operation whose first attempt
 * did commit is not applied twice.
 */
export class BypassWriter {
  readonly #router: Router;
  readonly #spool: BypassSpool;
  readonly #bypassAfterMs: number;
  bypassedCount = 0;

  constructor(router: Router, spool: BypassSpool, options: { bypassAfterMs?: number } = {}) {
    this.#router = router;
    this.#spool = spool;
    this.#bypassAfterMs = options.bypassAfterMs ?? BYPASS_AFTER_MS_DEFAULT;
  }

  async write<T, D>(
    key: unknown,
    work: (tx: Queryable) => Promise<T>,
    operation: BypassOperation<D>,
  ): Promise<BypassResult<T, D>> {
    const shardId = this.#router.map.shardOf(key);
    try {
      const result = await this.#router.write(key, work, { waitMs: this.#bypassAfterMs });
      return { bypassed: false, ...result };
    } catch (error) {
      if (
        !isMainstayError(error, 'primary_unavailable') &&
        !isMainstayError(error, 'write_outcome_unknown')
      )
        throw error;
    }
    const appended = await this.#spool.append({
      id: operation.id,
      shardId,
      kind: operation.kind,
      payload: operation.payload,
    });
    if (!appended.duplicate) {
      this.bypassedCount += 1;
      this.#router.stats.writesSpooled += 1;
    }
    return { bypassed: true, value: operation.decide(), shardId, entry: appended.entry };
  }

  /**
   * Replays the spooled operations of every shard that has a primary again, each shard in
   * append order, each operation in its own transaction through `apply` (which must be
   * idempotent by `entry.id`). Returns how many were applied and how many remain.
   */
  async replay(
    apply: (tx: Queryable, entry: SpoolEntry) => Promise<void>,
  ): Promise<{ applied: number; remaining: number }> {
    let applied = 0;
    const shards = new Set(this.#spool.pending().map((entry) => entry.shardId));
    for (const shardId of shards) {
      if (!this.#router.map.route(shardId).primary) continue;
      const result = await this.#spool.replay(shardId, async (entry) => {
        await this.#router.writeToShard(shardId, (tx) => apply(tx, entry), {
          waitMs: this.#bypassAfterMs,
        });
      });
      applied += result.applied;
    }
    return { applied, remaining: this.#spool.pendingCount };
  }
}
