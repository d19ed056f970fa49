import type { Queryable } from '../../../data/primary-writer.ts';
import type { LedgerOutcome, LedgerRequest } from '../core/ledger-types.ts';
import { applyLedgerBatch } from './ledger-batch.ts';

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
  /**
   * A request applied with leg 1 as one linked chain, before it: both or neither (a payment's
   * fee reserve). A start answered from its existing row does not apply it again.
   */
  readonly linkedBefore?: LedgerRequest;
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
 * Leg 1 and the coordinator row in the caller's transaction, on the debtor's shard, so the row
 * commits with the leg or not at all (see {@link startCrossShards}, of which this is one).
 */
export async function startCrossShard(
  tx: Queryable,
  start: CrossShardStart,
): Promise<CrossShardStarted> {
  const [started] = await startCrossShards(tx, [start]);
  if (started === undefined) throw new Error('a cross-shard start answered nothing');
  return started;
}

/** Whether a stored row was asked with other fields than `start`. */
function differs(row: CrossShardRow, start: CrossShardStart): boolean {
  return (
    row.debitAccountId !== start.debitAccountId ||
    row.creditAccountId !== start.creditAccountId ||
    row.amount !== start.amount ||
    row.currency !== start.currency ||
    row.reference !== start.reference
  );
}

/** How a start whose coordinator row exists is answered: a retry, or a reuse of its id. */
function fromRow(row: CrossShardRow, start: CrossShardStart): CrossShardStarted {
  return differs(row, start)
    ? { status: 'exists_with_different_fields', replayed: false, state: null }
    : { status: 'pending', replayed: true, state: row.state };
}

async function readRows(
  tx: Queryable,
  ids: readonly string[],
): Promise<Map<string, CrossShardRow>> {
  const { rows } = await tx.query<Row>(
    `SELECT ${COLUMNS} FROM public.ledger_cross_shard WHERE id = ANY ($1::text[])`,
    [ids],
  );
  return new Map(rows.map((row) => [row.id, rowOf(row)]));
}

/**
 * The in_transit stripe each start's leg 1 goes to: the one an earlier attempt's leg names, else
 * one of its code's stripes here picked by its id; `null` when there is none in its currency.
 */
async function transitsOf(
  tx: Queryable,
  starts: readonly CrossShardStart[],
): Promise<(string | null)[]> {
  const { rows } = await tx.query<{ transit: string | null }>(
    `SELECT coalesce(t.credit_account_id,
                     s.ids[1 + ((hashtextextended(u.id, 0) & 9223372036854775807)
                                % cardinality(s.ids))::integer]) AS transit
       FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS u(id, code, currency, n)
       LEFT JOIN public.ledger_transfers t ON t.id = u.id || ':debit'
       LEFT JOIN LATERAL (
         SELECT array_agg(a.id ORDER BY a.stripe) AS ids FROM public.ledger_accounts a
          WHERE a.code = u.code AND a.currency = u.currency AND a.kind = 'in_transit'
       ) s ON true
      ORDER BY u.n`,
    [starts.map((s) => s.id), starts.map((s) => s.transitCode), starts.map((s) => s.currency)],
  );
  return rows.map((row) => row.transit);
}

/** Inserts the rows of starts whose leg 1 is pending; answers the ids it inserted. */
async function insertRows(
  tx: Queryable,
  rows: readonly { start: CrossShardStart; transit: string }[],
): Promise<Set<string>> {
  const { rows: inserted } = await tx.query<{ id: string }>(
    `INSERT INTO public.ledger_cross_shard (id, debit_account_id, credit_account_id, amount,
            currency, reference, timeout_seconds, debit_transit_id, state, next_attempt_at,
            created_at, updated_at)
     SELECT u.id, u.debit, u.credit, u.amount, u.currency, u.reference, u.timeout, u.transit,
            'pending_debit', clock_timestamp(), clock_timestamp(), clock_timestamp()
       FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[],
                   $7::integer[], $8::text[])
            AS u(id, debit, credit, amount, currency, reference, timeout, transit)
     ON CONFLICT (id) DO NOTHING
     RETURNING id`,
    [
      rows.map((r) => r.start.id),
      rows.map((r) => r.start.debitAccountId),
      rows.map((r) => r.start.creditAccountId),
      rows.map((r) => r.start.amount.toString()),
      rows.map((r) => r.start.currency),
      rows.map((r) => r.start.reference),
      rows.map((r) => r.start.timeoutSeconds),
      rows.map((r) => r.transit),
    ],
  );
  return new Set(inserted.map((row) => row.id));
}

