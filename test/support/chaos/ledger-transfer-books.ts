/**
 * The ledger's books after a fault run, read on every shard's primary: the transfers the
 * clients named (by id, on whichever shard holds them), their postings, the end-of-day checks
 * of each shard (`ledger_check_books`), guarded accounts' postings that would show them below
 * zero, and the balance per currency of every account of every shard.
 */
import type { Queryable, Router } from '../../../src/data/router.ts';
import { checkLedgerBooks } from '../../../src/domains/ledger/store/ledger-checks.ts';
import type { TransferRecord } from './ledger-transfer-trails.ts';

/** A transfer as one shard's primary has it. */
export interface BookTransfer {
  readonly shardId: number;
  readonly kind: string;
  readonly status: string;
  readonly amount: number;
}

/** Totals of one currency over every account of every shard (credits minus debits). */
export interface CurrencyTotals {
  posted: bigint;
  pending: bigint;
}

export interface LedgerBooks {
  /** By client id: every row found, one per shard that holds it (more than one: a duplicate). */
  readonly transfers: ReadonlyMap<string, readonly BookTransfer[]>;
  /** Postings per transfer id, over every shard. */
  readonly postingCounts: ReadonlyMap<string, number>;
  /** Breaks `ledger_check_books` reported, as `shard_N check subject: expected, actual`. */
  readonly breaks: readonly string[];
  /** Postings of guarded accounts whose totals went below zero (debits above credits). */
  readonly belowZero: readonly string[];
  /** Guarded accounts on the shards, and the run's own found among them. */
  readonly guardedCount: number;
  readonly ownGuardedFound: number;
  readonly trial: ReadonlyMap<string, CurrencyTotals>;
  readonly accountCount: number;
}

const BELOW_ZERO_ROWS_MAX = 5;

/** Reads the books of every shard on its primary. */
export async function readLedgerBooks(
  router: Router,
  record: TransferRecord,
): Promise<LedgerBooks> {
  const ids = [...record.trails.keys(), ...record.refusedCalls.flatMap((call) => call.ids)];
  const transfers = new Map<string, BookTransfer[]>();
  const postingCounts = new Map<string, number>();
  const breaks: string[] = [];
  const belowZero: string[] = [];
  const trial = new Map<string, CurrencyTotals>();
  let guardedCount = 0;
  let ownGuardedFound = 0;
  let accountCount = 0;
  for (const shardId of router.map.shardIds) {
    const { value: shard } = await router.readShard(
      shardId,
      (db) => readShardBooks(db, ids, record.guarded),
      { consistency: 'primary' },
    );
    for (const row of shard.transfers) {
      const rows = transfers.get(row.id) ?? [];
      rows.push({ shardId, kind: row.kind, status: row.status, amount: Number(row.amount) });
      transfers.set(row.id, rows);
    }
    for (const row of shard.postings)
      postingCounts.set(row.transfer_id, (postingCounts.get(row.transfer_id) ?? 0) + row.n);
    for (const b of shard.breaks)
      breaks.push(`shard_${shardId} ${b.check} ${b.subject}: expected ${b.expected}, ${b.actual}`);
    for (const row of shard.belowZero)
      belowZero.push(
        `shard_${shardId} ${row.account_id} seq ${row.seq}: debits ${row.debits} (posted + pending) > credits ${row.credits}`,
      );
    for (const row of shard.trial) {
      const totals = trial.get(row.currency) ?? { posted: 0n, pending: 0n };
      totals.posted += BigInt(row.posted);
      totals.pending += BigInt(row.pending);
      trial.set(row.currency, totals);
    }
    guardedCount += shard.guarded.count;
    ownGuardedFound += shard.guarded.own;
    accountCount += shard.accountCount;
  }
  return {
    transfers,
    postingCounts,
    breaks,
    belowZero,
    guardedCount,
    ownGuardedFound,
    trial,
    accountCount,
  };
}

async function readShardBooks(db: Queryable, ids: readonly string[], guarded: readonly string[]) {
  const transfers = await db.query<{ id: string; kind: string; status: string; amount: string }>(
    `SELECT id, kind, status, amount::text FROM public.ledger_transfers WHERE id = ANY($1::text[])`,
    [ids],
  );
  const postings = await db.query<{ transfer_id: string; n: number }>(
    `SELECT transfer_id, count(*)::int AS n FROM public.ledger_postings
      WHERE transfer_id = ANY($1::text[]) GROUP BY transfer_id`,
    [ids],
  );
  const belowZero = await db.query<{
    account_id: string;
    seq: string;
    debits: string;
    credits: string;
  }>(
    `SELECT p.account_id, p.seq::text, (p.debits_posted + p.debits_pending)::text AS debits,
            p.credits_posted::text AS credits
       FROM public.ledger_postings p JOIN public.ledger_accounts a ON a.id = p.account_id
      WHERE a.debits_must_not_exceed_credits
        AND p.debits_posted + p.debits_pending > p.credits_posted
      ORDER BY p.account_id, p.seq LIMIT ${BELOW_ZERO_ROWS_MAX}`,
  );
  const guardedRows = await db.query<{ count: number; own: number }>(
    `SELECT count(*)::int AS count, count(*) FILTER (WHERE id = ANY($1::text[]))::int AS own
       FROM public.ledger_accounts WHERE debits_must_not_exceed_credits`,
    [guarded],
  );
  const trial = await db.query<{ currency: string; posted: string; pending: string }>(
    `SELECT currency, sum(credits_posted - debits_posted)::text AS posted,
            sum(credits_pending - debits_pending)::text AS pending
       FROM public.ledger_accounts GROUP BY currency`,
  );
  const accounts = await db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM public.ledger_accounts',
  );
  return {
    transfers: transfers.rows,
    postings: postings.rows,
    breaks: await checkLedgerBooks(db),
    belowZero: belowZero.rows,
    guarded: guardedRows.rows[0] ?? { count: 0, own: 0 },
    trial: trial.rows,
    accountCount: accounts.rows[0]?.n ?? 0,
  };
}
