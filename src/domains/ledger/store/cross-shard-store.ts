import type { Queryable } from '../../../data/primary-writer.ts';

/** Where a cross-shard transfer is (decision 49, "Across shards"); the last two are final. */
export const CROSS_SHARD_STATES = [
  'pending_debit',
  'credit_pending',
  'posting',
  'voiding',
  'posted',
  'voided',
] as const;
export type CrossShardState = (typeof CROSS_SHARD_STATES)[number];

/** The coordinator row of one cross-shard transfer, on the debtor's shard. */
export interface CrossShardRow {
  readonly id: string;
  readonly debitAccountId: string;
  readonly creditAccountId: string;
  readonly amount: bigint;
  readonly currency: string;
  readonly reference: string | null;
  readonly timeoutSeconds: number;
  readonly debitTransitId: string;
  readonly creditTransitId: string | null;
  readonly state: CrossShardState;
  readonly creditLegPending: boolean;
  readonly voidReason: string | null;
  readonly attempts: number;
  readonly lastError: string | null;
  readonly nextAttemptAt: Date;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** What starts one: the caller's fields, and how leg 1 is made. */
export interface CrossShardStart {
  readonly id: string;
  readonly debitAccountId: string;
  readonly creditAccountId: string;
  readonly amount: bigint;
  readonly currency: string;
  readonly reference: string | null;
  readonly transitCode: string;
  readonly timeoutSeconds: number;
}

/** How a start came out: `pending` (accepted; `state` says where it is) or leg 1's refusal. */
export interface CrossShardStarted {
  readonly status: string;
  readonly replayed: boolean;
  readonly state: CrossShardState | null;
}

type Row = {
  id: string;
  debit_account_id: string;
  credit_account_id: string;
  amount: string;
  currency: string;
  reference: string | null;
  timeout_seconds: number;
  debit_transit_id: string;
  credit_transit_id: string | null;
  state: CrossShardState;
  credit_leg_pending: boolean;
  void_reason: string | null;
  attempts: number;
  last_error: string | null;
  next_attempt_at: Date;
  created_at: Date;
  updated_at: Date;
};

const COLUMNS =
  'id, debit_account_id, credit_account_id, amount::text AS amount, currency, reference, ' +
  'timeout_seconds, debit_transit_id, credit_transit_id, state, credit_leg_pending, ' +
  'void_reason, attempts, last_error, next_attempt_at, created_at, updated_at';

function rowOf(row: Row): CrossShardRow {
  return {
    id: row.id,
    debitAccountId: row.debit_account_id,
    creditAccountId: row.credit_account_id,
    amount: BigInt(row.amount),
    currency: row.currency,
    reference: row.reference,
    timeoutSeconds: row.timeout_seconds,
    debitTransitId: row.debit_transit_id,
    creditTransitId: row.credit_transit_id,
    state: row.state,
    creditLegPending: row.credit_leg_pending,
    voidReason: row.void_reason,
    attempts: row.attempts,
    lastError: row.last_error,
    nextAttemptAt: row.next_attempt_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/**
 * Leg 1 and the coordinator row in the caller's transaction, on the debtor's shard: one call of
 * `ledger_cross_shard_start` (0005), so the row commits with the leg or not at all.
 */
export async function startCrossShard(
  tx: Queryable,
  start: CrossShardStart,
): Promise<CrossShardStarted> {
  const { rows } = await tx.query<{ o_status: string; o_replayed: boolean; o_state: string }>(
    `SELECT o_status, o_replayed, o_state
       FROM public.ledger_cross_shard_start($1, $2, $3, $4::bigint, $5, $6, $7, $8)`,
    [
      start.id,
      start.debitAccountId,
      start.creditAccountId,
      start.amount.toString(),
      start.currency,
      start.reference,
      start.transitCode,
      start.timeoutSeconds,
    ],
  );
  const row = rows[0];
  if (row === undefined) throw new Error('ledger_cross_shard_start answered nothing');
  return {
    status: row.o_status,
    replayed: row.o_replayed,
    state: row.o_state as CrossShardState | null,
  };
}

/** The coordinator row `id` on this shard, or `null`. */
export async function readCrossShard(db: Queryable, id: string): Promise<CrossShardRow | null> {
  const { rows } = await db.query<Row>(
    `SELECT ${COLUMNS} FROM public.ledger_cross_shard WHERE id = $1`,
    [id],
  );
  return rows[0] === undefined ? null : rowOf(rows[0]);
}

/** Up to `limit` rows of this shard not final and due now, the longest due first. */
export async function listDueCrossShard(db: Queryable, limit: number): Promise<CrossShardRow[]> {
  const { rows } = await db.query<Row>(
    `SELECT ${COLUMNS} FROM public.ledger_cross_shard
      WHERE state NOT IN ('posted', 'voided') AND next_attempt_at <= clock_timestamp()
      ORDER BY next_attempt_at LIMIT $1`,
    [limit],
  );
  return rows.map(rowOf);
}

/** What a move changes beside the state. */
export interface CrossShardMove {
  readonly creditLegPending?: boolean;
  readonly voidReason?: string;
}

/**
 * Moves row `id` from state `from` to `to`, only if it is still in `from`, and clears its
 * failures: `null` when another driver moved it first, else the row after the move.
 */
export async function moveCrossShard(
  tx: Queryable,
  id: string,
  from: CrossShardState,
  to: CrossShardState,
  change: CrossShardMove = {},
): Promise<CrossShardRow | null> {
  const { rows } = await tx.query<Row>(
    `UPDATE public.ledger_cross_shard
        SET state = $3, credit_leg_pending = coalesce($4, credit_leg_pending),
            void_reason = coalesce($5, void_reason), attempts = 0, last_error = NULL,
            next_attempt_at = clock_timestamp(), updated_at = clock_timestamp()
      WHERE id = $1 AND state = $2
      RETURNING ${COLUMNS}`,
    [id, from, to, change.creditLegPending ?? null, change.voidReason ?? null],
  );
  return rows[0] === undefined ? null : rowOf(rows[0]);
}

/**
 * Fixes the creditor shard's in_transit stripe of row `id`: the first driver's choice stands,
 * so leg 2 is asked with the same fields by every driver. Answers the stripe fixed.
 */
export async function fixCreditTransit(tx: Queryable, id: string, stripe: string): Promise<string> {
  const { rows } = await tx.query<{ credit_transit_id: string }>(
    `UPDATE public.ledger_cross_shard SET credit_transit_id = coalesce(credit_transit_id, $2)
      WHERE id = $1 RETURNING credit_transit_id`,
    [id, stripe],
  );
  const fixed = rows[0]?.credit_transit_id;
  if (fixed === undefined) throw new Error(`no cross-shard transfer ${id} on its shard`);
  return fixed;
}

/** Records a failed attempt at row `id` in state `state`: the next one waits `backoffMs`. */
export async function recordCrossShardFailure(
  tx: Queryable,
  id: string,
  state: CrossShardState,
  error: string,
  backoffMs: number,
): Promise<void> {
  await tx.query(
    `UPDATE public.ledger_cross_shard
        SET attempts = attempts + 1, last_error = $3,
            next_attempt_at = clock_timestamp() + make_interval(secs => $4::double precision),
            updated_at = clock_timestamp()
      WHERE id = $1 AND state = $2`,
    [id, state, error.slice(0, 1_000), backoffMs / 1_000],
  );
}

/** One leg as stored: its first outcome and, for a pending transfer, where it is now. */
export interface LegRecord {
  readonly id: string;
  readonly status: string;
  readonly pendingState: string | null;
}

/** The stored transfers among `ids` on this shard. */
export async function readLegs(db: Queryable, ids: readonly string[]): Promise<LegRecord[]> {
  const { rows } = await db.query<{ id: string; status: string; pending_state: string | null }>(
    'SELECT id, status, pending_state FROM public.ledger_transfers WHERE id = ANY ($1::text[])',
    [ids],
  );
  return rows.map((row) => ({ id: row.id, status: row.status, pendingState: row.pending_state }));
}
