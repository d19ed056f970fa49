/**
 * The SQL of the end-of-day checks on one shard (decision 51): the shard's totals per
 * currency for the ledger-wide trial balance, and the pending transfers left open past their
 * timeout. The books themselves are checked by 0003's `ledger_check_books`.
 */
import type { Queryable } from '../../../../data/primary-writer.ts';
import type { LedgerTotals } from '../../core/ledger-types.ts';

/** One currency's totals over every account of a shard. */
export interface CurrencyTotals extends LedgerTotals {
  readonly currency: string;
}

/** The sums of every account's four totals on this shard, per currency, by code. */
export async function readCurrencyTotals(db: Queryable): Promise<CurrencyTotals[]> {
  const { rows } = await db.query<{
    currency: string;
    debits_posted: string;
    credits_posted: string;
    debits_pending: string;
    credits_pending: string;
  }>(
    `SELECT currency, sum(debits_posted)::text AS debits_posted,
            sum(credits_posted)::text AS credits_posted,
            sum(debits_pending)::text AS debits_pending,
            sum(credits_pending)::text AS credits_pending
       FROM public.ledger_accounts GROUP BY currency ORDER BY currency`,
  );
  return rows.map((row) => ({
    currency: row.currency,
    debitsPosted: BigInt(row.debits_posted),
    creditsPosted: BigInt(row.credits_posted),
    debitsPending: BigInt(row.debits_pending),
    creditsPending: BigInt(row.credits_pending),
  }));
}

/** A pending transfer still open after its timeout (the sweep should have voided it). */
export interface OverduePending {
  readonly id: string;
  readonly debitAccountId: string;
  readonly creditAccountId: string;
  readonly amount: bigint;
  readonly currency: string;
  readonly timeoutAt: Date;
}

/**
 * Up to `limit` pending transfers of this shard open more than `graceMs` past their timeout,
 * the longest overdue first, and how many there are in all.
 */
export async function readOverduePending(
  db: Queryable,
  graceMs: number,
  limit: number,
): Promise<{ readonly total: number; readonly first: OverduePending[] }> {
  const { rows } = await db.query<{
    id: string;
    debit_account_id: string;
    credit_account_id: string;
    amount: string;
    currency: string;
    timeout_at: Date;
    total: number;
  }>(
    `SELECT id, debit_account_id, credit_account_id, amount::text, currency, timeout_at,
            count(*) OVER ()::int AS total
       FROM public.ledger_transfers
      WHERE pending_state = 'open'
        AND timeout_at < clock_timestamp() - make_interval(secs => $1::double precision)
      ORDER BY timeout_at, id LIMIT $2`,
    [graceMs / 1_000, limit],
  );
  return {
    total: rows[0]?.total ?? 0,
    first: rows.map((row) => ({
      id: row.id,
      debitAccountId: row.debit_account_id,
      creditAccountId: row.credit_account_id,
      amount: BigInt(row.amount),
      currency: row.currency,
      timeoutAt: row.timeout_at,
    })),
  };
}
