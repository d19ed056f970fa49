import type { Queryable } from '../../../data/primary-writer.ts';
import type { LedgerTotals } from '../core/ledger-types.ts';

/** What opens an account (decision 49). */
export interface NewLedgerAccount {
  readonly id: string;
  readonly currency: string;
  readonly kind: string;
  readonly ownerId?: string;
  /** For a stripe of an institution account: the account's code and the stripe's number. */
  readonly stripe?: { readonly code: string; readonly number: number };
  readonly debitsMustNotExceedCredits?: boolean;
  readonly creditsMustNotExceedDebits?: boolean;
}

/** Inserts `account` with zero totals; `false` when its id exists already. */
export async function insertLedgerAccount(
  tx: Queryable,
  account: NewLedgerAccount,
): Promise<boolean> {
  const { rowCount } = await tx.query(
    `INSERT INTO public.ledger_accounts (id, currency, kind, owner_id, code, stripe,
            debits_must_not_exceed_credits, credits_must_not_exceed_debits)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING`,
    [
      account.id,
      account.currency,
      account.kind,
      account.ownerId ?? null,
      account.stripe?.code ?? null,
      account.stripe?.number ?? null,
      account.debitsMustNotExceedCredits ?? false,
      account.creditsMustNotExceedDebits ?? false,
    ],
  );
  // A settlement account's counterparty gets its windows with its first account on the shard.
  if (account.kind === 'settlement' && account.ownerId !== undefined) {
    await tx.query('SELECT public.ledger_open_windows($1)', [account.ownerId]);
  }
  return rowCount === 1;
}

interface TotalsRow {
  seq: string;
  debits_posted: string;
  credits_posted: string;
  debits_pending: string;
  credits_pending: string;
}

/** The totals after posting `seq` of an account, as read from a row of totals. */
export interface TotalsAt extends LedgerTotals {
  readonly seq: bigint;
}

function totalsOf(row: TotalsRow): TotalsAt {
  return {
    seq: BigInt(row.seq),
    debitsPosted: BigInt(row.debits_posted),
    creditsPosted: BigInt(row.credits_posted),
    debitsPending: BigInt(row.debits_pending),
    creditsPending: BigInt(row.credits_pending),
  };
}

/** An account's current totals, or `null` when there is no such account. */
export async function readLedgerTotals(db: Queryable, accountId: string): Promise<TotalsAt | null> {
  const { rows } = await db.query<TotalsRow>(
    `SELECT last_seq::text AS seq, debits_posted::text, credits_posted::text,
            debits_pending::text, credits_pending::text
       FROM public.ledger_accounts WHERE id = $1`,
    [accountId],
  );
  return rows[0] === undefined ? null : totalsOf(rows[0]);
}

/** An account's totals as they were at `at` (one index probe; zeros before its first posting). */
export async function readLedgerTotalsAt(
  db: Queryable,
  accountId: string,
  at: Date,
): Promise<TotalsAt> {
  const { rows } = await db.query<TotalsRow>(
    `SELECT seq::text, debits_posted::text, credits_posted::text, debits_pending::text,
            credits_pending::text
       FROM public.ledger_balance_at($1, $2)`,
    [accountId, at],
  );
  return totalsOf(rows[0] as TotalsRow);
}
