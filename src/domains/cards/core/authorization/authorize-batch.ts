import type { Queryable } from '../../../../data/router.ts';
import {
  AUTHORIZATION_COLUMNS,
  type AuthorizationRow,
  type StoredAuthorizationRow,
} from '../../store/authorization-row.ts';
import type { AuthorizationRequest, AuthorizationStatus } from './authorization-types.ts';

/** One request (or advice) as the batch function takes it. */
export interface BatchItem extends AuthorizationRequest {
  /** The authorization id the row gets if the request is new (minted in the card's bucket). */
  readonly id: string;
  readonly merchantReference: string | null;
  /** `null` for the issuer's own requests; the stand-in status for an advice. */
  readonly standInStatus: AuthorizationStatus | null;
  readonly decidedAt: Date | null;
}

/** One capture or reversal of a hold as the batch function takes it. */
export interface MoveItem {
  readonly authorizationId: string;
  readonly capture: boolean;
  /** `null`: all that is held. */
  readonly amount: bigint | null;
  /** The client's idempotency key (scope `authorization_capture` / `authorization_reverse`). */
  readonly key: string;
  readonly fingerprint: string;
}

/**
 * What the function did with one item: `new` / `replayed` / `conflict` / `lost` for issuer requests;
 * `matched` / `exposure` / `declined_recorded` / `duplicate_dropped` for advices.
 */
export type BatchItemOutcome =
  | 'new'
  | 'replayed'
  | 'conflict'
  | 'matched'
  | 'exposure'
  | 'declined_recorded'
  | 'duplicate_dropped'
  /** Another process stored the request id between the batch's read and its insert. */
  | 'lost';

export interface BatchItemResult {
  readonly outcome: BatchItemOutcome;
  /** The issuer's status (for a stored request id: the stored row's issuer view). */
  readonly issuerStatus: AuthorizationStatus | null;
  readonly exposure: bigint;
  /** The id of the row already stored under the request id (`replayed`, `conflict`...). */
  readonly storedId: string | null;
  /** The account of a new authorization (`null` for an unknown card). */
  readonly accountId: string | null;
}

/**
 * What the function did with one move: `moved` (applied, `body` is the row after it),
 * `replayed` (the key's stored answer), or why it failed alone: `key_reused`, `not_found`,
 * `state_conflict`, `invalid_amount` (with `detail`), `no_answer` (a key stored without answer).
 */
export type MoveOutcome =
  | 'moved'
  | 'replayed'
  | 'key_reused'
  | 'no_answer'
  | 'not_found'
  | 'state_conflict'
  | 'invalid_amount';

export interface MoveResult {
  readonly outcome: MoveOutcome;
  readonly body: StoredAuthorizationRow | null;
  readonly detail: string | null;
}

/** Everything one call answered. */
export interface EngineBatchResult {
  /** The batch's clock (`now()` of its transaction): new rows' `created_at`. */
  readonly now: Date;
  readonly items: BatchItemResult[];
  readonly moves: MoveResult[];
}

/**
 * The arrays the function takes. Cards and holds are deduplicated and each item carries the
 * 1-based index of its card (each move the index of its hold), so the function indexes instead
 * of searching; `refPrev` links each item to the previous one with the same card, merchant and
 * reference (duplicate detection in O(1)).
 */
function batchParams(
  items: readonly BatchItem[],
  moves: readonly MoveItem[],
  holdTtlSeconds: number,
): unknown[] {
  const cardIndex = new Map<string, number>();
  const lastByReference = new Map<string, number>();
  const count = items.length;
  const ids = new Array<string>(count);
  const requestIds = new Array<string>(count);
  const cardIdx = new Array<number>(count);
  const amounts = new Array<string>(count);
  const currencies = new Array<string>(count);
  const merchants = new Array<string>(count);
  const categories = new Array<string>(count);
  const references = new Array<string | null>(count);
  const refPrev = new Array<number | null>(count);
  const standIn = new Array<string | null>(count);
  const decidedAt = new Array<Date | null>(count);
  for (let index = 0; index < count; index += 1) {
    const item = items[index] as BatchItem;
    let card = cardIndex.get(item.cardId);
    if (card === undefined) {
      card = cardIndex.size + 1;
      cardIndex.set(item.cardId, card);
    }
    ids[index] = item.id;
    requestIds[index] = item.requestId;
    cardIdx[index] = card;
    amounts[index] = item.amount.toString();
    currencies[index] = item.currency;
    merchants[index] = item.merchantId;
    categories[index] = item.merchantCategory;
    references[index] = item.merchantReference;
    standIn[index] = item.standInStatus;
    decidedAt[index] = item.decidedAt;
    if (item.merchantReference === null) {
      refPrev[index] = null;
    } else {
      const key = `${item.cardId}\u0000${item.merchantId}\u0000${item.merchantReference}`;
      refPrev[index] = lastByReference.get(key) ?? null;
      lastByReference.set(key, index + 1);
    }
  }
  return [
    ids,
    requestIds,
    cardIdx,
    [...cardIndex.keys()],
    amounts,
    currencies,
    merchants,
    categories,
    references,
    refPrev,
    standIn,
    decidedAt,
    holdTtlSeconds,
    ...moveParams(moves),
  ];
}

