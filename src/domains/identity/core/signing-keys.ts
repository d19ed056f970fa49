/**
 * Access-token signing keys, derived from the secrets port (purpose `access-token-signing`):
 * each 32-byte purpose key is the seed of an Ed25519 key pair, named by the purpose key's id.
 * Every API process of a fleet derives the same pairs from the same root, so a token one process
 * signs verifies in every other, and nothing but the root secret is ever stored. Rotating the
 * root (add, promote) rotates the signing key; the previous one stays in the JWKS while it is
 * still accepted, so tokens signed before the rotation verify until they expire.
 */
import { createPrivateKey, createPublicKey, type JsonWebKey } from 'node:crypto';
import type { PurposeKey, PurposeKeys } from '../../../secrets/secrets-port.ts';

/** DER header of a PKCS#8 Ed25519 private key; the 32-byte seed follows it. */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** The signing algorithm of every Mainstay access token. */
export const SIGNING_ALG = 'EdDSA';

/** A private JWK (with `kid`, `alg`, `use`) for one purpose key. */
export function privateJwkOf(key: PurposeKey): JsonWebKey {
  const privateKey = createPrivateKey({
    key: Buffer.concat([ED25519_PKCS8_PREFIX, key.key]),
    format: 'der',
    type: 'pkcs8',
  });
  return { ...privateKey.export({ format: 'jwk' }), kid: key.keyId, alg: SIGNING_ALG, use: 'sig' };
}

/** The public half of {@link privateJwkOf}. */
export function publicJwkOf(key: PurposeKey): JsonWebKey {
  const privateKey = createPrivateKey({
    key: Buffer.concat([ED25519_PKCS8_PREFIX, key.key]),
    format: 'der',
    type: 'pkcs8',
  });
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' });
  return { ...jwk, kid: key.keyId, alg: SIGNING_ALG, use: 'sig' };
}

/** The signing keys, current first (the one new tokens are signed with). */
export function signingJwks(keys: PurposeKeys): { keys: JsonWebKey[] } {
  return { keys: orderedKeys(keys).map(privateJwkOf) };
}

/** The public keys a verifier accepts, current first. */
export function verificationJwks(keys: PurposeKeys): { keys: JsonWebKey[] } {
  return { keys: orderedKeys(keys).map(publicJwkOf) };
}

function orderedKeys(keys: PurposeKeys): PurposeKey[] {
  return [keys.current, ...keys.accepted.filter((key) => key.keyId !== keys.current.keyId)];
}