/** Leg 1 of `start`, to `transit`. */
function legOf(start: CrossShardStart, transit: string): LedgerRequest {
  return {
    kind: 'pending',
    id: `${start.id}:debit`,
    debitAccountId: start.debitAccountId,
    creditAccountId: transit,
    amount: start.amount,
    currency: start.currency,
    timeoutSeconds: start.timeoutSeconds,
    ...(start.reference === null ? {} : { reference: start.reference }),
  };
}

/**
 * Leg 1 of each start (with its linked request before it, if any) in ONE call of
 * `ledger_apply_batch`: one outcome a start, its leg's, or its chain's refusal when the linked
 * request was refused (the leg then was not applied either).
 */
async function applyLegs(
  tx: Queryable,
  legs: readonly { start: CrossShardStart; transit: string }[],
): Promise<LedgerOutcome[]> {
  if (legs.length === 0) return [];
  const requests: LedgerRequest[] = [];
  for (const { start, transit } of legs) {
    if (start.linkedBefore) requests.push({ ...start.linkedBefore, linked: true });
    requests.push(legOf(start, transit));
  }
  const outcomes = await applyLedgerBatch(tx, requests);
  let at = 0;
  return legs.map(({ start }) => {
    const before = start.linkedBefore ? outcomes[at++] : undefined;
    const leg = outcomes[at++] as LedgerOutcome;
    const refusedBefore =
      before !== undefined &&
      before.status !== 'linked_event_failed' &&
      !APPLIED.has(before.status);
    return refusedBefore ? before : leg;
  });
}

/** What a linked request's outcome is when it was applied. */
const APPLIED: ReadonlySet<string> = new Set(['pending', 'posted']);

/**
 * Starts cross-shard transfers on the debtor's shard in the caller's transaction (decision 49,
 * "Across shards"), each as if alone: leg 1 of each (a pending transfer `<id>:debit` from the
 * debtor to an in_transit stripe here) in ONE call of `ledger_apply_batch`, then the coordinator
 * rows of the legs that are pending, so a row commits with its leg or not at all. A start whose
 * row exists is answered from it (`pending`, replayed; `exists_with_different_fields` when its
 * fields differ); one whose leg was refused, with the refusal (a retry replays it); one with no
 * stripe of its code in its currency, `in_transit_account_not_found` (nothing written). A start
 * of an id whose row another start wrote first (at once, or earlier in the same call) is
 * answered as a retry of it.
 */
