import { MainstayError } from '../errors/mainstay-error.ts';

/** What a shard key may be: a string id, or a non-negative integer id. */
export type ShardKey = string | number;

export const SHARD_KEY_LENGTH_MAX = 512;

/**
 * Checks a shard key and returns its canonical string (integers in decimal), which is what is
 * hashed. Anything else (objects, floats, negative numbers, empty or huge strings) is a
 * programming error in the caller and is refused with `invalid_shard_key`.
 */
export function canonicalShardKey(key: unknown): string {
  if (typeof key === 'string') {
    if (key.length === 0 || key.length > SHARD_KEY_LENGTH_MAX) {
      throw new MainstayError(
        'invalid_shard_key',
        `a string shard key must have 1 to ${SHARD_KEY_LENGTH_MAX} characters, got ${key.length}`,
      );
    }
    return key;
  }
  if (typeof key === 'number' && Number.isSafeInteger(key) && key >= 0) return String(key);
  if (typeof key === 'bigint' && key >= 0n && key <= BigInt(Number.MAX_SAFE_INTEGER))
    return key.toString();
  const shown = typeof key === 'number' ? String(key) : typeof key;
  throw new MainstayError(
    'invalid_shard_key',
    `a shard key must be a string or a safe non-negative integer, got ${shown}`,
  );
}
