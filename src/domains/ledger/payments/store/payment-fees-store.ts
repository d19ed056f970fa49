/**
 * The payments' SQL beside the ledger's (decision 50): the fees of cross-shard payments waiting
 * for their transfer to end, and the brief read of an account a payment checks before it starts.
 */
import type { Queryable } from '../../../../data/primary-writer.ts';
import {
  type CrossShardStart,
  type CrossShardStarted,
  type CrossShardState,
  startCrossShards,
} from '../../store/cross-shard-store.ts';

/** A cross-shard payment's fee, reserved with its first leg. */
export interface WaitingFee {
  readonly transferId: string;
  readonly feeId: string;
  readonly debitAccountId: string;
  /** The transfer's state: only `posted` and `voided` are listed. */
  readonly state: CrossShardState;
}

/** A cross-shard payment's start: its transfer, with the fee's reserve linked before leg 1. */
export interface PaymentStart {
  readonly start: CrossShardStart;
  /** The fee's pending transfer id, when the payment bears a fee (`start.linkedBefore`). */
  readonly feeId: string | null;
}

/**
 * Starts cross-shard payments on the payer's shard in the caller's transaction, each as if alone
 * (`startCrossShards`): a fee's reserve and leg 1 are one linked chain, so both are applied or
 * neither; each started payment that bears a fee has its fee recorded as waiting for the
 * transfer to end, in the same transaction (a repeat changes nothing).
 */
export async function startPayments(
  tx: Queryable,
  items: readonly PaymentStart[],
): Promise<CrossShardStarted[]> {
  const started = await startCrossShards(
    tx,
    items.map((item) => item.start),
  );
  const fees = items.filter((item, at) => item.feeId !== null && started[at]?.status === 'pending');
  if (fees.length > 0)
    await tx.query(
      `INSERT INTO public.ledger_payment_fees (transfer_id, fee_id, debit_account_id)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
       ON CONFLICT (transfer_id) DO NOTHING`,
      [
        fees.map((item) => item.start.id),
        fees.map((item) => item.feeId),
        fees.map((item) => item.start.debitAccountId),
      ],
    );
  return started;
}

/** Up to `limit` fees whose transfer has ended (posted or voided), oldest first. */
export async function listEndedFees(db: Queryable, limit: number): Promise<WaitingFee[]> {
  const { rows } = await db.query<{
    transfer_id: string;
    fee_id: string;
    debit_account_id: string;
    state: CrossShardState;
  }>(
    `SELECT f.transfer_id, f.fee_id, f.debit_account_id, x.state
       FROM public.ledger_payment_fees f
       JOIN public.ledger_cross_shard x ON x.id = f.transfer_id
      WHERE x.state IN ('posted', 'voided')
      ORDER BY f.created_at LIMIT $1`,
    [limit],
  );
  return rows.map((row) => ({
    transferId: row.transfer_id,
    feeId: row.fee_id,
    debitAccountId: row.debit_account_id,
    state: row.state,
  }));
}

/** Forgets the fees of `transferIds` once settled. */
export async function deleteFees(tx: Queryable, transferIds: readonly string[]): Promise<void> {
  await tx.query('DELETE FROM public.ledger_payment_fees WHERE transfer_id = ANY($1::text[])', [
    transferIds,
  ]);
}

/** What a payment checks of an account on another shard before it starts. */
export interface AccountBrief {
  readonly currency: string;
  readonly closed: boolean;
  /** Customer accounts have no stripe code; institution stripes do. */
  readonly institution: boolean;
}

/** The brief of account `id`, or `null` when there is none. */
export async function readAccountBrief(db: Queryable, id: string): Promise<AccountBrief | null> {
  const { rows } = await db.query<{ currency: string; closed: boolean; code: string | null }>(
    'SELECT currency, closed, code FROM public.ledger_accounts WHERE id = $1',
    [id],
  );
  const row = rows[0];
  if (row === undefined) return null;
  return { currency: row.currency, closed: row.closed, institution: row.code !== null };
}
