/**
 * The keys customers' data is sealed and looked up with, all from the `identity-data-encryption`
 * purpose: sealing uses the purpose key itself ({@link seal}); each kind of look-up (phone,
 * identity number, bank card, one-time code) uses an HMAC-SHA256 key derived from it under a
 * label of its own, so a hash of one kind cannot be matched against another. A look-up is
 * computed under every accepted key (current first): rows written before a rotation are still
 * found while the ring accepts their key.
 */
import { createHmac } from 'node:crypto';
import { open, seal } from '../../../../secrets/sealed-box.ts';
import type { PurposeKey, PurposeKeys, SecretsPort } from '../../../../secrets/secrets-port.ts';

export type LookupKind = 'phone' | 'id-number' | 'bank-card' | 'phone-code' | 'full-name';

/** The keyed hash of `value` for `kind` under one purpose key. */
export function lookupUnder(key: PurposeKey, kind: LookupKind, value: string): Buffer {
  const derived = createHmac('sha256', key.key).update(`mainstay/identity-lookup/${kind}`).digest();
  return createHmac('sha256', derived).update(value, 'utf8').digest();
}

/** One fetch of the purpose's keys, with the operations customers' data needs. */
export class CustomerKeys {
  readonly keys: PurposeKeys;

  private constructor(keys: PurposeKeys) {
    this.keys = keys;
  }

  static async of(secrets: SecretsPort): Promise<CustomerKeys> {
    return new CustomerKeys(await secrets.keysFor('identity-data-encryption'));
  }

  /** The look-up of `value` under the current key (what new rows store). */
  lookup(kind: LookupKind, value: string): Buffer {
    return lookupUnder(this.keys.current, kind, value);
  }

  /** The look-ups of `value` under every accepted key, current first (what queries match). */
  lookups(kind: LookupKind, value: string): Buffer[] {
    return this.keys.accepted.map((key) => lookupUnder(key, kind, value));
  }

  /** `value` sealed for one field of one customer. */
  seal(customerId: string, field: string, value: string): string {
    return seal(this.keys.current, value, `customer:${customerId}:${field}`);
  }

  /** A sealed field opened; throws when it was moved from another customer or field. */
  open(customerId: string, field: string, sealed: string): string {
    return open(this.keys, sealed, `customer:${customerId}:${field}`);
  }
}
