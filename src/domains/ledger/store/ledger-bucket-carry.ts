import type pg from 'pg';
import { newEntityId } from '../../../data/entity-id.ts';
import { MainstayError } from '../../../errors/mainstay-error.ts';
import type { BucketCarrier, CarriedMove, CarryPlan } from '../../../migrations/bucket-carry.ts';
import type { LedgerRequest } from '../core/ledger-types.ts';
import { applyLedgerBatch } from './ledger-batch.ts';

/**
 * The ledger's books follow a moving bucket (decision 58, "balance brought forward"): each of
 * the bucket's accounts leaves its balance, not its history. On the source, in the cutover's
 * transaction, a transfer brings the account to zero against the source's clearing stripe
 * (`mainstay.bucket-move`) and the account is closed there, naming where it went; on the target,
 * the account opens (or reopens) with the same id and a transfer from the target's clearing
 * stripe brings the balance forward. Each shard's books stay balanced by ordinary transfers, and
 * the two stripes cancel over the fleet. Every decided transfer naming one of the accounts is
 * copied to the target as an answer-only record (no postings), so a retry there is answered and
 * never applied again. The postings stay where they were written; the account's `history` names
 * them, and statements and past balances read them there.
 */
export const CLEARING_CODE = 'mainstay.bucket-move';

/** The tables whose rows naming a moving bucket the ledger carries. */
const CARRIED_TABLES = [
  'ledger_accounts',
  'ledger_transfers',
  'ledger_postings',
  'ledger_cross_shard',
] as const;

type Db = pg.ClientBase | pg.Pool;

/** What `prepare` found: every account of the bucket on the source (carried ones too). */
interface LedgerPlan {
  readonly accounts: readonly string[];
}

/** The plan's accounts and those opened in the bucket since capture began. */
async function accountsOf(source: pg.ClientBase, move: CarriedMove, plan: CarryPlan) {
  const logged = await move.logged(source, 'ledger_accounts');
  return [...new Set([...(plan as LedgerPlan).accounts, ...logged.map((key) => String(key.id))])];
}

/**
 * What is open in the bucket's books and needs both shards: stripes whose ids carry the bucket
 * (all of them, by a scan, or those among `stripeIds`), open pending transfers and unfinished
 * cross-shard transfers naming it (through the partial indexes of what is open).
 */
async function openInBucket(db: Db, move: CarriedMove, stripeIds: readonly string[] | null) {
  const named = (column: string) => move.namesBucket(column);
  const { rows } = await db.query<{ stripes: number; pending: number; crossing: number }>(
    `SELECT
       (SELECT count(*)::int FROM public.ledger_accounts a
         WHERE a.code IS NOT NULL
           AND ${stripeIds === null ? named('a.id') : 'a.id = ANY ($1::text[])'}) AS stripes,
       (SELECT count(*)::int FROM public.ledger_transfers t
         WHERE t.pending_state = 'open'
           AND (${named('t.debit_account_id')} OR ${named('t.credit_account_id')})) AS pending,
       (SELECT count(*)::int FROM public.ledger_cross_shard c
         WHERE c.state NOT IN ('posted', 'voided')
           AND (${named('c.debit_account_id')} OR ${named('c.credit_account_id')})) AS crossing`,
    stripeIds === null ? [] : [stripeIds],
  );
  return rows[0] ?? { stripes: 0, pending: 0, crossing: 0 };
}

/** Why the bucket's books cannot leave now: state that needs both shards, or stays (scans). */
async function refusals(db: Db, move: CarriedMove): Promise<string[]> {
  const found = await openInBucket(db, move, null);
  const reasons: string[] = [];
  if (found.stripes > 0)
    reasons.push(
      `ledger_accounts (${found.stripes} institution stripes carry bucket ${move.bucket} in their ids: a stripe stays with its shard)`,
    );
  if (found.pending > 0)
    reasons.push(
      `ledger_transfers (${found.pending} open pending transfers name bucket ${move.bucket}: move it once they are posted, voided or expired)`,
    );
  if (found.crossing > 0)
    reasons.push(
      `ledger_cross_shard (${found.crossing} cross-shard transfers naming bucket ${move.bucket} are not finished: move it once they are)`,
    );
  return reasons;
}

