import { createHash } from 'node:crypto';
import { formatEntityId, taggedBucket } from '../../../data/entity-id.ts';
import type { Router } from '../../../data/router.ts';
import { insertLedgerAccount } from '../store/ledger-accounts.ts';
import type { LedgerTotals } from './ledger-types.ts';

/** Kinds of account the ledger keeps for a record of another book (a card account, say). */
export const DERIVED_ACCOUNT_KINDS = ['card_receivable'] as const;
export type DerivedAccountKind = (typeof DERIVED_ACCOUNT_KINDS)[number];

/** Names one derived account: what it is, whose, in which currency. */
export interface DerivedAccountKey {
  readonly kind: DerivedAccountKind;
  /** The record it mirrors (an entity id lands the account on that record's shard). */
  readonly ownerId: string;
  readonly currency: string;
}

/** Fixed time part of derived ids: they are computed, not minted, so they carry no creation time. */
const DERIVED_ID_TIME_MS = 0;

/**
 * Accounts the ledger keeps for records of another book (decision 52): one per (kind, owner,
 * currency), with an id computed from that key, in the owner's bucket (so on the owner's
 * shard, beside it), unguarded. Computing the id instead of minting it means the account is
 * found without a look-up table and opened once however often it is asked for: no idempotency
 * record to expire, no second account after a crash. Unguarded because the other book is the
 * authority on its limits: the ledger mirrors what it decided and must never refuse it.
 */
export class DerivedAccounts {
  readonly #router: Router;
  readonly #opened = new Set<string>();

  constructor(router: Router) {
    this.#router = router;
  }

  /** The id of the account `key` names (whether or not it is open yet). */
  idOf(key: DerivedAccountKey): string {
    const tagged = taggedBucket(key.ownerId);
    const bucket =
      tagged !== null && tagged < this.#router.map.snapshot.bucketCount
        ? tagged
        : this.#router.map.bucketOf(key.ownerId);
    const digest = createHash('sha256')
      .update(`${key.kind}\u0000${key.ownerId}\u0000${key.currency}`)
      .digest();
    return formatEntityId('lacc', bucket, DERIVED_ID_TIME_MS, digest.subarray(0, 10));
  }

  /** The shard an account id lives on. */
  shardOf(id: string): number {
    return this.#router.map.shardOf(id);
  }

  /** Opens the account `key` names if it is not open yet; its id. Safe to repeat and to race. */
  async open(key: DerivedAccountKey): Promise<string> {
    const id = this.idOf(key);
    if (this.#opened.has(id)) return id;
    await this.#router.write(id, (tx) =>
      insertLedgerAccount(tx, {
        id,
        currency: key.currency,
        kind: key.kind,
        ownerId: key.ownerId,
      }),
    );
    this.#opened.add(id);
    return id;
  }

  /**
   * The totals of the accounts `keys` name, read on each shard's primary in one statement per
   * shard; an account not open yet is absent from the answer.
   */
  async totals(keys: readonly DerivedAccountKey[]): Promise<Map<DerivedAccountKey, LedgerTotals>> {
    const byShard = new Map<number, { key: DerivedAccountKey; id: string }[]>();
    for (const key of keys) {
      const id = this.idOf(key);
      const shardId = this.#router.map.shardOf(id);
      byShard.set(shardId, [...(byShard.get(shardId) ?? []), { key, id }]);
    }
    const found = new Map<DerivedAccountKey, LedgerTotals>();
    for (const [shardId, wanted] of byShard) {
      const { value } = await this.#router.readShard(
        shardId,
        (db) =>
          db.query<{ id: string; dp: string; cp: string; dpe: string; cpe: string }>(
            `SELECT id, debits_posted::text AS dp, credits_posted::text AS cp,
                    debits_pending::text AS dpe, credits_pending::text AS cpe
               FROM public.ledger_accounts WHERE id = ANY ($1::text[])`,
            [wanted.map(({ id }) => id)],
          ),
        { consistency: 'primary' },
      );
      const rows = new Map(value.rows.map((row) => [row.id, row]));
      for (const { key, id } of wanted) {
        const row = rows.get(id);
        if (row === undefined) continue;
        found.set(key, {
          debitsPosted: BigInt(row.dp),
          creditsPosted: BigInt(row.cp),
          debitsPending: BigInt(row.dpe),
          creditsPending: BigInt(row.cpe),
        });
      }
    }
    return found;
  }
}
