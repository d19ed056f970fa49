import { createHash, hkdfSync } from 'node:crypto';
import type { PurposeKey, PurposeKeys, SecretPurpose } from './secrets-port.ts';

/** Bytes of every derived key: HMAC-SHA256 and AES-256 both take 32. */
export const PURPOSE_KEY_BYTES = 32;

/** How many root secrets a ring keeps at once (the current one and those still accepted). */
export const ROOT_SECRET_COUNT_MAX = 4;

/** The HKDF salt of every derivation, as the card keys have used it since they were made. */
const HKDF_SALT = 'mainstay';

/**
 * The HKDF `info` label of each purpose; distinct labels give unrelated keys from one root. The
 * two card labels are the ones the card keys were derived under before this ring existed, so an
 * existing fleet derives the same card keys from the same root. Never change a label: every key
 * derived under it would change.
 */
export const PURPOSE_LABELS: Readonly<Record<SecretPurpose, string>> = {
  'consistency-token': 'mainstay/consistency-token/v1',
  'card-vault-encryption': 'card-binding/encryption/v1',
  'card-vault-lookup': 'card-binding/lookup/v1',
  'api-credentials': 'mainstay/api-credentials/v1',
  'access-token-signing': 'mainstay/access-token-signing/v1',
  'identity-data-encryption': 'mainstay/identity-data-encryption/v1',
  'payment-qr-signing': 'mainstay/payment-qr-signing/v1',
};

/** One root secret: the bytes every purpose key is derived from, and its id. */
export interface RootSecret {
  readonly id: string;
  readonly secret: Buffer;
}

/** The id of a root secret: a hash prefix, which tells roots apart and reveals nothing usable. */
export function rootSecretId(secret: Buffer): string {
  return `rk_${createHash('sha256').update(secret).digest('hex').slice(0, 16)}`;
}

/** A root secret from its stored text (the text's UTF-8 bytes are the secret, as they always were). */
export function rootSecretOf(text: string): RootSecret {
  if (text.length < 32) throw new RangeError('a root secret must be at least 32 characters');
  const secret = Buffer.from(text, 'utf8');
  return { id: rootSecretId(secret), secret };
}

/**
 * The root secrets of a fleet and the keys derived from them: HKDF-SHA256 per purpose under its
 * own label ({@link PURPOSE_LABELS}). The current root gives each purpose's current key; every
 * other root gives a key still accepted. A key's id is its root's id.
 *
 * `legacyTokenKey`: the root used as the token key itself, as tokens were signed before each
 * purpose had its own key. Accepted (never used to sign) while a fleet has had no rotation, so
 * tokens that clients hold from before an upgrade still verify; the first rotation ends it.
 */
export class RootSecretRing {
  readonly current: RootSecret;
  readonly roots: readonly RootSecret[];
  readonly #legacyTokenKey: Buffer | null;

  constructor(roots: readonly RootSecret[], currentId: string, legacyTokenKey: Buffer | null) {
    const current = roots.find((root) => root.id === currentId);
    if (!current) throw new RangeError(`the current root secret ${currentId} is not in the ring`);
    if (roots.length > ROOT_SECRET_COUNT_MAX) {
      throw new RangeError(`a ring keeps at most ${ROOT_SECRET_COUNT_MAX} root secrets`);
    }
    if (new Set(roots.map((root) => root.id)).size !== roots.length) {
      throw new RangeError('a root secret is in the ring twice');
    }
    this.current = current;
    this.roots = roots;
    this.#legacyTokenKey = legacyTokenKey;
  }

  /** The keys of one purpose: derived from the current root, then from the others. */
  keysFor(purpose: SecretPurpose): PurposeKeys {
    const current = derive(this.current, purpose);
    const older = this.roots
      .filter((root) => root !== this.current)
      .map((root) => derive(root, purpose));
    const accepted: PurposeKey[] = [current, ...older];
    if (purpose === 'consistency-token' && this.#legacyTokenKey !== null) {
      accepted.push({ keyId: 'legacy', key: this.#legacyTokenKey });
    }
    return { purpose, current, accepted };
  }

  /** This ring plus `root`, accepted but not yet current (the first step of a rotation). */
  withRoot(root: RootSecret): RootSecretRing {
    return new RootSecretRing([...this.roots, root], this.current.id, null);
  }

  /**
   * This ring with `id` current. Promote a root only once every process accepts it (has
   * reloaded the ring since it was added), or tokens signed with it are refused meanwhile.
   */
  withCurrent(id: string): RootSecretRing {
    return new RootSecretRing(this.roots, id, null);
  }

  /** This ring without `id`, which must not be current: what was signed with it stops verifying. */
  without(id: string): RootSecretRing {
    if (id === this.current.id) throw new RangeError('the current root secret cannot be retired');
    if (!this.roots.some((root) => root.id === id)) throw new RangeError(`no root secret ${id}`);
    return new RootSecretRing(
      this.roots.filter((root) => root.id !== id),
      this.current.id,
      null,
    );
  }
}

function derive(root: RootSecret, purpose: SecretPurpose): PurposeKey {
  const bytes = hkdfSync(
    'sha256',
    root.secret,
    HKDF_SALT,
    PURPOSE_LABELS[purpose],
    PURPOSE_KEY_BYTES,
  );
  return { keyId: root.id, key: Buffer.from(bytes) };
}
