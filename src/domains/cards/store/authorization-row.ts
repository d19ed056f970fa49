import {
  AUTHORIZATION_STATUSES,
  type AuthorizationOutcome,
  type AuthorizationStatus,
  type Decider,
  type HoldState,
} from '../core/authorization/authorization-types.ts';

/** An `authorizations` row as node-postgres returns it (bigint columns arrive as strings). */
export interface AuthorizationRow {
  readonly id: string;
  readonly request_id: string;
  readonly card_id: string;
  readonly account_id: string | null;
  readonly status: string;
  readonly decided_by: string;
  readonly amount: string;
  readonly currency: string;
  readonly merchant_id: string;
  readonly merchant_category: string;
  readonly merchant_reference: string | null;
  readonly held_amount: string;
  readonly captured_amount: string;
  readonly reversed_amount: string;
  readonly hold_state: string;
  readonly hold_expires_at: Date | null;
  readonly created_at: Date;
  readonly issuer_status: string | null;
  readonly exposure_amount: string;
}

/** The columns of {@link AuthorizationRow}, for SELECT and RETURNING lists. */
export const AUTHORIZATION_COLUMNS =
  'id, request_id, card_id, account_id, status, decided_by, amount, currency, merchant_id, ' +
  'merchant_category, merchant_reference, held_amount, captured_amount, reversed_amount, ' +
  'hold_state, hold_expires_at, created_at, issuer_status, exposure_amount';

/** Maps a stored row to the public outcome (the response code derives from the status). */
export function outcomeOfRow(row: AuthorizationRow): AuthorizationOutcome {
  const status = row.status as AuthorizationStatus;
  return {
    id: row.id,
    requestId: row.request_id,
    cardId: row.card_id,
    accountId: row.account_id,
    status,
    responseCode: AUTHORIZATION_STATUSES[status],
    decidedBy: row.decided_by as Decider,
    amount: BigInt(row.amount),
    currency: row.currency,
    merchantId: row.merchant_id,
    merchantCategory: row.merchant_category,
    merchantReference: row.merchant_reference,
    heldAmount: BigInt(row.held_amount),
    capturedAmount: BigInt(row.captured_amount),
    reversedAmount: BigInt(row.reversed_amount),
    holdState: row.hold_state as HoldState,
    holdExpiresAt: row.hold_expires_at ? row.hold_expires_at.toISOString() : null,
    createdAt: row.created_at.toISOString(),
    issuerStatus: (row.issuer_status as AuthorizationStatus | null) ?? null,
    exposureAmount: BigInt(row.exposure_amount),
  };
}

/**
 * An {@link AuthorizationRow} as an idempotency record keeps it (JSON: times as ISO 8601
 * strings in milliseconds). The service's direct path and the engine's batch function both
 * store a move's answer in this shape, so a retry is answered alike whichever path wrote it.
 */
export type StoredAuthorizationRow = Omit<AuthorizationRow, 'hold_expires_at' | 'created_at'> & {
  hold_expires_at: string | null;
  created_at: string;
};

/** The stored (JSON) form of a row. */
export function storedOfRow(row: AuthorizationRow): StoredAuthorizationRow {
  return {
    ...row,
    hold_expires_at: row.hold_expires_at?.toISOString() ?? null,
    created_at: row.created_at.toISOString(),
  };
}

/** A row back from its stored (JSON) form. */
export function rowOfStored(row: StoredAuthorizationRow): AuthorizationRow {
  return {
    ...row,
    hold_expires_at: row.hold_expires_at === null ? null : new Date(row.hold_expires_at),
    created_at: new Date(row.created_at),
  };
}
