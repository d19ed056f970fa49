import type { Queryable } from '../../../data/primary-writer.ts';

/** The checks the books of one shard must pass at the end of the day (decision 49). */
export const BOOK_CHECKS = [
  'trial_balance_posted',
  'trial_balance_pending',
  'account_totals',
  'posting_sequence',
  'last_posting_totals',
  'postings_without_account',
  'transfer_legs',
  'posting_running_totals',
] as const;
export type BookCheck = (typeof BOOK_CHECKS)[number];

/** One break of the books: which check, on what (a currency or an account), and the figures. */
export interface BookBreak {
  readonly check: BookCheck;
  readonly subject: string;
  readonly expected: string;
  readonly actual: string;
}

/** Every break of one shard's books, none when they hold; read in one statement. */
export async function checkLedgerBooks(db: Queryable): Promise<BookBreak[]> {
  const { rows } = await db.query<{
    o_check: BookCheck;
    o_subject: string;
    o_expected: string;
    o_actual: string;
  }>('SELECT o_check, o_subject, o_expected, o_actual FROM public.ledger_check_books()');
  return rows.map((row) => ({
    check: row.o_check,
    subject: row.o_subject,
    expected: row.o_expected,
    actual: row.o_actual,
  }));
}
