import { hash } from 'node:crypto';

/**
 * The stable, documented hash from a shard key to a bucket: the first four bytes of the SHA-256
 * of the key's UTF-8 bytes, read as an unsigned big-endian integer, modulo the bucket count.
 * Any language can compute it, so a service outside TypeScript routes the same key to the same
 * bucket; the shard map then says which shard holds the bucket.
 *
 * @example
 * bucketOf('cus_01J...', 1024); // an integer in [0, 1024)
 */
export function bucketOf(key: string, bucketCount: number): number {
  if (!Number.isInteger(bucketCount) || bucketCount <= 0) {
    throw new RangeError(`bucketCount must be a positive integer, got ${bucketCount}`);
  }
  let word = recentHashes.get(key);
  if (word === undefined) {
    // One-shot hashing: no Hash object per key.
    word = hash('sha256', key, 'buffer').readUInt32BE(0);
    if (recentHashes.size >= RECENT_HASH_COUNT_MAX) recentHashes.clear();
    recentHashes.set(key, word);
  }
  return word % bucketCount;
}

/**
 * Hash words of keys routed lately. Every read and write of an untagged key hashes it, and a
 * service's keys repeat (a customer's, a merchant's); a native SHA-256 costs a few microseconds
 * on a busy machine, a map hit a tenth of one. The word depends on the key alone, so an entry is
 * never stale; the map is emptied when full, which bounds it without bookkeeping per hit.
 * (Mainstay's own ids carry their bucket and are never hashed: see entity-id.ts.)
 */
const recentHashes = new Map<string, number>();
const RECENT_HASH_COUNT_MAX = 65_536;
