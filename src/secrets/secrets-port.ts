/**
 * The purposes Mainstay keeps a key for. Each gets its own key, so that a key handed to one job
 * (signing consistency tokens on every request) reveals nothing about another's (sealing card
 * numbers). A new purpose is a new entry here, with its own derivation label.
 */
export const SECRET_PURPOSES = [
  'consistency-token',
  'card-vault-encryption',
  'card-vault-lookup',
  'api-credentials',
  'access-token-signing',
  'identity-data-encryption',
  'payment-qr-signing',
] as const;

/** One use of key material; see {@link SECRET_PURPOSES}. */
export type SecretPurpose = (typeof SECRET_PURPOSES)[number];

/** The runtime check for a {@link SecretPurpose}. */
export function isSecretPurpose(value: unknown): value is SecretPurpose {
  return (SECRET_PURPOSES as readonly unknown[]).includes(value);
}

/** A key and the id that names it, so that data sealed or signed with it says which key. */
export interface PurposeKey {
  readonly keyId: string;
  /** 32 bytes of key material. */
  readonly key: Buffer;
}

/** What one purpose may use: the key to sign or seal with now, and every key still accepted. */
export interface PurposeKeys {
  readonly purpose: SecretPurpose;
  /** The key new signatures and new sealed data use. */
  readonly current: PurposeKey;
  /**
   * The keys a verification accepts: {@link PurposeKeys.current} first, then older ones kept
   * through a rotation so that what was signed before it still verifies. Bounded by the number
   * of root secrets the port keeps.
   */
  readonly accepted: readonly PurposeKey[];
}

/**
 * Where the keys come from. Callers ask for a purpose and never see a root secret, so the root
 * can live in the catalog (the default, `CatalogSecrets`), in a KMS or in an HSM without a
 * change to them. An implementation hands each purpose its own key and keeps a rotated-out key
 * in `accepted` until it is retired.
 */
export interface SecretsPort {
  /** The keys of one purpose. Throws when the root secret cannot be read. */
  keysFor(purpose: SecretPurpose): Promise<PurposeKeys>;
}
