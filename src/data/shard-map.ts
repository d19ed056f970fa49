import type { CatalogServer, CatalogShard, CatalogSnapshot } from '../catalog/catalog-store.ts';
import { primaryOf } from '../catalog/primary-of.ts';
import { MainstayError } from '../errors/mainstay-error.ts';
import { bucketOf } from './bucket-hash.ts';
import { taggedBucket } from './entity-id.ts';
import { canonicalShardKey } from './shard-key.ts';

/** The shard that holds a bucket in the catalog's shard map. */
export function shardOfBucket(snapshot: CatalogSnapshot, bucket: number): number {
  const range = snapshot.buckets.find((r) => bucket >= r.first && bucket <= r.last);
  if (!range) throw new RangeError(`bucket ${bucket} is in no shard of the map`);
  return range.shardId;
}

/** Where one shard lives right now: its home primary and that primary's streaming replicas. */
export interface ShardRoute {
  readonly shard: CatalogShard;
  /** `null` while the home DC has no writable primary (fenced, failing over). */
  readonly primary: CatalogServer | null;
  readonly replicas: readonly CatalogServer[];
}

/**
 * The routing view of one catalog epoch: key -> bucket (stable hash) -> shard -> home DC ->
 * current primary, and that primary's replicas. Immutable; a router swaps in a new one when the
 * epoch changes.
 */
export class ShardMap {
  readonly epoch: number;
  readonly snapshot: CatalogSnapshot;
  readonly #shardOfBucket: Int32Array;
  readonly #routes = new Map<number, ShardRoute>();

  constructor(snapshot: CatalogSnapshot) {
    this.epoch = snapshot.epoch;
    this.snapshot = snapshot;
    this.#shardOfBucket = new Int32Array(snapshot.bucketCount).fill(-1);
    for (const range of snapshot.buckets)
      this.#shardOfBucket.fill(range.shardId, range.first, range.last + 1);
    for (const shard of snapshot.shards) {
      const primaryId = primaryOf(snapshot, shard.homeDc);
      const primary = snapshot.servers.find((s) => s.id === primaryId) ?? null;
      const replicas = snapshot.servers.filter(
        (s) =>
          s.role === 'replica' &&
          s.fencedAtEpoch === null &&
          primary !== null &&
          s.upstream === primary.id,
      );
      this.#routes.set(shard.id, { shard, primary, replicas });
    }
  }

  /**
   * The bucket of `key`: the one an entity id carries (see entity-id.ts), else the stable hash.
   * An id carrying a bucket the map does not have is refused, never silently re-hashed.
   */
  bucketOf(key: unknown): number {
    const canonical = canonicalShardKey(key);
    const tagged = taggedBucket(canonical);
    if (tagged === null) return bucketOf(canonical, this.snapshot.bucketCount);
    if (tagged >= this.snapshot.bucketCount) {
      throw new MainstayError(
        'invalid_shard_key',
        `id ${canonical} carries bucket ${tagged}, but the shard map has ${this.snapshot.bucketCount} buckets`,
      );
    }
    return tagged;
  }

  /** The shard holding `key` (a string, or a non-negative integer). */
  shardOf(key: unknown): number {
    const bucket = this.bucketOf(key);
    const shard = this.#shardOfBucket[bucket];
    if (shard === undefined || shard < 0)
      throw new RangeError(`bucket ${bucket} is in no shard of the map`);
    return shard;
  }

  route(shardId: number): ShardRoute {
    const route = this.#routes.get(shardId);
    if (!route) throw new RangeError(`no shard ${shardId} in the catalog`);
    return route;
  }

  get shardIds(): readonly number[] {
    return [...this.#routes.keys()];
  }

  server(id: string): CatalogServer | undefined {
    return this.snapshot.servers.find((server) => server.id === id);
  }
}
