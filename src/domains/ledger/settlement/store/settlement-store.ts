/**
 * The SQL of clearing and settlement on one shard (decision 51): the window rows of 0004, the
 * close records, the settlement flow's own transfers and a window's flow of 0007.
 */
import type { Queryable } from '../../../../data/primary-writer.ts';
import type { WindowKey } from '../core/settlement-types.ts';

/** What `ledger_close_window` answered on one shard. */
export type ShardCloseOutcome = 'closed' | 'already_closed' | 'no_windows' | 'not_open_yet';

/** One shard's row of a window, with the close record when this shard is the window's home. */
export interface ShardWindowRow extends WindowKey {
  readonly state: 'open' | 'closed' | 'settled';
  readonly openedAt: Date;
  readonly closedAt: Date | null;
  readonly settledAt: Date | null;
  /** From the close record (home shard only). */
  readonly completedAt: Date | null;
  readonly reserveBasisPoints: number | null;
}

/** A window's flow on one settlement account of the counterparty. */
export interface AccountFlow {
  readonly accountId: string;
  readonly currency: string;
  readonly debits: bigint;
  readonly credits: bigint;
  readonly transfers: bigint;
}

/** A transfer the settlement flow posted for a window (see 0007). */
export interface WindowTransfer {
  readonly transferId: string;
  readonly purpose: 'reserve' | 'settlement';
  readonly accountId: string;
  readonly currency: string;
  /** As it moved the settlement account: positive credited it, negative debited it. */
  readonly amount: bigint;
}

type WindowRow = {
  counterparty: string;
  window_number: string;
  state: 'open' | 'closed' | 'settled';
  opened_at: Date;
  closed_at: Date | null;
  settled_at: Date | null;
  completed_at: Date | null;
  reserve_basis_points: number | null;
};

const WINDOW_SELECT = `
  SELECT w.counterparty, w.window_number::text, w.state, w.opened_at, w.closed_at, w.settled_at,
         c.closed_at AS completed_at, c.reserve_basis_points
    FROM public.ledger_settlement_windows w
    LEFT JOIN public.ledger_window_closes c
      ON c.counterparty = w.counterparty AND c.window_number = w.window_number`;

function windowOf(row: WindowRow): ShardWindowRow {
  return {
    counterparty: row.counterparty,
    number: BigInt(row.window_number),
    state: row.state,
    openedAt: row.opened_at,
    closedAt: row.closed_at,
    settledAt: row.settled_at,
    completedAt: row.completed_at,
    reserveBasisPoints: row.reserve_basis_points,
  };
}

/**
 * Up to `limit` window rows of this shard in list order (counterparty by bytes, newest window
 * first), after `after` when given, of one counterparty when given.
 */
export async function readWindowRows(
  db: Queryable,
  filter: { readonly counterparty?: string; readonly after?: WindowKey; readonly limit: number },
): Promise<ShardWindowRow[]> {
  const { rows } = await db.query<WindowRow>(
    `${WINDOW_SELECT}
      WHERE ($1::text IS NULL OR w.counterparty = $1)
        AND ($2::text IS NULL OR w.counterparty COLLATE "C" > $2
             OR (w.counterparty = $2 AND w.window_number < $3::bigint))
      ORDER BY w.counterparty COLLATE "C", w.window_number DESC LIMIT $4`,
    [
      filter.counterparty ?? null,
      filter.after?.counterparty ?? null,
      filter.after?.number.toString() ?? null,
      filter.limit,
    ],
  );
  return rows.map(windowOf);
}

/** This shard's row of one window, or `null`. */
export async function readWindowRow(db: Queryable, key: WindowKey): Promise<ShardWindowRow | null> {
  const { rows } = await db.query<WindowRow>(
    `${WINDOW_SELECT} WHERE w.counterparty = $1 AND w.window_number = $2::bigint`,
    [key.counterparty, key.number.toString()],
  );
  return rows[0] === undefined ? null : windowOf(rows[0]);
}

