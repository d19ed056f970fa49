/**
 * Sealing small secrets and personal data at rest: AES-256-GCM under a purpose key, with the key
 * id in the sealed text (so a rotated-out key still opens what it sealed while the ring accepts
 * it) and a context bound in as associated data (so a value sealed for one row or field cannot
 * be moved to another and still open).
 *
 * @example
 * const keys = await secrets.keysFor('identity-data-encryption');
 * const sealed = seal(keys.current, '110101199003074578', `customer:${id}:idNumber`);
 * open(keys, sealed, `customer:${id}:idNumber`); // '110101199003074578'
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { MainstayError } from '../errors/mainstay-error.ts';
import type { PurposeKey, PurposeKeys } from './secrets-port.ts';

const VERSION = 'v1';

/** `v1.<key id>.<nonce>.<ciphertext and tag>`, base64url parts. */
export function seal(key: PurposeKey, plaintext: string, context: string): string {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key.key, nonce);
  cipher.setAAD(Buffer.from(context));
  const body = Buffer.concat([
    cipher.update(plaintext, 'utf8'),
    cipher.final(),
    cipher.getAuthTag(),
  ]);
  return [VERSION, key.keyId, nonce.toString('base64url'), body.toString('base64url')].join('.');
}

/** The plaintext of {@link seal}'s output; throws when the key is retired or the text altered. */
export function open(keys: PurposeKeys, sealed: string, context: string): string {
  const [version, keyId, nonceText, bodyText] = sealed.split('.');
  const key = keys.accepted.find((candidate) => candidate.keyId === keyId);
  if (version !== VERSION || !key || nonceText === undefined || bodyText === undefined) {
    throw new MainstayError('internal_error', `sealed value under key ${keyId} cannot be opened`);
  }
  const body = Buffer.from(bodyText, 'base64url');
  const decipher = createDecipheriv('aes-256-gcm', key.key, Buffer.from(nonceText, 'base64url'));
  decipher.setAAD(Buffer.from(context));
  decipher.setAuthTag(body.subarray(body.length - 16));
  return Buffer.concat([
    decipher.update(body.subarray(0, body.length - 16)),
    decipher.final(),
  ]).toString('utf8');
}
