import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { newEntityId } from '../../../../data/entity-id.ts';
import type { Queryable, Router } from '../../../../data/router.ts';
import type { CardKeys } from './card-keys.ts';

/** Prefix of vault tokens: `ctok_…`, minted in the owner's bucket so it routes to its shard. */
export const CARD_TOKEN_PREFIX = 'ctok';

/** AES-GCM's recommended nonce length, and the full tag length (no truncation). */
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** What the vault seals for one card: the number and, since it is cardholder data too, the name. */
export interface CardSecret {
  readonly pan: string;
  readonly holderName: string | null;
}

/** One vault row's sealed fields, as stored (column names) and as {@link CardVault.seal} makes them. */
export interface SealedCard {
  readonly key_id: string;
  readonly nonce: Buffer;
  readonly ciphertext: Buffer;
  readonly auth_tag: Buffer;
}

/**
 * The card vault: card numbers sealed with AES-256-GCM in table `card_vault` on the owner's
 * shard, addressed by an opaque token. The bound card keeps only the token, a keyed look-up hash,
 * the brand and the last four digits, so nothing that reads `bound_cards` (a replica, a report,
 * a backup of it) ever holds a number. The token is the AAD of its ciphertext: a sealed row
 * copied under another token does not open.
 *
 * @example
 * const vault = new CardVault(keys);
 * const token = vault.newToken(router.map.bucketOf(userId));
 * await vault.store(tx, token, { pan: '4111111111111111', holderName: null });
 * const secret = await vault.reveal(router, token); // for a payment service only
 */
export class CardVault {
  readonly #keys: CardKeys;

  constructor(keys: CardKeys) {
    this.#keys = keys;
  }

  /** A new token in `bucket` (the owner's bucket). */
  newToken(bucket: number, now = Date.now()): string {
    return newEntityId(CARD_TOKEN_PREFIX, bucket, now);
  }

  /**
   * The keyed hash (HMAC-SHA256, hex) that finds a card among a user's bindings without
   * decrypting: equal numbers give equal hashes under one look-up key.
   */
  lookupHash(pan: string): string {
    return createHmac('sha256', this.#keys.lookupKey).update(pan).digest('hex');
  }

  /** Seals `secret` under `token` and inserts the row (in the caller's transaction). */
  async store(tx: Queryable, token: string, secret: CardSecret): Promise<void> {
    const sealed = this.seal(token, secret);
    await tx.query(
      `INSERT INTO public.card_vault (token, key_id, nonce, ciphertext, auth_tag)
       VALUES ($1, $2, $3, $4, $5)`,
      [token, sealed.key_id, sealed.nonce, sealed.ciphertext, sealed.auth_tag],
    );
  }

  /** Seals `secret` under `token` with a fresh nonce. */
  seal(token: string, secret: CardSecret): SealedCard {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#keys.encryptionKey, nonce, {
      authTagLength: TAG_BYTES,
    });
    cipher.setAAD(Buffer.from(token, 'utf8'));
    const plain = Buffer.from(JSON.stringify({ pan: secret.pan, name: secret.holderName }));
    const ciphertext = Buffer.concat([cipher.update(plain), cipher.final()]);
    plain.fill(0);
    return { key_id: this.#keys.keyId, nonce, ciphertext, auth_tag: cipher.getAuthTag() };
  }

  /** Opens a sealed row; throws if it was sealed under another key or token, or altered. */
  open(token: string, row: SealedCard): CardSecret {
    if (row.key_id !== this.#keys.keyId) {
      throw new Error(`vault row ${token} is sealed under key ${row.key_id}, not the current key`);
    }
    const decipher = createDecipheriv('aes-256-gcm', this.#keys.encryptionKey, row.nonce, {
      authTagLength: TAG_BYTES,
    });
    decipher.setAAD(Buffer.from(token, 'utf8'));
    decipher.setAuthTag(row.auth_tag);
    const plain = Buffer.concat([decipher.update(row.ciphertext), decipher.final()]);
    const parsed = JSON.parse(plain.toString('utf8')) as { pan: string; name: string | null };
    plain.fill(0);
    return { pan: parsed.pan, holderName: parsed.name };
  }

  /** The sealed card behind `token` read on `db`, or `null` when the token is unknown or erased. */
  async revealOn(db: Queryable, token: string): Promise<CardSecret | null> {
    const { rows } = await db.query<SealedCard>(
      'SELECT key_id, nonce, ciphertext, auth_tag FROM public.card_vault WHERE token = $1',
      [token],
    );
    const row = rows[0];
    return row ? this.open(token, row) : null;
  }

  /**
   * Detokenises through the router, on the shard the token names. For the payment service that
   * must send the number on to a network; reads the primary, since a token is used right after
   * the binding that made it and a payment must not fail on replica lag.
   */
  async reveal(router: Router, token: string): Promise<CardSecret | null> {
    const { value } = await router.read(token, (db) => this.revealOn(db, token), {
      consistency: 'primary',
    });
    return value;
  }

  /** Erases a token's sealed card (crypto-shredding one binding on unbind). */
  async erase(tx: Queryable, token: string): Promise<void> {
    await tx.query('DELETE FROM public.card_vault WHERE token = $1', [token]);
  }
}
