import type { CatalogSnapshot } from '../catalog/catalog-store.ts';
import { bucketOf } from './bucket-hash.ts';

/** The shard that holds a bucket in the catalog's shard map. */
export function shardOfBucket(snapshot: CatalogSnapshot, bucket: number): number {
  const range = snapshot.buckets.find((r) => bucket >= r.first && bucket <= r.last);
  if (!range) throw new RangeError(`bucket ${bucket} is in no shard of the map`);
  return range.shardId;
}

/** The shard that holds a key: key -> bucket (stable hash) -> shard (catalog map). */
export function shardOfKey(snapshot: CatalogSnapshot, key: string): number {
  return shardOfBucket(snapshot, bucketOf(key, snapshot.bucketCount));
}

/** The server currently primary in a data centre, per the catalog. */
export function primaryOf(snapshot: CatalogSnapshot, dc: string): string | undefined {
  return snapshot.servers.find((server) => server.dc === dc && server.role === 'primary')?.id;
}
