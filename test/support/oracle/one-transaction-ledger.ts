/**
 * The test oracle of the ledger engine: the same money rules written the plain way, one
 * transaction per request (a linked chain, being one unit, in one transaction with a savepoint):
 * BEGIN; SELECT ... FOR UPDATE the transfer and the accounts; decide; UPDATE the accounts;
 * INSERT the transfer and its postings; COMMIT, through `router.write`, on the ledger's own
 * tables. It is not shipped: production has one source for each rule, `ledger_apply_batch`.
 * The differential test runs one random stream through both and compares every outcome and
 * every account's totals.
 */
import type { Queryable, Router } from '../../../src/data/router.ts';
import {
  isApplied,
  type LedgerRequest,
  type LedgerStatus,
  type MoveRequest,
  type SettleRequest,
} from '../../../src/domains/ledger/core/ledger-types.ts';

/** How one request came out, as the oracle compares it. */
export interface OracleOutcome {
  readonly id: string;
  readonly status: LedgerStatus;
  readonly replayed: boolean;
  readonly amount: bigint;
}

interface AccountRow {
  id: string;
  currency: string;
  closed: boolean;
  dg: boolean;
  cg: boolean;
  dp: string;
  cp: string;
  dpe: string;
  cpe: string;
  seq: string;
}

interface TransferRow {
  id: string;
  kind: string;
  debit_account_id: string | null;
  credit_account_id: string | null;
  amount: string;
  currency: string;
  pending_id: string | null;
  timeout_seconds: number | null;
  pending_state: string | null;
  expired: boolean;
  status: LedgerStatus;
  reference: string | null;
}

/** A request decided, not yet written: its outcome and what to store. */
interface Decision {
  readonly status: LedgerStatus;
  readonly amount: bigint;
  /** Where a settle's pending transfer put it (its accounts and currency). */
  readonly debit: string | null;
  readonly credit: string | null;
  readonly currency: string;
}

const INT8_MAX = 9_223_372_036_854_775_807n;

function isMove(request: LedgerRequest): request is MoveRequest {
  return request.kind === 'transfer' || request.kind === 'pending';
}

/** Transfers, pending transfers, posts and voids, each call's chains one transaction each. */
export class OneTransactionLedger {
  readonly #router: Router;

  constructor(router: Router) {
    this.#router = router;
  }

  /** Applies `requests` (all on the shard of `shardKey`) in order, one outcome each. */
  async submit(requests: readonly LedgerRequest[], shardKey: string): Promise<OracleOutcome[]> {
    const outcomes: OracleOutcome[] = [];
    let start = 0;
    for (let index = 0; index < requests.length; index += 1) {
      if (requests[index]?.linked === true) continue;
      const chain = requests.slice(start, index + 1);
      start = index + 1;
      const { value } = await this.#router.write(shardKey, (tx) => applyChain(tx, chain));
      outcomes.push(...value);
    }
    return outcomes;
  }
}

/** One member of a chain answered: its outcome, and its decision when it was new. */
interface Answer {
  readonly outcome: OracleOutcome;
  /** Null for a replay or a reuse of a stored id with other fields. */
  readonly decision: Decision | null;
}

/**
 * A chain (or one request) in the caller's transaction. Every member is decided in order, each
 * on what the members before it did: a stored id is answered from what is stored (a replay, or
 * `exists_with_different_fields`), a new request is decided, applied when it is applied and
 * stored. The first member whose answer is not applied (a new refusal, a changed retry, the
 * replay of a refusal) fails a chain: everything the chain did is rolled back to the savepoint,
 * that member keeps its own answer, replays and changed retries keep theirs, and every other new
 * member is stored as `linked_event_failed`. The replay of an applied request fails nothing.
 */
async function applyChain(tx: Queryable, chain: readonly LedgerRequest[]) {
  await tx.query('SAVEPOINT chain');
  const answers: Answer[] = [];
  let failed = -1;
  for (const [index, request] of chain.entries()) {
    const answer = await answerOne(tx, request);
    answers.push(answer);
    if (failed < 0 && !isApplied(answer.outcome.status)) failed = index;
  }
  if (failed < 0 || chain.length === 1) return answers.map((answer) => answer.outcome);
  await tx.query('ROLLBACK TO SAVEPOINT chain');
  const outcomes: OracleOutcome[] = [];
  for (const [index, request] of chain.entries()) {
    const { outcome, decision: own } = answers[index] as Answer;
    if (own === null) {
      outcomes.push(outcome);
      continue;
    }
    const decision: Decision = index === failed ? own : { ...own, status: 'linked_event_failed' };
    await storeTransfer(tx, request, decision);
    outcomes.push({ id: request.id, status: decision.status, replayed: false, amount: own.amount });
  }
  return outcomes;
}

