import type { MigrationSet } from '../../../migrations/migration.ts';
import { loadMigrationSet } from '../../../migrations/migration-files.ts';

/**
 * Card accounts and cards, one family per shard: an account is minted in a bucket and its cards
 * in the same bucket, so the authorization engine finds a card, its account and the card's
 * authorizations in one shard transaction. Tables live in schema `public` so the publication
 * copies them to the other DC; every table has a primary key so updates replicate.
 *
 * `held + posted <= credit_limit` is not a table constraint on purpose: stand-in advices may
 * push an account over its limit (the money was promised while the issuer was away), and the
 * reconciliation records that exposure. The issuer path enforces the limit in its decisions.
 *
 * Frozen in `card-accounts/`: a change is a new file.
 */
export const CARD_ACCOUNT_MIGRATIONS: MigrationSet = loadMigrationSet(
  'card-accounts',
  new URL('./card-accounts/', import.meta.url),
  // A card is minted in its account's bucket.
  { card_accounts: { kind: 'key', column: 'id' }, cards: { kind: 'key', column: 'account_id' } },
);