/** What the source knows of an account of the bucket. */
interface AccountRow {
  id: string;
  currency: string;
  kind: string;
  owner_id: string | null;
  debits_must_not_exceed_credits: boolean;
  credits_must_not_exceed_debits: boolean;
  closed: boolean;
  debits_posted: string;
  credits_posted: string;
  last_seq: string;
  first_seq: string;
  created_at: Date;
  history: HistoryPart[];
  carried_to: CarriedTo | null;
}

/** Where an account went, on the shard it left. */
interface CarriedTo {
  readonly shard: number;
  readonly at: string;
  /** Its last posting on the shard it left (the zeroing one, if any). */
  readonly seq: number;
  /** Whether it was closed before it left. */
  readonly closed: boolean;
  /** Its balance when it left (credits less debits, as text), brought forward. */
  readonly balance: string;
  /** The transfer that brought it forward on the target (none for a zero balance). */
  readonly transfer: string | null;
}

/** A part of an account's postings on an earlier shard (`history`, newest first). */
export interface HistoryPart {
  readonly shard: number;
  readonly fromSeq: number;
  readonly toSeq: number;
  /** When the part began (`null`: when the account was opened) and ended. */
  readonly since: string | null;
  readonly until: string;
}

const ACCOUNT_COLUMNS = `id, currency, kind, owner_id, debits_must_not_exceed_credits,
  credits_must_not_exceed_debits, closed, debits_posted::text, credits_posted::text,
  last_seq::text, first_seq::text, created_at, history, carried_to`;

/** The transfer id of a departure (`out`) or an arrival (`in`): the account's last seq before. */
function carryId(move: CarriedMove, account: string, seq: string, side: 'out' | 'in'): string {
  return `${CLEARING_CODE}:${move.fromShard}-${move.toShard}:${account}:${seq}:${side}`;
}

/** The shard's clearing stripe in `currency`, opened in `home`'s bucket when missing. */
async function clearingStripe(db: pg.ClientBase, currency: string, home: number): Promise<string> {
  await db.query(
    `INSERT INTO public.ledger_accounts (id, currency, kind, code, stripe)
     VALUES ($1, $2, 'in_transit', $3, 0) ON CONFLICT DO NOTHING`,
    [newEntityId('lacc', home), currency, CLEARING_CODE],
  );
  const { rows } = await db.query<{ id: string }>(
    `SELECT id FROM public.ledger_accounts WHERE code = $1 AND currency = $2 AND stripe = 0`,
    [CLEARING_CODE, currency],
  );
  const id = rows[0]?.id;
  if (id === undefined) throw new Error(`no clearing stripe in ${currency}`);
  return id;
}

/** The shard's clearing stripe per currency, each opened or read once per call. */
function stripesOf(db: pg.ClientBase, home: number): (currency: string) => Promise<string> {
  const found = new Map<string, Promise<string>>();
  return (currency) => {
    let stripe = found.get(currency);
    if (stripe === undefined) {
      stripe = clearingStripe(db, currency, home);
      found.set(currency, stripe);
    }
    return stripe;
  };
}

/** One transfer of the carry, applied; anything but `posted` is a fault of the carry. */
async function post(db: pg.ClientBase, request: LedgerRequest): Promise<void> {
  const [outcome] = await applyLedgerBatch(db, [request]);
  if (outcome?.status !== 'posted')
    throw new MainstayError(
      'state_conflict',
      `the transfer ${request.id} carrying a balance was answered ${outcome?.status ?? 'nothing'}`,
    );
}

/** The live accounts of the bucket, locked as `ledger_apply_batch` locks them (by id). */
async function hold(source: pg.ClientBase, move: CarriedMove, plan: CarryPlan): Promise<void> {
  await source.query(
    `SELECT 1 FROM public.ledger_accounts a
      WHERE a.id = ANY ($1::text[]) AND a.carried_to IS NULL AND a.code IS NULL
      ORDER BY a.id FOR NO KEY UPDATE`,
    [await accountsOf(source, move, plan)],
  );
}

/**
 * Under the pause, by key and through the partial indexes of what is open: a stripe opened in
 * the bucket during the copy, an open pending transfer or an unfinished cross-shard transfer
 * naming it (either may have begun during the copy).
 */
