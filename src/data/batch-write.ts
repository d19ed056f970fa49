import { MainstayError } from '../errors/mainstay-error.ts';
import { isBucketMoved } from '../postgres/pg-errors.ts';
import { BatchPartiallyWrittenError } from './batch-partially-written-error.ts';
import { ConsistencyToken } from './consistency-token.ts';
import type { PrimaryWriter, Queryable } from './primary-writer.ts';
import type { RecentWriteTracker } from './recent-writes.ts';
import { canonicalShardKey } from './shard-key.ts';
import type { ShardMap } from './shard-map.ts';
import type { SharedRecentWrites } from './shared-recent-writes.ts';
import type { TokenText } from './write-contract.ts';

/** What a batch write needs of its router. */
export interface BatchWriteContext {
  readonly writer: PrimaryWriter;
  /** The shard map routed by now. */
  map(): ShardMap;
  readonly tracker: RecentWriteTracker;
  readonly shared: SharedRecentWrites | null;
  sign(token: ConsistencyToken): TokenText;
  /** Largest batch accepted. */
  readonly batchSizeMax: number;
}

/** One shard's part of a batch: its items and their canonical keys, in the batch's order. */
interface ShardGroup<I> {
  readonly items: I[];
  readonly keys: string[];
}

/**
 * Writes a batch, grouped by shard, each shard's group in one transaction (see
 * `Router.writeBatch`, which documents the contract). Everything is checked before anything is
 * written; a group failing after others committed is a {@link BatchPartiallyWrittenError}.
 */
export async function writeBatch<I, T>(
  context: BatchWriteContext,
  items: readonly I[],
  keyOf: (item: I) => unknown,
  work: (tx: Queryable, items: readonly I[], shardId: number) => Promise<T>,
): Promise<{ results: ReadonlyMap<number, T>; token: TokenText }> {
  if (items.length > context.batchSizeMax) {
    throw new MainstayError(
      'batch_too_large',
      `a batch holds at most ${context.batchSizeMax} items, got ${items.length}`,
    );
  }
  const groups = groupByShard(context.map(), items, keyOf);
  const results = new Map<number, T>();
  let token = new ConsistencyToken(context.map().epoch);
  for (const [shardId, group] of groups) {
    let written: { value: T; lsn: bigint };
    try {
      written = await context.writer.transaction(shardId, (tx) => work(tx, group.items, shardId));
    } catch (raw) {
      // A group refused by a bucket move's fence wrote nothing; its items are retried by key.
      const error = isBucketMoved(raw)
        ? new MainstayError('bucket_moved', `shard ${shardId} refused items of a moved bucket`, {
            cause: raw,
          })
        : raw;
      if (results.size === 0) throw error;
      throw new BatchPartiallyWrittenError(results, context.sign(token), shardId, error);
    }
    const { value, lsn } = written;
    for (const key of group.keys) context.tracker.record(key, shardId, lsn);
    const { shared } = context;
    if (shared) {
      const epoch = context.map().epoch;
      await Promise.all(group.keys.map((key) => shared.record(key, shardId, epoch, lsn)));
    }
    token = token.with(shardId, lsn, context.map().epoch);
    results.set(shardId, value);
  }
  return { results, token: context.sign(token) };
}

/** The batch's items by shard; an invalid key throws here, before anything is written. */
function groupByShard<I>(
  map: ShardMap,
  items: readonly I[],
  keyOf: (item: I) => unknown,
): Map<number, ShardGroup<I>> {
  const groups = new Map<number, ShardGroup<I>>();
  for (const item of items) {
    const key = canonicalShardKey(keyOf(item));
    const shardId = map.shardOf(key);
    const group = groups.get(shardId) ?? { items: [], keys: [] };
    group.items.push(item);
    group.keys.push(key);
    groups.set(shardId, group);
  }
  return groups;
}
