/**
 * The shapes of API credentials, and how their secrets are checked without storing them.
 *
 * - An API key reads `mainstay_ak_<keyId>_<secret>`: the prefix says what it is (and lets a
 *   secret scanner find a leaked one), the key id routes the look-up to one shard, the secret is
 *   256 random bits kept only as its SHA-256.
 * - A client secret is derived: HMAC-SHA256 under the fleet's `api-credentials` key (named by
 *   its key id) of the client id and a random salt stored with the client. Nothing in the
 *   database is the secret; rotating it is a new salt.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { isEntityId } from '../../../data/entity-id.ts';
import type { PurposeKey } from '../../../secrets/secrets-port.ts';

export const API_KEY_PREFIX = 'mainstay_ak_';
/** Entity-id type prefixes: an API key's id, a client's id. */
export const API_KEY_ID_TYPE = 'key';
export const CLIENT_ID_TYPE = 'cli';

const SECRET_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** A fresh API key secret (32 random bytes, base64url). */
export function newKeySecret(): string {
  return randomBytes(32).toString('base64url');
}

/** The full API key a client sends. */
export function formatApiKey(keyId: string, secret: string): string {
  return `${API_KEY_PREFIX}${keyId}_${secret}`;
}

/** The key id and secret of a credential shaped like an API key, else `null`. */
export function parseApiKey(credential: string): { keyId: string; secret: string } | null {
  if (!credential.startsWith(API_KEY_PREFIX)) return null;
  const rest = credential.slice(API_KEY_PREFIX.length);
  // The id is `key_` and 30 characters; the secret follows after one more underscore.
  const keyId = rest.slice(0, 34);
  const secret = rest.slice(35);
  if (rest[34] !== '_' || !isEntityId(keyId, API_KEY_ID_TYPE) || !SECRET_PATTERN.test(secret))
    return null;
  return { keyId, secret };
}

/** What the database keeps of a key's secret. */
export function secretDigest(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

/** Whether `secret` is the one `digest` was made from, in time independent of where they differ. */
export function secretMatches(secret: string, digest: Buffer): boolean {
  const candidate = secretDigest(secret);
  return candidate.length === digest.length && timingSafeEqual(candidate, digest);
}

/** A client's secret, from the key it was issued under and its salt. */
export function clientSecret(key: PurposeKey, clientId: string, salt: string): string {
  return createHmac('sha256', key.key)
    .update(`mainstay client secret\0${clientId}\0${salt}`)
    .digest('base64url');
}

/** A fresh salt for a client secret. */
export function newSalt(): string {
  return randomBytes(16).toString('base64url');
}