/** This shard's row of one window, locked until the transaction ends; `null` when none. */
export async function lockWindowRow(
  tx: Queryable,
  key: WindowKey,
): Promise<'open' | 'closed' | 'settled' | null> {
  const { rows } = await tx.query<{ state: 'open' | 'closed' | 'settled' }>(
    `SELECT state FROM public.ledger_settlement_windows
      WHERE counterparty = $1 AND window_number = $2::bigint FOR UPDATE`,
    [key.counterparty, key.number.toString()],
  );
  return rows[0]?.state ?? null;
}

/** Closes the window on this shard (0004's idempotent close) and says how it went. */
export async function closeWindowOnShard(
  tx: Queryable,
  key: WindowKey,
): Promise<ShardCloseOutcome> {
  const { rows } = await tx.query<{ o_outcome: ShardCloseOutcome }>(
    'SELECT o_outcome FROM public.ledger_close_window($1, $2::bigint)',
    [key.counterparty, key.number.toString()],
  );
  const outcome = rows[0]?.o_outcome;
  if (outcome === undefined) throw new Error('ledger_close_window answered nothing');
  return outcome;
}

/** Marks the window settled on this shard (it must be closed there). */
export async function markWindowSettled(tx: Queryable, key: WindowKey): Promise<void> {
  await tx.query(
    `UPDATE public.ledger_settlement_windows SET state = 'settled', settled_at = clock_timestamp()
      WHERE counterparty = $1 AND window_number = $2::bigint AND state = 'closed'`,
    [key.counterparty, key.number.toString()],
  );
}

/** The window's flow on this shard, per settlement account of the counterparty, by id. */
export async function readWindowFlow(db: Queryable, key: WindowKey): Promise<AccountFlow[]> {
  const { rows } = await db.query<{
    o_account_id: string;
    o_currency: string;
    o_debits: string;
    o_credits: string;
    o_transfers: string;
  }>(
    `SELECT o_account_id, o_currency, o_debits::text, o_credits::text, o_transfers::text
       FROM public.ledger_window_flow($1, $2::bigint)`,
    [key.counterparty, key.number.toString()],
  );
  return rows.map((row) => ({
    accountId: row.o_account_id,
    currency: row.o_currency,
    debits: BigInt(row.o_debits),
    credits: BigInt(row.o_credits),
    transfers: BigInt(row.o_transfers),
  }));
}

/** The close record of a window (on its home shard), or `null` before the close completed. */
export async function readWindowClose(
  db: Queryable,
  key: WindowKey,
): Promise<{ readonly reserveBasisPoints: number; readonly closedAt: Date } | null> {
  const { rows } = await db.query<{ reserve_basis_points: number; closed_at: Date }>(
    `SELECT reserve_basis_points, closed_at FROM public.ledger_window_closes
      WHERE counterparty = $1 AND window_number = $2::bigint`,
    [key.counterparty, key.number.toString()],
  );
  const row = rows[0];
  return row === undefined
    ? null
    : { reserveBasisPoints: row.reserve_basis_points, closedAt: row.closed_at };
}

/** Records that the window's close completed, with the reserve share it applied. */
export async function insertWindowClose(
  tx: Queryable,
  key: WindowKey,
  reserveBasisPoints: number,
): Promise<void> {
  await tx.query(
    `INSERT INTO public.ledger_window_closes (counterparty, window_number, reserve_basis_points,
            closed_at)
     VALUES ($1, $2::bigint, $3, clock_timestamp()) ON CONFLICT DO NOTHING`,
    [key.counterparty, key.number.toString(), reserveBasisPoints],
  );
}

/** The transfers the settlement flow posted for the window on this shard. */
export async function readWindowTransfers(
  db: Queryable,
  key: WindowKey,
): Promise<WindowTransfer[]> {
  const { rows } = await db.query<{
    transfer_id: string;
    purpose: 'reserve' | 'settlement';
    account_id: string;
    currency: string;
    amount: string;
  }>(
    `SELECT transfer_id, purpose, account_id, currency, amount::text
       FROM public.ledger_window_transfers
      WHERE counterparty = $1 AND window_number = $2::bigint ORDER BY transfer_id`,
    [key.counterparty, key.number.toString()],
  );
  return rows.map((row) => ({
    transferId: row.transfer_id,
    purpose: row.purpose,
    accountId: row.account_id,
    currency: row.currency,
    amount: BigInt(row.amount),
  }));
}

