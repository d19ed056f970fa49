import type { MigrationSet } from '../../../migrations/migration.ts';
import { loadMigrationSet } from '../../../migrations/migration-files.ts';

/**
 * The ledger's shard schema (decision 49), frozen in `ledger/`: a change is a new file.
 *
 * 1. Currencies (ISO 4217 with their minor units), accounts with their four running totals and
 *    flags, transfers (every decided request under its client id), postings (one per account
 *    changed, with the totals after it).
 * 2. `ledger_apply_batch`, the engine's one call per batch, and `ledger_balance_at`.
 * 3. `ledger_check_books`, the end-of-day checks of a shard.
 * 4. Settlement windows: open, close (idempotent), a counterparty's position in a window.
 * 5. Cross-shard transfers: the coordinator row and `ledger_cross_shard_start` (leg 1 and row;
 *    no longer called: starts are batched by `startCrossShards`).
 * 6. Payments: merchant QR codes and their claims, payment batches and their items, the fees of
 *    cross-shard payments waiting for their transfer to end.
 * 7. Settlement: the close records, the settlement flow's own transfers (reserve, settlement),
 *    `ledger_window_flow` (a window's flow per settlement account, without them).
 * 8. `ledger_apply_batch` again: a linked chain fails whole on an unknown pending id, a changed
 *    retry or the replay of a refusal, and a member reusing a stored id never fails the batch.
 * 9. `ledger_apply_batch` again, the same rules at a cost linear in the batch: accounts read by
 *    their ids alone, lookups through maps made once, postings written in place.
 * 10. `ledger_check_books` again, with each transfer's legs balanced per currency and each
 *     posting's totals equal to its account's movements up to it.
 */
/**
 * The books are kept per shard (institution accounts striped over every shard, transfers and
 * postings beside their accounts, settlement per shard): a bucket does not own them, so a bucket
 * move refuses while a source shard holds ledger rows (decision 58).
 */
const PER_SHARD_BOOKS = {
  kind: 'unattributed',
  reason: 'the books are per shard (striped institution accounts, settlement windows)',
} as const;

export const LEDGER_MIGRATIONS: MigrationSet = loadMigrationSet(
  'ledger',
  new URL('./ledger/', import.meta.url),
  {
    ledger_currencies: { kind: 'shard' },
    ledger_accounts: PER_SHARD_BOOKS,
    ledger_transfers: PER_SHARD_BOOKS,
    ledger_postings: PER_SHARD_BOOKS,
    ledger_cross_shard: PER_SHARD_BOOKS,
    ledger_qr_codes: PER_SHARD_BOOKS,
    ledger_payment_batches: PER_SHARD_BOOKS,
    ledger_payment_batch_items: PER_SHARD_BOOKS,
    ledger_payment_fees: PER_SHARD_BOOKS,
    ledger_window_closes: PER_SHARD_BOOKS,
    ledger_window_transfers: PER_SHARD_BOOKS,
  },
);
