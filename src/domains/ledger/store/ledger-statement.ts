import type { Queryable } from '../../../data/primary-writer.ts';
import type { StatementLine } from '../core/ledger-types.ts';
import type { HistoryPart } from './ledger-bucket-carry.ts';

/**
 * Reads of an account's statement and history (decision 49; an account a bucket move carried
 * has parts of its postings on the shards it left, decision 58).
 */

/** An account's earlier parts (newest first) and its first posting here; `null`: no account. */
export async function readHistory(
  db: Queryable,
  id: string,
): Promise<{ readonly parts: readonly HistoryPart[]; readonly firstSeq: bigint } | null> {
  const { rows } = await db.query<{ history: HistoryPart[]; first_seq: string }>(
    'SELECT history, first_seq::text FROM public.ledger_accounts WHERE id = $1',
    [id],
  );
  const row = rows[0];
  return row === undefined ? null : { parts: row.history, firstSeq: BigInt(row.first_seq) };
}

/** The earlier part that held the account at `at`, or `null` when the current one did. */
export function partAt(
  history: { readonly parts: readonly HistoryPart[] },
  at: Date,
): HistoryPart | null {
  const latest = history.parts[0];
  if (latest === undefined || at.getTime() >= Date.parse(latest.until)) return null;
  return (
    history.parts.find((part) => part.since === null || at.getTime() >= Date.parse(part.since)) ??
    (history.parts.at(-1) as HistoryPart)
  );
}

/**
 * Postings `from`..`to` (`to` null: the last) before `before`, newest first. Ordered by the
 * column, qualified: a bare `seq` would name the text output column.
 */
export async function readStatement(
  db: Queryable,
  id: string,
  from: bigint,
  to: bigint | null,
  before: bigint | null,
  limit: number,
): Promise<StatementLine[]> {
  const { rows } = await db.query<{
    seq: string;
    transfer_id: string;
    posted_at: Date;
    debit: string;
    credit: string;
    debit_pending: string;
    credit_pending: string;
    debits_posted: string;
    credits_posted: string;
    debits_pending: string;
    credits_pending: string;
  }>(
    `SELECT seq::text, transfer_id, posted_at, debit::text, credit::text, debit_pending::text,
            credit_pending::text, debits_posted::text, credits_posted::text,
            debits_pending::text, credits_pending::text
       FROM public.ledger_postings
      WHERE account_id = $1 AND ledger_postings.seq >= $4::bigint
        AND ($5::bigint IS NULL OR ledger_postings.seq <= $5::bigint)
        AND ($2::bigint IS NULL OR ledger_postings.seq < $2::bigint)
      ORDER BY ledger_postings.seq DESC LIMIT $3`,
    [
      id,
      before === null ? null : before.toString(),
      limit,
      from.toString(),
      to === null ? null : to.toString(),
    ],
  );
  return rows.map((row) => ({
    seq: BigInt(row.seq),
    transferId: row.transfer_id,
    postedAt: row.posted_at,
    debit: BigInt(row.debit),
    credit: BigInt(row.credit),
    debitPending: BigInt(row.debit_pending),
    creditPending: BigInt(row.credit_pending),
    debitsPosted: BigInt(row.debits_posted),
    creditsPosted: BigInt(row.credits_posted),
    debitsPending: BigInt(row.debits_pending),
    creditsPending: BigInt(row.credits_pending),
    balance: BigInt(row.credits_posted) - BigInt(row.debits_posted),
  }));
}
