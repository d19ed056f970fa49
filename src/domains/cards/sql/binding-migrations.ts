import type { MigrationSet } from '../../../migrations/migration.ts';
import { loadMigrationSet } from '../../../migrations/migration-files.ts';

/**
 * Card binding's shard tables, all in schema `public` so the logical copy in the other DC has
 * them too. A user, the user's bound cards and their vault rows share one bucket, so they live
 * on one shard and every binding write is one local transaction.
 *
 * - `payment_users`: the user row is also the lock that serialises a user's binding writes
 *   (card limit, one default, duplicate check), so concurrent API instances cannot race them.
 * - `bound_cards`: what may be kept in clear (brand, last four, expiry), the vault token and the
 *   keyed look-up hash. Unbinding is a soft delete (`status = 'unbound'`), kept for audit.
 * - `card_vault`: the AES-256-GCM sealed card number (key id, nonce, tag), addressed by token.
 *
 * No sequences: they are not copied by logical replication, and ids are minted by the service.
 * Frozen in `binding/`: a change is a new file.
 */
export const BINDING_MIGRATIONS: MigrationSet = loadMigrationSet(
  'card-binding',
  new URL('./binding/', import.meta.url),
  // Bound cards and vault tokens are minted in their user's bucket.
  {
    payment_users: { kind: 'key', column: 'id' },
    bound_cards: { kind: 'key', column: 'user_id' },
    card_vault: { kind: 'key', column: 'token' },
  },
);
