import type { PinnedColumn } from '../../../migrations/bucket-rule.ts';
import type { MigrationSet } from '../../../migrations/migration.ts';
import { loadMigrationSet } from '../../../migrations/migration-files.ts';
import { LEDGER_BUCKET_CARRIER } from '../store/ledger-bucket-carry.ts';

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
 * 11. Accounts carried by a bucket move: where one went (`carried_to`), the parts of its
 *     postings on earlier shards (`history`, `first_seq`); transfers copied as answers only
 *     (`carried_from_shard`).
 */
/**
 * The books are kept per shard: a transfer joins accounts of any buckets on its shard,
 * institution accounts are striped over every shard, each shard's trial balance holds over all
 * its accounts. A bucket's ledger rows therefore cannot leave with it: the rows are pinned to
 * their shard by the account ids they name. The carrier takes the accounts' balances along
 * (and copies their transfers as answers). A move refuses while a waiting fee (until the job
 * settles it) or a settlement flow transfer (which names institution stripes, which stay) names
 * the moving bucket (decision 58).
 *
 * QR codes, payment batches and their items, and window closes are written by their own key
 * (a QR or batch id, a counterparty's window home), never in a transaction of the books: they
 * move with the bucket of that key like any keyed row. The accounts they mention are
 * references, read through the router.
 */
const BOOKS = 'the books are kept per shard (a transfer joins accounts of any bucket on it)';
const pinned = (...columns: PinnedColumn[]) =>
  ({ kind: 'pinned', columns, reason: BOOKS }) as const;
/** Rows whose state changes after they are written, which a move that carries them must see. */
const changing = (...columns: PinnedColumn[]) =>
  ({ ...pinned(...columns), updatesLogged: true }) as const;

const LEDGER_SET: MigrationSet = loadMigrationSet('ledger', new URL('./ledger/', import.meta.url), {
  ledger_currencies: { kind: 'shard' },
  // Stripe ids carry their shard's first bucket, so that bucket stays while any stripe exists.
  ledger_accounts: pinned('id'),
  ledger_transfers: changing('debit_account_id', 'credit_account_id'),
  ledger_postings: pinned('account_id'),
  // Each shard's own window per counterparty, for the settlement accounts (stripes) on it.
  ledger_window_heads: { kind: 'shard' },
  ledger_settlement_windows: { kind: 'shard' },
  ledger_cross_shard: changing('debit_account_id', 'credit_account_id'),
  // A QR code's id carries its merchant account's bucket; a batch's items follow the batch.
  ledger_qr_codes: { kind: 'key', column: 'id' },
  ledger_payment_batches: { kind: 'key', column: 'id' },
  ledger_payment_batch_items: { kind: 'key', column: 'batch_id' },
  ledger_payment_fees: pinned('debit_account_id'),
  // A settlement window's close is kept on its counterparty's home shard, by this key.
  ledger_window_closes: { kind: 'key', column: 'counterparty', prefix: 'ledger_window:' },
  ledger_window_transfers: pinned('account_id'),
});

/** The set, with the carrier that takes a moving bucket's accounts along (decision 58). */
export const LEDGER_MIGRATIONS: MigrationSet = {
  ...LEDGER_SET,
  bucketCarrier: LEDGER_BUCKET_CARRIER,
};
