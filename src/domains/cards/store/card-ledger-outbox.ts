import type { Queryable } from '../../../data/router.ts';
import type { CardLedgerEvent } from '../core/ledger/card-ledger-port.ts';

/** An outbox row: its event and how its delivery has gone so far. */
export interface CardLedgerOutboxRow extends CardLedgerEvent {
  readonly attempts: number;
  readonly lastError: string | null;
}

type Row = {
  authorization_id: string;
  generation: number;
  account_id: string;
  merchant_id: string;
  currency: string;
  held_before: string;
  held_after: string;
  captured: string;
  attempts: number;
  last_error: string | null;
};

const COLUMNS =
  'authorization_id, generation, account_id, merchant_id, currency, held_before::text, ' +
  'held_after::text, captured::text, attempts, last_error';

/**
 * Up to `limit` rows due now, oldest first, each the lowest generation its authorization has
 * left: a later event never goes before the one it follows, even when that one is waiting out
 * a backoff.
 */
export async function listDueCardLedgerEvents(
  db: Queryable,
  limit: number,
): Promise<CardLedgerOutboxRow[]> {
  const { rows } = await db.query<Row>(
    `SELECT ${COLUMNS} FROM public.card_ledger_outbox o
      WHERE o.next_attempt_at <= clock_timestamp()
        AND NOT EXISTS (SELECT 1 FROM public.card_ledger_outbox p
                         WHERE p.authorization_id = o.authorization_id
                           AND p.generation < o.generation)
      ORDER BY o.next_attempt_at, o.created_at LIMIT $1`,
    [limit],
  );
  return rows.map(rowOf);
}

/** Deletes the rows of posted events (a repeat deletes nothing). */
export async function deleteCardLedgerEvents(
  tx: Queryable,
  events: readonly Pick<CardLedgerEvent, 'authorizationId' | 'generation'>[],
): Promise<number> {
  if (events.length === 0) return 0;
  const { rowCount } = await tx.query(
    `DELETE FROM public.card_ledger_outbox o
      USING unnest($1::text[], $2::integer[]) AS u(id, generation)
      WHERE o.authorization_id = u.id AND o.generation = u.generation`,
    [events.map((event) => event.authorizationId), events.map((event) => event.generation)],
  );
  return rowCount ?? 0;
}

/** Records a failed delivery of each event: one more attempt, the error, the next try's time. */
export async function recordCardLedgerFailures(
  tx: Queryable,
  failures: readonly { readonly event: CardLedgerEvent; readonly error: string }[],
  backoff: { readonly baseMs: number; readonly maxMs: number },
): Promise<void> {
  if (failures.length === 0) return;
  await tx.query(
    `UPDATE public.card_ledger_outbox o
        SET attempts = o.attempts + 1, last_error = left(u.error, 1000),
            next_attempt_at = clock_timestamp() + make_interval(
              secs => least($4::double precision,
                            $3::double precision * power(2, least(o.attempts, 30))) / 1000)
       FROM unnest($1::text[], $2::integer[], $5::text[]) AS u(id, generation, error)
      WHERE o.authorization_id = u.id AND o.generation = u.generation`,
    [
      failures.map(({ event }) => event.authorizationId),
      failures.map(({ event }) => event.generation),
      backoff.baseMs,
      backoff.maxMs,
      failures.map(({ error }) => error),
    ],
  );
}

/** Per card account, what its events not yet posted hold and capture. */
export interface InFlight {
  readonly held: bigint;
  readonly captured: bigint;
}

/** A card account's totals and what its events not yet posted carry. */
export interface CardAccountInFlight {
  readonly id: string;
  readonly currency: string;
  readonly held: bigint;
  readonly posted: bigint;
  readonly inFlight: InFlight;
}

/**
 * Card accounts with their totals and what is in flight, in one statement (one snapshot): a
 * page by id (after `afterId`, up to `limit`), or the accounts `ids`.
 */
export async function readCardAccountsWithInFlight(
  db: Queryable,
  selection:
    | { readonly afterId: string | null; readonly limit: number }
    | { readonly ids: readonly string[] },
): Promise<CardAccountInFlight[]> {
  const picked =
    'ids' in selection
      ? { where: 'id = ANY ($1::text[])', params: [selection.ids] }
      : {
          where: '($1::text IS NULL OR id > $1::text) ORDER BY id LIMIT $2',
          params: [selection.afterId, selection.limit],
        };
  const { rows } = await db.query<{
    id: string;
    currency: string;
    held: string;
    posted: string;
    in_flight_held: string;
    in_flight_captured: string;
  }>(
    `SELECT a.id, a.currency, a.held::text, a.posted::text,
            coalesce(f.held, 0)::text AS in_flight_held,
            coalesce(f.captured, 0)::text AS in_flight_captured
       FROM (SELECT id, currency, held, posted FROM public.card_accounts
              WHERE ${picked.where}) a
       LEFT JOIN LATERAL (
         SELECT sum(o.held_after - o.held_before) AS held, sum(o.captured) AS captured
           FROM public.card_ledger_outbox o WHERE o.account_id = a.id) f ON true
      ORDER BY a.id`,
    picked.params,
  );
  return rows.map((row) => ({
    id: row.id,
    currency: row.currency,
    held: BigInt(row.held),
    posted: BigInt(row.posted),
    inFlight: { held: BigInt(row.in_flight_held), captured: BigInt(row.in_flight_captured) },
  }));
}

function rowOf(row: Row): CardLedgerOutboxRow {
  return {
    authorizationId: row.authorization_id,
    generation: row.generation,
    cardAccountId: row.account_id,
    merchantId: row.merchant_id,
    currency: row.currency,
    heldBefore: BigInt(row.held_before),
    heldAfter: BigInt(row.held_after),
    captured: BigInt(row.captured),
    attempts: row.attempts,
    lastError: row.last_error,
  };
}