export async function startCrossShards(
  tx: Queryable,
  starts: readonly CrossShardStart[],
): Promise<CrossShardStarted[]> {
  const answers: (CrossShardStarted | null)[] = starts.map(() => null);
  const existing = await readRows(
    tx,
    starts.map((start) => start.id),
  );
  const fresh: { index: number; start: CrossShardStart }[] = [];
  starts.forEach((start, index) => {
    const row = existing.get(start.id);
    if (row === undefined) fresh.push({ index, start });
    else answers[index] = fromRow(row, start);
  });
  const transits =
    fresh.length > 0
      ? await transitsOf(
          tx,
          fresh.map((f) => f.start),
        )
      : [];
  const legs: { index: number; start: CrossShardStart; transit: string }[] = [];
  fresh.forEach(({ index, start }, at) => {
    const transit = transits[at] ?? null;
    if (transit === null)
      answers[index] = { status: 'in_transit_account_not_found', replayed: false, state: null };
    else legs.push({ index, start, transit });
  });
  const outcomes = await applyLegs(tx, legs);
  const pending = legs.filter((leg, at) => {
    const outcome = outcomes[at] as LedgerOutcome;
    if (outcome.status !== 'pending')
      answers[leg.index] = { status: outcome.status, replayed: outcome.replayed, state: null };
    return outcome.status === 'pending';
  });
  const made = pending.length > 0 ? await insertRows(tx, pending) : new Set<string>();
  // Each inserted id answers fresh once; every other pending start is a retry of its row.
  const raced = new Set(pending.filter((leg) => !made.delete(leg.start.id)));
  const rows =
    raced.size > 0
      ? await readRows(
          tx,
          [...raced].map((leg) => leg.start.id),
        )
      : null;
  for (const leg of pending) {
    const row = raced.has(leg) ? rows?.get(leg.start.id) : undefined;
    answers[leg.index] =
      row === undefined
        ? { status: 'pending', replayed: false, state: 'pending_debit' }
        : fromRow(row, leg.start);
  }
  return answers.map((answer) => {
    if (answer === null) throw new Error('a cross-shard start was left unanswered');
    return answer;
  });
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

/**
 * One write to a coordinator row, as the driver makes them: fix the creditor shard's in_transit
 * stripe (`transit`: the first driver's choice stands, so leg 2 is asked with the same fields by
 * every driver), or move the row on from the state it was read in (`move`: only if it is still
 * in it, clearing its failures).
 */
export type CrossShardWrite =
  | { readonly kind: 'transit'; readonly id: string; readonly stripe: string }
  | {
      readonly kind: 'move';
      readonly id: string;
      readonly from: CrossShardState;
      readonly to: CrossShardState;
      readonly change: CrossShardMove;
    };

/** What a write came out as: the stripe fixed, or the row after the move (`null`: not moved). */
export type CrossShardWritten =
  | { readonly kind: 'transit'; readonly stripe: string | null }
  | { readonly kind: 'move'; readonly row: CrossShardRow | null };

/**
 * Many drivers' writes to this shard's coordinator rows in the caller's transaction, each with
 * the meaning it has alone: the rows locked in id order (as any other writer of several), the
 * stripes fixed (the first choice stands), then each move made only from the state its driver
 * read. Two moves of one row in one call (two drivers at once): one is made, and both are
 * answered with the row after it, which is where either driver would have read it next.
 */
export async function applyCrossShardWrites(
  tx: Queryable,
  writes: readonly CrossShardWrite[],
): Promise<CrossShardWritten[]> {
  const transits = writes.filter((w) => w.kind === 'transit');
  const moves = writes.filter((w) => w.kind === 'move');
  await tx.query(
    `SELECT 1 FROM public.ledger_cross_shard WHERE id = ANY ($1::text[]) ORDER BY id FOR UPDATE`,
    [writes.map((w) => w.id)],
  );
  const stripes = new Map<string, string>();
  if (transits.length > 0) {
    const { rows } = await tx.query<{ id: string; credit_transit_id: string }>(
      `UPDATE public.ledger_cross_shard c
          SET credit_transit_id = coalesce(c.credit_transit_id, u.stripe)
         FROM unnest($1::text[], $2::text[]) AS u(id, stripe)
        WHERE c.id = u.id
        RETURNING c.id, c.credit_transit_id`,
      [transits.map((w) => w.id), transits.map((w) => w.stripe)],
    );
    for (const row of rows) stripes.set(row.id, row.credit_transit_id);
  }
  const moved = new Map<string, CrossShardRow>();
  if (moves.length > 0) {
    const { rows } = await tx.query<Row>(
      `UPDATE public.ledger_cross_shard c
          SET state = u.to_state, credit_leg_pending = coalesce(u.credit_leg, c.credit_leg_pending),
              void_reason = coalesce(u.reason, c.void_reason), attempts = 0, last_error = NULL,
              next_attempt_at = clock_timestamp(), updated_at = clock_timestamp()
         FROM unnest($1::text[], $2::text[], $3::text[], $4::boolean[], $5::text[])
              AS u(id, from_state, to_state, credit_leg, reason)
        WHERE c.id = u.id AND c.state = u.from_state
        RETURNING ${COLUMNS.split(', ')
          .map((column) => `c.${column}`)
          .join(', ')}`,
      [
        moves.map((w) => w.id),
        moves.map((w) => w.from),
        moves.map((w) => w.to),
        moves.map((w) => w.change.creditLegPending ?? null),
        moves.map((w) => w.change.voidReason ?? null),
      ],
    );
    for (const row of rows) moved.set(row.id, rowOf(row));
  }
  return writes.map((w) =>
    w.kind === 'transit'
      ? { kind: 'transit', stripe: stripes.get(w.id) ?? null }
      : { kind: 'move', row: moved.get(w.id) ?? null },
  );
}