async function refuseUnderPause(source: pg.ClientBase, move: CarriedMove): Promise<void> {
  const opened = (await move.logged(source, 'ledger_accounts')).map((key) => String(key.id));
  const found = await openInBucket(source, move, opened);
  if (found.stripes + found.pending + found.crossing > 0)
    throw new MainstayError(
      'bucket_move_unattributed',
      `while bucket ${move.bucket} was copied, its books gained ${found.stripes} institution stripes, ${found.pending} open pending transfers and ${found.crossing} unfinished cross-shard transfers, which stay with their shard; nothing was cut over`,
    );
}

/**
 * On the source: every live account of the bucket brought to zero against the clearing stripe
 * (closed ones opened for that transfer alone), then closed, naming where it went.
 */
async function depart(source: pg.ClientBase, move: CarriedMove, plan: CarryPlan): Promise<number> {
  await refuseUnderPause(source, move);
  const { rows } = await source.query<AccountRow>(
    `SELECT ${ACCOUNT_COLUMNS} FROM public.ledger_accounts a
      WHERE a.id = ANY ($1::text[]) AND a.carried_to IS NULL AND a.code IS NULL
      ORDER BY a.id FOR NO KEY UPDATE`,
    [await accountsOf(source, move, plan)],
  );
  const stripes = stripesOf(source, move.sourceHomeBucket);
  for (const account of rows) {
    const balance = BigInt(account.credits_posted) - BigInt(account.debits_posted);
    let transfer: string | null = null;
    if (balance !== 0n) {
      const stripe = await stripes(account.currency);
      transfer = carryId(move, account.id, account.last_seq, 'in');
      if (account.closed)
        await source.query('UPDATE public.ledger_accounts SET closed = false WHERE id = $1', [
          account.id,
        ]);
      await post(source, {
        kind: 'transfer',
        id: carryId(move, account.id, account.last_seq, 'out'),
        debitAccountId: balance > 0n ? account.id : stripe,
        creditAccountId: balance > 0n ? stripe : account.id,
        amount: balance > 0n ? balance : -balance,
        currency: account.currency,
        reference: `bucket ${move.bucket} moved to shard ${move.toShard}`,
      });
    }
    await source.query(
      `UPDATE public.ledger_accounts
          SET closed = true, updated_at = now(),
              carried_to = jsonb_build_object('shard', $2::int, 'at', now(), 'seq', last_seq,
                                              'closed', $3::boolean, 'balance', $4::text,
                                              'transfer', $5::text)
        WHERE id = $1`,
      [account.id, move.toShard, account.closed, balance.toString(), transfer],
    );
  }
  return rows.length;
}

/**
 * Copies answer records to the target: `transfers` and `crossing` are JSON arrays of rows of
 * the source. A transfer keeps the shard that applied it (`carried_from_shard`, the source's
 * unless an earlier move had copied it there); a copy already on the target is brought up to
 * date (a pending transfer posted during the copy), and a transfer of the target's own under
 * the same id with other content refuses the move.
 */
