import type { MigrationSet } from '../../../migrations/migration.ts';
import { loadMigrationSet } from '../../../migrations/migration-files.ts';

/**
 * Authorizations, the stand-in reconciliation ledger, its dead letters, and the server-side
 * functions the hot path runs. Apply after {@link CARD_ACCOUNT_MIGRATIONS}. Frozen in
 * `authorization/`, one file per migration, never edited once released:
 *
 * 1. The tables, `card_authorize_batch` (the first batch function) and `card_expire_holds` (the
 *    sweeper's bounded step).
 * 2. `stand_in_quarantine`, the advice forwarder's dead letters. Loose types on purpose (numeric
 *    amount, text time): a row must fit whatever malformed advice it has to keep.
 * 3. `card_engine_batch`: one call decides and writes a whole micro-batch of one shard's lane
 *    (authorizations, advices, captures and reversals); it superseded `card_authorize_batch`.
 * 4. `card_engine_batch` runs with `enable_seqscan = off`: every statement reaches its rows by
 *    the keys the batch names, but the cached generic plan (ten rows guessed per array) scanned
 *    `card_accounts` and `cards` whole on small tables (decision 26, measured with
 *    bench:double11).
 * 5. Decision 37: an advice that meets an issuer row with another status keeps the answer
 *    stand-in gave, unless the issuer's hold was already moved; `stand_in_conflicts` lists
 *    each such conflict for a person (`card_keep_stand_in_answer`).
 * 6. Drops `card_authorize_batch`, unused since migration 3.
 * 7. Decision 52, cards on the ledger: `card_ledger_outbox`, a row per change of what an
 *    authorization holds or has captured, written by triggers in the transaction of the change
 *    (so every writer of holds is covered, and no function above had to be copied);
 *    `authorizations.ledger_generation` numbers the changes; what authorizations already held or
 *    captured is queued as their generation 0.
 *
 * Functions live in schema `public` with the tables they touch; migrations run on both DCs'
 * primaries, so the copy DC has the same functions when it takes over. To change a function,
 * add a migration that copies its latest text with `CREATE OR REPLACE FUNCTION`; that statement
 * resets the function's settings, so it must repeat them (`SET enable_seqscan = off` for
 * `card_engine_batch`).
 *
 * Why `card_engine_batch` is shaped as it is:
 * - Lock order, the same for every writer of holds (this function, the service's direct path,
 *   the sweeper): accounts first, all of them in ONE statement in id order
 *   (`FOR NO KEY UPDATE`: the authorizations' cards' accounts and the moved holds' accounts),
 *   then idempotency keys in (scope, key) order, then authorization rows. Two engine processes
 *   therefore never deadlock, and a batch never waits halfway through.
 * - Moves run before the authorizations, on the same in-memory account totals: a reversal in
 *   the batch frees credit for the authorizations after it; one UPDATE writes every account.
 * - A move that fails (unknown id, hold not open, amount over what is held, key reused) fails
 *   alone: its key claim is deleted again in the same transaction (as a rolled-back
 *   `onceInTransaction` would leave it) and the rest of the batch commits.
 * - A move's answer is stored in `idempotency_keys` in the shape `onceInTransaction` stores
 *   (an authorization row with bigints as text and times as ISO 8601 in milliseconds), so a
 *   retry is answered the same whichever path wrote the key.
 * - A request id already stored is matched on the stored row's own fields (amount, currency,
 *   merchant, category, reference) instead of a fingerprint computed per request: the same
 *   test, no hashing on the hot path. `fingerprint` is written empty for new rows.
 * - The answer is compact: what Node does not already know (status, account, exposure, ids of
 *   stored rows) and the batch's clock once, on the first row; nothing is re-read.
 *
 * Statement order inside READ COMMITTED matters: every statement after the lock sees rows
 * committed by the batch that held the lock before, so two engines never double-spend.
 */
export const AUTHORIZATION_MIGRATIONS: MigrationSet = loadMigrationSet(
  'card-authorizations',
  new URL('./authorization/', import.meta.url),
  // Everything of an authorization lives in its card's bucket (the card's account's).
  {
    authorizations: { kind: 'key', column: 'card_id' },
    stand_in_reconciliations: { kind: 'key', column: 'card_id' },
    stand_in_quarantine: { kind: 'key', column: 'card_id' },
    stand_in_conflicts: { kind: 'key', column: 'card_id' },
    card_ledger_outbox: { kind: 'key', column: 'account_id' },
  },
);
