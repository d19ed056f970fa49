import { randomBytes } from 'node:crypto';

/**
 * Entity ids that carry their bucket. An id is `<prefix>_<time><random><bucket>`: a lowercase
 * type prefix, then 30 characters of Crockford base32: 10 for the creation time in milliseconds
 * (so ids sort by creation, like a ULID), 16 random, and 4 for the bucket. The shard map routes
 * such an id by the bucket it carries instead of hashing it, which is how a family of entities
 * (an account, its cards, their authorizations) lands on one shard without a look-up table: a
 * child is minted in its owner's bucket. Any language can read the bucket back from the last
 * four characters.
 *
 * @example
 * const account = newEntityId('acct', randomBucket(1024));
 * const card = newEntityId('card', taggedBucket(account)!); // same bucket, same shard
 */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const BODY_LENGTH = 30;
const BUCKET_DIGITS = 4;
/** The largest bucket an id can carry (32^4 - 1); a fleet's bucket count stays below it. */
export const TAGGED_BUCKET_MAX = 32 ** BUCKET_DIGITS - 1;
const ID_PATTERN = /^[a-z][a-z0-9]{0,15}_[0-9A-HJKMNP-TV-Z]{30}$/;

function base32(value: number, digits: number): string {
  let text = '';
  let rest = value;
  for (let index = 0; index < digits; index += 1) {
    text = ALPHABET[rest % 32] + text;
    rest = Math.floor(rest / 32);
  }
  return text;
}

/** A new id of type `prefix` in `bucket`. */
export function newEntityId(prefix: string, bucket: number, now = Date.now()): string {
  return formatEntityId(prefix, bucket, now, randomBytes(10));
}

/**
 * The id of type `prefix` in `bucket` at time `timeMs` with the given 10 random bytes. For ids
 * that must come out the same on every run (demo data derives the bytes from a hash).
 */
export function formatEntityId(
  prefix: string,
  bucket: number,
  timeMs: number,
  random: Uint8Array,
): string {
  if (!/^[a-z][a-z0-9]{0,15}$/.test(prefix)) throw new RangeError(`invalid id prefix ${prefix}`);
  if (!Number.isInteger(bucket) || bucket < 0 || bucket > TAGGED_BUCKET_MAX) {
    throw new RangeError(`bucket ${bucket} cannot be carried by an id`);
  }
  if (random.length < 10) throw new RangeError('an id needs 10 random bytes');
  let body = base32(timeMs, 10);
  for (let index = 0; index < 16; index += 1) {
    // 10 random bytes = 80 bits = 16 base32 digits of 5 bits each.
    const bit = index * 5;
    const byte = bit >> 3;
    const word = ((random[byte] ?? 0) << 8) | (random[byte + 1] ?? 0);
    body += ALPHABET[(word >> (11 - (bit & 7))) & 31];
  }
  return `${prefix}_${body}${base32(bucket, BUCKET_DIGITS)}`;
}

/** The bucket an entity id carries, or `null` when `key` is not an entity id. */
export function taggedBucket(key: string): number | null {
  if (key.length > 47 || !ID_PATTERN.test(key)) return null;
  let bucket = 0;
  for (let index = key.length - BUCKET_DIGITS; index < key.length; index += 1) {
    bucket = bucket * 32 + ALPHABET.indexOf(key[index] as string);
  }
  return bucket;
}

/** Whether `id` is an entity id of type `prefix`. */
export function isEntityId(id: string, prefix: string): boolean {
  return id.startsWith(`${prefix}_`) && taggedBucket(id) !== null;
}

/** A uniformly random bucket, for a root entity (a user, an account). */
export function randomBucket(bucketCount: number): number {
  return randomBytes(4).readUInt32BE(0) % bucketCount;
}

/** The body length, for schemas that describe ids. */
export const ENTITY_ID_BODY_LENGTH = BODY_LENGTH;