async function storeAnswers(
  target: Db,
  move: CarriedMove,
  found: { readonly transfers: string; readonly crossing: string },
): Promise<number> {
  const { rows: clashes } = await target.query<{ id: string }>(
    `WITH given AS (
       SELECT * FROM jsonb_populate_recordset(NULL::public.ledger_transfers, $1::jsonb)
     ), stored AS (
       INSERT INTO public.ledger_transfers AS t (id, kind, debit_account_id, credit_account_id,
              amount, currency, pending_id, timeout_seconds, timeout_at, pending_state, status,
              linked, reference, created_at, updated_at, carried_from_shard)
       SELECT g.id, g.kind, g.debit_account_id, g.credit_account_id, g.amount, g.currency,
              g.pending_id, g.timeout_seconds, g.timeout_at, g.pending_state, g.status, g.linked,
              g.reference, g.created_at, g.updated_at, coalesce(g.carried_from_shard, $2::int)
         FROM given g
       ON CONFLICT (id) DO UPDATE SET pending_state = excluded.pending_state,
              status = excluded.status, timeout_at = excluded.timeout_at,
              updated_at = excluded.updated_at
        WHERE t.carried_from_shard IS NOT NULL
       RETURNING t.id
     )
     SELECT g.id FROM given g JOIN public.ledger_transfers t ON t.id = g.id
      WHERE g.id NOT IN (SELECT id FROM stored)
        AND (t.kind, t.debit_account_id, t.credit_account_id, t.amount, t.currency, t.status)
            IS DISTINCT FROM (g.kind, g.debit_account_id, g.credit_account_id, g.amount,
                              g.currency, g.status)
      LIMIT 5`,
    [found.transfers, move.fromShard],
  );
  if (clashes.length > 0)
    throw new MainstayError(
      'bucket_move_unattributed',
      `shard ${move.toShard} holds other transfers under the ids of transfers naming bucket ${move.bucket} (${clashes.map((c) => c.id).join(', ')}); nothing was cut over`,
    );
  const { rowCount } = await target.query(
    `INSERT INTO public.ledger_cross_shard
     SELECT * FROM jsonb_populate_recordset(NULL::public.ledger_cross_shard, $1::jsonb)
     ON CONFLICT (id) DO NOTHING`,
    [found.crossing],
  );
  return (JSON.parse(found.transfers) as unknown[]).length + (rowCount ?? 0);
}

/** Answers copied to the target per statement, before the pause. */
const ANSWER_PAGE = 2_000;

/** The carry's own transfers are not answers: no client asked for them. */
const NOT_CARRY = `t.id NOT LIKE '${CLEARING_CODE}:%'`;

/**
 * After capture began, outside the pause: the bucket's accounts, and every decided transfer
 * naming it (and finished cross-shard row) copied to the target as an answer. Scans; whatever
 * is written from now on is logged, and copied under the pause by key.
 */
async function prepare(source: pg.Pool, target: pg.Pool, move: CarriedMove): Promise<LedgerPlan> {
  const names = (alias: string) =>
    `(${move.namesBucket(`${alias}.debit_account_id`)} OR ${move.namesBucket(`${alias}.credit_account_id`)})`;
  const { rows } = await source.query<{ accounts: string[] }>(
    `SELECT coalesce(array_agg(a.id), '{}') AS accounts FROM public.ledger_accounts a
      WHERE ${move.namesBucket('a.id')}`,
  );
  await inPages(
    source,
    `SELECT to_jsonb(t)::text AS row FROM public.ledger_transfers t
      WHERE ${names('t')} AND ${NOT_CARRY}`,
    (page) => storeAnswers(target, move, { transfers: page, crossing: '[]' }),
  );
  await inPages(
    source,
    `SELECT to_jsonb(c)::text AS row FROM public.ledger_cross_shard c
      WHERE ${names('c')} AND c.state IN ('posted', 'voided')`,
    (page) => storeAnswers(target, move, { transfers: '[]', crossing: page }),
  );
  return { accounts: rows[0]?.accounts ?? [] };
}

