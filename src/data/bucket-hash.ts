import { createHash } from 'node:crypto';

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
  const digest = createHash('sha256').update(key, 'utf8').digest();
  return digest.readUInt32BE(0) % bucketCount;
}
