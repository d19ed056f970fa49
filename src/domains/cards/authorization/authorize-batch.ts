import type { Queryable } from '../../../data/router.ts';
import type { AuthorizationRow } from './authorization-row.ts';
import type { AuthorizationStatus } from './authorization-types.ts';

/** One request (or advice) as the batch function takes it. */
export interface BatchItem {
  /** The authorization id the row gets if the request is new (minted in the card's bucket). */
  readonly id: string;
  readonly requestId: string;
  readonly cardId: string;
  readonly amount: bigint;
  readonly currency: string;
  readonly merchantId: string;
  readonly merchantCategory: string;
  readonly merchantReference: string | null;
  readonly fingerprint: string;
  /** `null` for the issuer's own requests; the stand-in status for an advice. */
  readonly standInStatus: AuthorizationStatus | null;
  readonly decidedAt: Date | null;
}

/**
 * What the function did with one item: `new` / `replayed` / `conflict` for issuer requests;
 * `matched` / `exposure` / `declined_recorded` / `duplicate_dropped` for advices.
 */
export type BatchItemOutcome =
  | 'new'
  | 'replayed'
  | 'conflict'
  | 'matched'
  | 'exposure'
  | 'declined_recorded'
  | 'duplicate_dropped';

export interface BatchItemResult {
  readonly outcome: BatchItemOutcome;
  readonly issuerStatus: AuthorizationStatus | null;
  readonly exposure: bigint;
  /** The stored authorization (the new one, or the one a replay refers to). */
  readonly row: AuthorizationRow | null;
}

/**
 * The arrays the function takes. Cards are deduplicated and each item carries the 1-based index
 * of its card, so the function indexes instead of searching; `refPrev` links each item to the
 * previous one with the same card, merchant and reference (duplicate detection in O(1)).
 */
function batchParams(items: readonly BatchItem[], holdTtlSeconds: number): unknown[] {
  const cardIndex = new Map<string, number>();
  const lastByReference = new Map<string, number>();
  const cardIdx: number[] = [];
  const refPrev: (number | null)[] = [];
  items.forEach((item, index) => {
    let card = cardIndex.get(item.cardId);
    if (card === undefined) {
      card = cardIndex.size + 1;
      cardIndex.set(item.cardId, card);
    }
    cardIdx.push(card);
    if (item.merchantReference === null) {
      refPrev.push(null);
    } else {
      const key = `${item.cardId}\u0000${item.merchantId}\u0000${item.merchantReference}`;
      refPrev.push(lastByReference.get(key) ?? null);
      lastByReference.set(key, index + 1);
    }
  });
  return [
    items.map((item) => item.id),
    items.map((item) => item.requestId),
    cardIdx,
    [...cardIndex.keys()],
    items.map((item) => item.amount.toString()),
    items.map((item) => item.currency),
    items.map((item) => item.merchantId),
    items.map((item) => item.merchantCategory),
    items.map((item) => item.merchantReference),
    refPrev,
    items.map((item) => item.fingerprint),
    items.map((item) => item.standInStatus),
    items.map((item) => item.decidedAt),
    holdTtlSeconds,
  ];
}

const CALL_SQL = `SELECT * FROM public.card_authorize_batch(
  $1::text[], $2::text[], $3::integer[], $4::text[], $5::bigint[], $6::text[], $7::text[],
  $8::text[], $9::text[], $10::integer[], $11::text[], $12::text[], $13::timestamptz[],
  $14::integer)`;

type CallRow = {
  [K in keyof AuthorizationRow as `o_${K & string}`]: AuthorizationRow[K] | null;
} & {
  o_pos: number;
  o_outcome: BatchItemOutcome;
  o_issuer_status: AuthorizationStatus | null;
  o_exposure: string;
  o_flag_status: string | null;
};

/**
 * Decides and writes `items` in one call of `public.card_authorize_batch` inside `tx` (the
 * caller's shard transaction). Items must all live on that shard, and no two may share a card
 * and request id (the caller folds such repeats). Returns one result per item, in order.
 */
export async function runAuthorizeBatch(
  tx: Queryable,
  items: readonly BatchItem[],
  holdTtlSeconds: number,
): Promise<BatchItemResult[]> {
  const { rows } = await tx.query<CallRow>(CALL_SQL, batchParams(items, holdTtlSeconds));
  return rows.map((row) => ({
    outcome: row.o_outcome,
    issuerStatus: row.o_issuer_status,
    exposure: BigInt(row.o_exposure),
    row: row.o_id === null ? null : rowOf(row),
  }));
}

function rowOf(row: CallRow): AuthorizationRow {
  return {
    id: row.o_id as string,
    request_id: row.o_request_id as string,
    card_id: row.o_card_id as string,
    account_id: row.o_account_id,
    status: row.o_status as string,
    decided_by: row.o_decided_by as string,
    amount: row.o_amount as string,
    currency: row.o_currency as string,
    merchant_id: row.o_merchant_id as string,
    merchant_category: row.o_merchant_category as string,
    merchant_reference: row.o_merchant_reference,
    held_amount: row.o_held_amount as string,
    captured_amount: row.o_captured_amount as string,
    reversed_amount: row.o_reversed_amount as string,
    hold_state: row.o_hold_state as string,
    hold_expires_at: row.o_hold_expires_at,
    created_at: row.o_created_at as Date,
    issuer_status: row.o_flag_status,
    exposure_amount: row.o_exposure_amount as string,
  };
}