/** Rows read from one scan (a cursor), {@link ANSWER_PAGE} at a time, each page a JSON array. */
async function inPages(
  source: pg.Pool,
  sql: string,
  onPage: (page: string) => Promise<unknown>,
): Promise<void> {
  const client = await source.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await client.query(`DECLARE answers NO SCROLL CURSOR FOR ${sql}`);
    for (;;) {
      const { rows } = await client.query<{ row: string }>(`FETCH ${ANSWER_PAGE} FROM answers`);
      if (rows.length > 0) await onPage(`[${rows.map((r) => r.row).join(',')}]`);
      if (rows.length < ANSWER_PAGE) break;
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** Under the pause: the answers written naming the bucket since capture began, by key. */
async function copyLoggedAnswers(
  source: pg.ClientBase,
  target: pg.ClientBase,
  move: CarriedMove,
): Promise<number> {
  const ids = async (table: string) =>
    (await move.logged(source, table)).map((key) => String(key.id));
  const { rows } = await source.query<{ transfers: string; crossing: string }>(
    `SELECT (SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]')::text FROM public.ledger_transfers t
              WHERE t.id = ANY ($1::text[]) AND ${NOT_CARRY}) AS transfers,
            (SELECT coalesce(jsonb_agg(to_jsonb(c)), '[]')::text FROM public.ledger_cross_shard c
              WHERE c.id = ANY ($2::text[]) AND c.state IN ('posted', 'voided')) AS crossing`,
    [await ids('ledger_transfers'), await ids('ledger_cross_shard')],
  );
  return storeAnswers(target, move, rows[0] ?? { transfers: '[]', crossing: '[]' });
}

/** A move given up: the answers copied to the target for it removed (a scan, no pause). */
async function abandon(target: pg.Pool, move: CarriedMove): Promise<void> {
  await target.query(
    `DELETE FROM public.ledger_transfers t
      WHERE t.carried_from_shard IS NOT NULL
        AND (${move.namesBucket('t.debit_account_id')} OR ${move.namesBucket('t.credit_account_id')})`,
  );
}

/**
 * On the target: each account the source closed for this move opens here (or reopens, when it
 * lived here before) with its balance brought forward from the clearing stripe, and the
 * answers are copied. Reads only what the source holds, so a repeat finds the transfers in
 * place and changes nothing.
 */
async function arrive(
  source: pg.ClientBase,
  target: pg.ClientBase,
  move: CarriedMove,
  plan: CarryPlan,
): Promise<number> {
  const { rows } = await source.query<AccountRow>(
    `SELECT ${ACCOUNT_COLUMNS} FROM public.ledger_accounts a
      WHERE a.id = ANY ($2::text[]) AND (a.carried_to->>'shard')::int = $1 ORDER BY a.id`,
    [move.toShard, await accountsOf(source, move, plan)],
  );
  const stripes = stripesOf(target, move.targetHomeBucket);
  let arrived = 0;
  for (const account of rows) {
    const to = account.carried_to as CarriedTo;
    const { rows: here } = await target.query<{ carried_to: CarriedTo | null; last_seq: string }>(
      'SELECT carried_to, last_seq::text FROM public.ledger_accounts WHERE id = $1 FOR UPDATE',
      [account.id],
    );
    const existing = here[0];
    if (existing !== undefined && existing.carried_to === null) continue; // arrived already
    const part: HistoryPart = {
      shard: move.fromShard,
      fromSeq: Number(account.first_seq),
      toSeq: to.seq,
      since: account.history[0]?.until ?? null,
      until: to.at,
    };
    const history = JSON.stringify([part, ...account.history]);
    const firstSeq = existing === undefined ? 1 : Number(existing.last_seq) + 1;
    await target.query(
      `INSERT INTO public.ledger_accounts (id, currency, kind, owner_id,
              debits_must_not_exceed_credits, credits_must_not_exceed_debits, closed,
              created_at, history, first_seq)
       VALUES ($1, $2, $3, $4, $5, $6, false, $7, $8::jsonb, $9)
       ON CONFLICT (id) DO UPDATE SET closed = false, carried_to = NULL, history = $8::jsonb,
              first_seq = $9, updated_at = now()`,
      [
        account.id,
        account.currency,
        account.kind,
        account.owner_id,
        account.debits_must_not_exceed_credits,
        account.credits_must_not_exceed_debits,
        account.created_at,
        history,
        firstSeq,
      ],
    );
    const balance = BigInt(to.balance);
    if (balance !== 0n && to.transfer !== null) {
      const stripe = await stripes(account.currency);
      await post(target, {
        kind: 'transfer',
        id: to.transfer,
        debitAccountId: balance > 0n ? stripe : account.id,
        creditAccountId: balance > 0n ? account.id : stripe,
        amount: balance > 0n ? balance : -balance,
        currency: account.currency,
        reference: `bucket ${move.bucket} moved from shard ${move.fromShard}`,
      });
    }
    if (to.closed)
      await target.query('UPDATE public.ledger_accounts SET closed = true WHERE id = $1', [
        account.id,
      ]);
    arrived += 1;
  }
  return arrived + (await copyLoggedAnswers(source, target, move));
}

export const LEDGER_BUCKET_CARRIER: BucketCarrier = {
  tables: CARRIED_TABLES,
  refusals,
  prepare,
  hold,
  depart,
  arrive,
  abandon,
};
