import { createHash } from 'node:crypto';
import type { CatalogStore } from '../../../../catalog/catalog-store.ts';
import { MainstayError } from '../../../../errors/mainstay-error.ts';
import { CatalogSecrets } from '../../../../secrets/catalog-secrets.ts';
import type { SecretsPort } from '../../../../secrets/secrets-port.ts';

/** Length of each card key: AES-256 and HMAC-SHA256 both take 32 bytes. */
export const CARD_KEY_BYTES = 32;

/** The catalog flag that keeps the fleet's card keys. */
export const CARD_KEYS_FLAG = 'card_binding_keys';

/**
 * The two secrets of card binding, kept apart because they do different jobs: the encryption
 * key seals card numbers in the vault (reversible, for a payment service that must send the
 * number to a network); the look-up key makes a keyed hash that finds "this card is already
 * bound" without decrypting anything, and which cannot be brute-forced from the hash alone the
 * way a plain SHA-256 over the ~10^15 possible card numbers could.
 */
export interface CardKeys {
  /** Names the encryption key in each vault row, so keys can be rotated later. */
  readonly keyId: string;
  readonly encryptionKey: Buffer;
  readonly lookupKey: Buffer;
}

/** What the flag holds: JSON, keys in base64url. */
interface StoredCardKeys {
  readonly version: 1;
  readonly keyId: string;
  readonly encryptionKey: string;
  readonly lookupKey: string;
}

/** Checks lengths and derives nothing: the one way a {@link CardKeys} is built. */
export function cardKeysOf(encryptionKey: Buffer, lookupKey: Buffer): CardKeys {
  if (encryptionKey.length !== CARD_KEY_BYTES || lookupKey.length !== CARD_KEY_BYTES) {
    throw new RangeError(`card keys must be ${CARD_KEY_BYTES} bytes each`);
  }
  if (encryptionKey.equals(lookupKey)) throw new RangeError('the two card keys must differ');
  const keyId = `ck_${createHash('sha256').update(encryptionKey).digest('hex').slice(0, 16)}`;
  return { keyId, encryptionKey, lookupKey };
}

/**
 * The fleet's card keys from the catalog, creating them on first use. Creation is race-safe
 * between processes although the catalog offers only a last-writer-wins `setFlag`: the keys
 * are the secrets port's keys for the card-vault purposes (by default derived from the fleet's
 * root secret, which the catalog made atomically at initialization), so every process that
 * races to create them computes and writes the same value, and whichever write lands last
 * changes nothing. Once stored, the flag is the truth: a later rotation of the root secret does
 * not change the card keys, so every vault row stays readable.
 */
export async function loadOrCreateCardKeys(
  catalog: CatalogStore,
  secrets: SecretsPort = new CatalogSecrets(catalog),
): Promise<CardKeys> {
  const stored = await catalog.getFlag(CARD_KEYS_FLAG);
  if (stored !== null) return parseStoredKeys(stored);
  const [encryption, lookup] = await Promise.all([
    secrets.keysFor('card-vault-encryption'),
    secrets.keysFor('card-vault-lookup'),
  ]);
  const keys = cardKeysOf(encryption.current.key, lookup.current.key);
  await catalog.setFlag(CARD_KEYS_FLAG, serializeCardKeys(keys));
  // Read back what is stored: if an operator (or an older version) had put other keys there
  // meanwhile, those are the ones the vault's rows were sealed with.
  const winner = await catalog.getFlag(CARD_KEYS_FLAG);
  return winner === null ? keys : parseStoredKeys(winner);
}

/** The flag's text for `keys`. */
export function serializeCardKeys(keys: CardKeys): string {
  const stored: StoredCardKeys = {
    version: 1,
    keyId: keys.keyId,
    encryptionKey: keys.encryptionKey.toString('base64url'),
    lookupKey: keys.lookupKey.toString('base64url'),
  };
  return JSON.stringify(stored);
}

function parseStoredKeys(text: string): CardKeys {
  let parsed: Partial<StoredCardKeys>;
  try {
    parsed = JSON.parse(text) as Partial<StoredCardKeys>;
  } catch (error) {
    throw new MainstayError('config_invalid', `catalog flag ${CARD_KEYS_FLAG} is not JSON`, {
      cause: error,
    });
  }
  if (
    parsed.version !== 1 ||
    typeof parsed.encryptionKey !== 'string' ||
    typeof parsed.lookupKey !== 'string'
  ) {
    throw new MainstayError('config_invalid', `catalog flag ${CARD_KEYS_FLAG} has no usable keys`);
  }
  const keys = cardKeysOf(
    Buffer.from(parsed.encryptionKey, 'base64url'),
    Buffer.from(parsed.lookupKey, 'base64url'),
  );
  if (parsed.keyId !== keys.keyId) {
    throw new MainstayError('config_invalid', `catalog flag ${CARD_KEYS_FLAG}: key id mismatch`);
  }
  return keys;
}
