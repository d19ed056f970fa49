/**
 * The baseline the ledger engine is measured against: a transfer written the plain way, one
 * transaction per request, on the ledger's own tables (`ledger_accounts`, `ledger_transfers`,
 * `ledger_postings`) through plain `pg` pools, one per shard primary:
 *
 *   BEGIN;
 *   SELECT ... FROM ledger_accounts WHERE id IN (debit, credit) ORDER BY id FOR UPDATE;
 *   -- check: both found, same currency, open, the debit account's guard
 *   UPDATE ledger_accounts ... (both rows, one statement);
 *   INSERT INTO ledger_transfers ...; INSERT INTO ledger_postings ... (two rows, one statement);
 *   COMMIT;
 *
 * Six round trips, the rows locked from the SELECT to the COMMIT. It writes what the engine
 * writes (a posting per account with its next seq and its totals after it), so the end-of-day
 * check of the books holds for both. Not shipped: the engine is the one writer of money.
 */
import type pg from 'pg';
import type { ConnectionInfo } from '../../src/postgres/connection-pools.ts';
import { guardedPool } from '../../src/postgres/guarded-pool.ts';

interface AccountRow {
  id: string;
  currency: string;
  closed: boolean;
  debits_must_not_exceed_credits: boolean;
  debits_posted: string;
  credits_posted: string;
  debits_pending: string;
  credits_pending: string;
  last_seq: string;
}

export interface PlainTransfer {
  readonly id: string;
  readonly debitAccountId: string;
  readonly creditAccountId: string;
  readonly amount: bigint;
  readonly currency: string;
}

export class OneTransactionLedger {
  readonly #pools = new Map<number, pg.Pool>();

  /** `primaries`: shard id -> how to reach its primary (database `shard_<id>`). */
  constructor(primaries: ReadonlyMap<number, ConnectionInfo>, poolSizeMax: number) {
    for (const [shardId, connection] of primaries) {
      const pool = guardedPool({
        ...connection,
        database: `shard_${shardId}`,
        max: poolSizeMax,
        application_name: 'bench-ledger-baseline',
      });
      this.#pools.set(shardId, pool);
    }
  }

  /** Applies `transfer` on `shardId` (both accounts live there); answers its status. */
  async transfer(shardId: number, transfer: PlainTransfer): Promise<string> {
    const pool = this.#pools.get(shardId);
    if (pool === undefined) throw new Error(`no pool for shard ${shardId}`);
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const status = await this.#apply(client, transfer);
      await client.query('COMMIT');
      return status;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async #apply(client: pg.PoolClient, t: PlainTransfer): Promise<string> {
    const { rows } = await client.query<AccountRow>(
      `SELECT id, currency, closed, debits_must_not_exceed_credits, debits_posted::text,
              credits_posted::text, debits_pending::text, credits_pending::text, last_seq::text
         FROM public.ledger_accounts WHERE id IN ($1, $2) ORDER BY id FOR UPDATE`,
      [t.debitAccountId, t.creditAccountId],
    );
    const debit = rows.find((row) => row.id === t.debitAccountId);
    const credit = rows.find((row) => row.id === t.creditAccountId);
    let status = 'posted';
    if (debit === undefined) status = 'debit_account_not_found';
    else if (credit === undefined) status = 'credit_account_not_found';
    else if (debit.currency !== t.currency || credit.currency !== t.currency)
      status = 'currency_mismatch';
    else if (debit.closed || credit.closed) status = 'account_closed';
    else if (
      debit.debits_must_not_exceed_credits &&
      BigInt(debit.debits_posted) + BigInt(debit.debits_pending) + t.amount >
        BigInt(debit.credits_posted)
    )
      status = 'insufficient_funds';
    const now = new Date();
    await client.query(
      `INSERT INTO public.ledger_transfers (id, kind, debit_account_id, credit_account_id,
              amount, currency, status, created_at, updated_at)
       VALUES ($1, 'transfer', $2, $3, $4, $5, $6, $7, $7)`,
      [t.id, t.debitAccountId, t.creditAccountId, t.amount.toString(), t.currency, status, now],
    );
    if (status !== 'posted' || debit === undefined || credit === undefined) return status;
    const after = [
      { row: debit, debit: t.amount, credit: 0n },
      { row: credit, debit: 0n, credit: t.amount },
    ].map(({ row, debit, credit }) => ({
      id: row.id,
      seq: (BigInt(row.last_seq) + 1n).toString(),
      debit: debit.toString(),
      credit: credit.toString(),
      debitsPosted: (BigInt(row.debits_posted) + debit).toString(),
      creditsPosted: (BigInt(row.credits_posted) + credit).toString(),
      debitsPending: row.debits_pending,
      creditsPending: row.credits_pending,
    }));
    const column = <K extends keyof (typeof after)[number]>(key: K) => after.map((a) => a[key]);
    await client.query(
      `UPDATE public.ledger_accounts l
          SET debits_posted = u.dp, credits_posted = u.cp, last_seq = u.seq, updated_at = $5
         FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[]) AS u(id, dp, cp, seq)
        WHERE l.id = u.id`,
      [column('id'), column('debitsPosted'), column('creditsPosted'), column('seq'), now],
    );
    await client.query(
      `INSERT INTO public.ledger_postings (account_id, seq, transfer_id, posted_at, debit, credit,
              debit_pending, credit_pending, debits_posted, credits_posted, debits_pending,
              credits_pending)
       SELECT u.a, u.s, $3, $4, u.d, u.c, 0, 0, u.dp, u.cp, u.dpe, u.cpe
         FROM unnest($1::text[], $2::bigint[], $5::bigint[], $6::bigint[], $7::bigint[],
                     $8::bigint[], $9::bigint[], $10::bigint[])
              AS u(a, s, d, c, dp, cp, dpe, cpe)`,
      [
        column('id'),
        column('seq'),
        t.id,
        now,
        column('debit'),
        column('credit'),
        column('debitsPosted'),
        column('creditsPosted'),
        column('debitsPending'),
        column('creditsPending'),
      ],
    );
    return status;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#pools.values()].map((pool) => pool.end()));
  }
}