/** One request: from what is stored under its id, or decided, applied when applied, stored. */
async function answerOne(tx: Queryable, request: LedgerRequest): Promise<Answer> {
  const stored = await storedTransfer(tx, request.id);
  if (stored !== null) return { outcome: answerOfStored(request, stored), decision: null };
  const decision = await decide(tx, request);
  if (isApplied(decision.status)) await applyDecision(tx, request, decision);
  await storeTransfer(tx, request, decision);
  const outcome = {
    id: request.id,
    status: decision.status,
    replayed: false,
    amount: decision.amount,
  };
  return { outcome, decision };
}

async function storedTransfer(tx: Queryable, id: string): Promise<TransferRow | null> {
  const { rows } = await tx.query<TransferRow>(
    `SELECT id, kind, debit_account_id, credit_account_id, amount::text, currency, pending_id,
            timeout_seconds, pending_state, timeout_at <= clock_timestamp() AS expired, status,
            reference
       FROM public.ledger_transfers WHERE id = $1 FOR UPDATE`,
    [id],
  );
  return rows[0] ?? null;
}

/** A retry: the first outcome, or `exists_with_different_fields` when a field differs. */
function answerOfStored(request: LedgerRequest, stored: TransferRow): OracleOutcome {
  const amount = BigInt(stored.amount);
  const same =
    stored.kind === request.kind &&
    (stored.timeout_seconds ?? undefined) ===
      (request.kind === 'pending' ? request.timeoutSeconds : undefined) &&
    (stored.reference ?? undefined) === request.reference &&
    (isMove(request)
      ? stored.debit_account_id === request.debitAccountId &&
        stored.credit_account_id === request.creditAccountId &&
        stored.currency === request.currency &&
        amount === request.amount
      : stored.pending_id === request.pendingId &&
        (request.amount === undefined || request.amount === amount));
  return same
    ? { id: request.id, status: stored.status, replayed: true, amount }
    : { id: request.id, status: 'exists_with_different_fields', replayed: false, amount };
}

async function decide(tx: Queryable, request: LedgerRequest): Promise<Decision> {
  if (isMove(request)) return decideMove(tx, request);
  return decideSettle(tx, request);
}

async function lockAccounts(tx: Queryable, ids: readonly string[]): Promise<AccountRow[]> {
  const { rows } = await tx.query<AccountRow>(
    `SELECT id, currency, closed, debits_must_not_exceed_credits AS dg,
            credits_must_not_exceed_debits AS cg, debits_posted::text AS dp,
            credits_posted::text AS cp, debits_pending::text AS dpe, credits_pending::text AS cpe,
            last_seq::text AS seq
       FROM public.ledger_accounts WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE`,
    [ids],
  );
  return rows;
}

async function decideMove(tx: Queryable, r: MoveRequest): Promise<Decision> {
  const rows = await lockAccounts(tx, [r.debitAccountId, r.creditAccountId]);
  const debit = rows.find((row) => row.id === r.debitAccountId);
  const credit = rows.find((row) => row.id === r.creditAccountId);
  const refuse = (status: LedgerStatus): Decision => ({
    status,
    amount: r.amount,
    debit: r.debitAccountId,
    credit: r.creditAccountId,
    currency: r.currency,
  });
  if (!debit) return refuse('debit_account_not_found');
  if (!credit) return refuse('credit_account_not_found');
  if (debit.currency !== r.currency || credit.currency !== r.currency)
    return refuse('currency_mismatch');
  if (debit.closed || credit.closed) return refuse('account_closed');
  const [dp, cp, dpe, cpe] = [
    BigInt(debit.dp),
    BigInt(credit.cp),
    BigInt(debit.dpe),
    BigInt(credit.cpe),
  ];
  if (r.amount > INT8_MAX - dp - dpe || r.amount > INT8_MAX - cp - cpe) return refuse('overflows');
  if (debit.dg && dp + dpe + r.amount > BigInt(debit.cp)) return refuse('insufficient_funds');
  if (credit.cg && cp + cpe + r.amount > BigInt(credit.dp)) return refuse('exceeds_debits');
  return refuse(r.kind === 'transfer' ? 'posted' : 'pending');
}