/** The moves' columns: the distinct hold ids, and each move's 1-based index into them. */
function moveParams(moves: readonly MoveItem[]): unknown[] {
  const holdIndex = new Map<string, number>();
  const moveHoldIdx = moves.map((move) => {
    let hold = holdIndex.get(move.authorizationId);
    if (hold === undefined) {
      hold = holdIndex.size + 1;
      holdIndex.set(move.authorizationId, hold);
    }
    return hold;
  });
  return [
    [...holdIndex.keys()],
    moveHoldIdx,
    moves.map((move) => move.capture),
    moves.map((move) => move.amount?.toString() ?? null),
    moves.map((move) => move.key),
    moves.map((move) => move.fingerprint),
  ];
}

const CALL_SQL = `SELECT * FROM public.card_engine_batch(
  $1::text[], $2::text[], $3::integer[], $4::text[], $5::bigint[], $6::text[], $7::text[],
  $8::text[], $9::text[], $10::integer[], $11::text[], $12::timestamptz[], $13::integer,
  $14::text[], $15::integer[], $16::boolean[], $17::bigint[], $18::text[], $19::text[])`;

/** o_pos, o_outcome, o_status, o_id, o_account_id, o_exposure, o_now, o_body, o_detail. */
type CallRow = [
  number,
  string,
  AuthorizationStatus | null,
  string | null,
  string | null,
  string | null,
  Date | null,
  StoredAuthorizationRow | null,
  string | null,
];

/**
 * Decides and writes `items` and applies `moves` in one call of `public.card_engine_batch`
 * inside `tx` (the caller's shard transaction). Everything must live on that shard; no two
 * items may share a card and request id, and no two moves an idempotency key (the caller
 * folds such repeats). Returns one result per item and per move, in order. Rows come back as
 * arrays (no object per row) and only with what the caller does not already know.
 */
export async function runEngineBatch(
  tx: Queryable,
  items: readonly BatchItem[],
  moves: readonly MoveItem[],
  holdTtlSeconds: number,
): Promise<EngineBatchResult> {
  const { rows } = await tx.query<CallRow>({
    text: CALL_SQL,
    values: batchParams(items, moves, holdTtlSeconds),
    rowMode: 'array',
  });
  const count = items.length;
  const itemResults = new Array<BatchItemResult>(count);
  const moveResults = new Array<MoveResult>(moves.length);
  let now: Date | null = null;
  for (const row of rows) {
    const position = row[0] - 1;
    if (row[6] !== null) now = row[6];
    if (position < count) {
      itemResults[position] = {
        outcome: row[1] as BatchItemOutcome,
        issuerStatus: row[2],
        exposure: row[5] === null || row[5] === '0' ? 0n : BigInt(row[5]),
        storedId: row[3],
        accountId: row[4],
      };
    } else {
      moveResults[position - count] = {
        outcome: row[1] as MoveOutcome,
        body: row[7],
        detail: row[8],
      };
    }
  }
  if (now === null) throw new Error('card_engine_batch answered without its clock');
  return { now, items: itemResults, moves: moveResults };
}

/** The stored rows of `ids` as the transaction sees them (replays are answered from them). */
export async function storedRows(
  tx: Queryable,
  ids: readonly string[],
): Promise<Map<string, AuthorizationRow>> {
  const { rows } = await tx.query<AuthorizationRow>(
    `SELECT ${AUTHORIZATION_COLUMNS} FROM public.authorizations WHERE id = ANY ($1::text[])`,
    [ids],
  );
  return new Map(rows.map((row) => [row.id, row]));
}

/**
 * {@link runEngineBatch} for items alone (the stand-in advice applier): one result per item.
 */
export async function runAuthorizeBatch(
  tx: Queryable,
  items: readonly BatchItem[],
  holdTtlSeconds: number,
): Promise<BatchItemResult[]> {
  if (items.length === 0) return [];
  return (await runEngineBatch(tx, items, [], holdTtlSeconds)).items;
}
