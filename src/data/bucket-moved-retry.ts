import { MainstayError } from '../errors/mainstay-error.ts';
import type { RouterStats } from './router-stats.ts';
import type { ShardMap } from './shard-map.ts';

/** How many shards a write refused by a bucket move's fence is tried on, the first included. */
export const BUCKET_MOVED_ATTEMPT_MAX = 3;

/** What the retry needs from its router. */
export interface BucketMovedDeps {
  map(): ShardMap;
  awaitNewEpoch(timeoutMs: number): Promise<void>;
  /** Bound on the wait for the epoch that moved the bucket (the router's `writeWaitMs`). */
  readonly waitMs: number;
  readonly stats: RouterStats;
}

/**
 * After a shard refused a write because the key's bucket moved away (a bucket move's fence,
 * decision 58; the transaction rolled back, nothing was written): waits for an epoch newer than
 * the one the write was routed at, as after a failover, and returns the key's shard there. When
 * the key's shard did not change, the refusal was for another key the work wrote (a batch over
 * several buckets): `bucket_moved`, definite, for the caller to split or retry.
 */
export async function shardAfterMove(
  deps: BucketMovedDeps,
  refusal: {
    readonly key: string;
    readonly refusedBy: number;
    readonly routedAt: number;
    readonly attempt: number;
    readonly cause: unknown;
  },
): Promise<number> {
  const deadline = Date.now() + deps.waitMs;
  while (deps.map().epoch <= refusal.routedAt && Date.now() < deadline) {
    await deps.awaitNewEpoch(Math.min(deadline - Date.now(), 500));
  }
  const map = deps.map();
  const shardId = map.shardOf(refusal.key);
  if (shardId === refusal.refusedBy || refusal.attempt >= BUCKET_MOVED_ATTEMPT_MAX) {
    throw new MainstayError(
      'bucket_moved',
      `shard ${refusal.refusedBy} refused the write: its bucket moved, and the map at epoch ${map.epoch} routes ${refusal.key} to shard ${shardId}; nothing was written`,
      { cause: refusal.cause },
    );
  }
  deps.stats.writeRetries += 1;
  return shardId;
}