/** Records transfers of the settlement flow, in the transaction that posts them. */
export async function insertWindowTransfers(
  tx: Queryable,
  key: WindowKey,
  transfers: readonly WindowTransfer[],
): Promise<void> {
  if (transfers.length === 0) return;
  await tx.query(
    `INSERT INTO public.ledger_window_transfers (transfer_id, counterparty, window_number,
            purpose, account_id, currency, amount, created_at)
     SELECT t.id, $1, $2::bigint, t.purpose, t.account, t.currency, t.amount, clock_timestamp()
       FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[])
            AS t(id, purpose, account, currency, amount)
     ON CONFLICT (transfer_id) DO NOTHING`,
    [
      key.counterparty,
      key.number.toString(),
      transfers.map((t) => t.transferId),
      transfers.map((t) => t.purpose),
      transfers.map((t) => t.accountId),
      transfers.map((t) => t.currency),
      transfers.map((t) => t.amount.toString()),
    ],
  );
}

/** The counterparty's settlement accounts on this shard in `currency`, by id. */
export async function settlementAccountsOn(
  db: Queryable,
  counterparty: string,
  currency: string,
): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT id FROM public.ledger_accounts
      WHERE owner_id = $1 AND kind = 'settlement' AND currency = $2 AND NOT closed ORDER BY id`,
    [counterparty, currency],
  );
  return rows.map((row) => row.id);
}

/** The stripes of institution account `code` on this shard in `currency`, by stripe. */
export async function stripesOn(db: Queryable, code: string, currency: string): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT id FROM public.ledger_accounts
      WHERE code = $1 AND currency = $2 AND NOT closed ORDER BY stripe`,
    [code, currency],
  );
  return rows.map((row) => row.id);
}

/** The minor unit of each of `currencies` (ISO 4217, from the ledger's table). */
export async function minorUnitsOf(
  db: Queryable,
  currencies: readonly string[],
): Promise<Map<string, number>> {
  const { rows } = await db.query<{ code: string; minor_unit: number }>(
    'SELECT code, minor_unit FROM public.ledger_currencies WHERE code = ANY ($1::text[])',
    [currencies],
  );
  return new Map(rows.map((row) => [row.code, row.minor_unit]));
}

/** The window the counterparty has open on this shard, or `null` when it has none here. */
export async function readWindowHead(db: Queryable, counterparty: string): Promise<bigint | null> {
  const { rows } = await db.query<{ current_window: string }>(
    'SELECT current_window::text FROM public.ledger_window_heads WHERE counterparty = $1',
    [counterparty],
  );
  return rows[0] === undefined ? null : BigInt(rows[0].current_window);
}

/**
 * The idempotency record of `(scope, key)` on this shard, read before a write that spans
 * shards so that a reused key is refused before anything is written; `null` when there is none.
 */
export async function readIdempotencyRecord(
  db: Queryable,
  scope: string,
  key: string,
): Promise<{ readonly fingerprint: string; readonly response: unknown } | null> {
  const { rows } = await db.query<{ fingerprint: string; response: unknown }>(
    'SELECT fingerprint, response FROM public.idempotency_keys WHERE scope = $1 AND key = $2',
    [scope, key],
  );
  return rows[0] ?? null;
}

/**
 * Serialises the completion of one window's close on its home shard until the transaction
 * ends, so that two closes at once post its reserve once: the second waits, then finds the
 * close record.
 */
export async function lockWindowClose(tx: Queryable, key: WindowKey): Promise<void> {
  await tx.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [
    `ledger_window_close ${key.number} ${key.counterparty}`,
  ]);
}