async function decideSettle(tx: Queryable, r: SettleRequest): Promise<Decision> {
  const pending = await storedTransfer(tx, r.pendingId);
  if (pending === null || pending.kind !== 'pending')
    return {
      status: 'pending_transfer_not_found',
      amount: r.amount ?? 0n,
      debit: null,
      credit: null,
      currency: '',
    };
  const full = BigInt(pending.amount);
  const amount = r.kind === 'post' ? (r.amount ?? full) : full;
  const rows = await lockAccounts(tx, [
    pending.debit_account_id ?? '',
    pending.credit_account_id ?? '',
  ]);
  const decision = (status: LedgerStatus): Decision => ({
    status,
    amount,
    debit: pending.debit_account_id,
    credit: pending.credit_account_id,
    currency: pending.currency,
  });
  if (pending.pending_state !== 'open')
    return decision(
      `pending_transfer_already_${pending.pending_state ?? 'closed'}` as LedgerStatus,
    );
  if (r.kind === 'expire')
    return decision(pending.expired ? 'expired' : 'pending_transfer_not_expired');
  if (pending.expired) return decision('pending_transfer_expired');
  if (r.kind === 'post' && (amount <= 0n || amount > full))
    return decision('exceeds_pending_amount');
  if (r.kind === 'post' && rows.some((row) => row.closed)) return decision('account_closed');
  return decision(r.kind === 'post' ? 'posted' : 'voided');
}

/** Moves the totals of both accounts and writes a posting for each, with its next seq. */
async function applyDecision(tx: Queryable, request: LedgerRequest, d: Decision): Promise<void> {
  let moves: { debit: bigint; credit: bigint; debitPending: bigint; creditPending: bigint };
  if (isMove(request)) {
    const pending = request.kind === 'pending';
    moves = {
      debit: pending ? 0n : d.amount,
      credit: pending ? 0n : d.amount,
      debitPending: pending ? d.amount : 0n,
      creditPending: pending ? d.amount : 0n,
    };
  } else {
    const pending = await storedTransfer(tx, request.pendingId);
    const full = BigInt(pending?.amount ?? '0');
    const posted = request.kind === 'post' ? d.amount : 0n;
    moves = { debit: posted, credit: posted, debitPending: -full, creditPending: -full };
    await tx.query(
      `UPDATE public.ledger_transfers SET pending_state = $2, updated_at = clock_timestamp()
        WHERE id = $1`,
      [request.pendingId, d.status],
    );
  }
  await tx.query(
    `WITH moved AS (
       UPDATE public.ledger_accounts a
          SET debits_posted = a.debits_posted + m.d, credits_posted = a.credits_posted + m.c,
              debits_pending = a.debits_pending + m.pd, credits_pending = a.credits_pending + m.pc,
              last_seq = a.last_seq + 1, updated_at = clock_timestamp()
         FROM (VALUES ($1::text, $3::bigint, 0::bigint, $5::bigint, 0::bigint),
                      ($2::text, 0::bigint, $4::bigint, 0::bigint, $6::bigint)) AS m(id, d, c, pd, pc)
        WHERE a.id = m.id
        RETURNING a.id, a.last_seq, m.d, m.c, m.pd, m.pc, a.debits_posted, a.credits_posted,
                  a.debits_pending, a.credits_pending)
     INSERT INTO public.ledger_postings (account_id, seq, transfer_id, posted_at, debit, credit,
            debit_pending, credit_pending, debits_posted, credits_posted, debits_pending,
            credits_pending)
     SELECT id, last_seq, $7, clock_timestamp(), d, c, pd, pc, debits_posted, credits_posted,
            debits_pending, credits_pending FROM moved`,
    [
      d.debit,
      d.credit,
      moves.debit.toString(),
      moves.credit.toString(),
      moves.debitPending.toString(),
      moves.creditPending.toString(),
      request.id,
    ],
  );
}

/** Stores the request under its id with its outcome (a retry is answered from here). */
async function storeTransfer(tx: Queryable, request: LedgerRequest, d: Decision): Promise<void> {
  const move = isMove(request) ? request : null;
  const open = request.kind === 'pending' && d.status === 'pending';
  await tx.query(
    `INSERT INTO public.ledger_transfers (id, kind, debit_account_id, credit_account_id, amount,
            currency, pending_id, timeout_seconds, timeout_at, pending_state, status, linked,
            reference, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5::bigint, $6, $7, $8::integer,
             CASE WHEN $9::boolean THEN clock_timestamp() + make_interval(secs => $8::integer) END,
             CASE WHEN $9::boolean THEN 'open' END, $10, $11::boolean, $12, clock_timestamp(),
             clock_timestamp())`,
    [
      request.id,
      request.kind,
      move ? move.debitAccountId : d.debit,
      move ? move.creditAccountId : d.credit,
      (d.amount < 0n ? 0n : d.amount).toString(),
      move ? move.currency : d.currency,
      move ? null : (request as SettleRequest).pendingId,
      move?.timeoutSeconds ?? null,
      open,
      d.status,
      request.linked ?? false,
      request.reference ?? null,
    ],
  );
}
