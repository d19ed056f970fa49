/**
 * The vocabulary of card authorization shared by the engine (the issuer path), stand-in
 * processing and the entry points. Outcomes are values (a decline is a normal answer with a
 * status and an ISO 8583 response code); only infrastructure faults throw.
 */

/** Every status an authorization request can end in, with its ISO 8583 response code. */
export const AUTHORIZATION_STATUSES = {
  approved: '00',
  insufficient_credit: '51',
  card_blocked: '62',
  card_expired: '54',
  unknown_card: '14',
  velocity_exceeded: '65',
  duplicate: '94',
  invalid_amount: '13',
  currency_mismatch: '12',
  account_closed: '05',
  /** Stand-in: the amount or count limit of the card or merchant category for the window. */
  stand_in_limit_exceeded: '61',
  /** Stand-in: a merchant category never approved without the issuer. */
  category_not_permitted: '57',
  /** Stand-in could not decide (no cached card status): the issuer is unavailable. */
  issuer_unavailable: '91',
} as const;

export type AuthorizationStatus = keyof typeof AUTHORIZATION_STATUSES;
export type ResponseCode = (typeof AUTHORIZATION_STATUSES)[AuthorizationStatus];

/** Who decided: the issuer (the shard's primary, through the engine) or stand-in processing. */
export const DECIDERS = ['issuer', 'stand_in'] as const;
export type Decider = (typeof DECIDERS)[number];

/** The life of an authorization's hold after the decision. */
export const HOLD_STATES = ['open', 'closed', 'expired', 'none'] as const;
export type HoldState = (typeof HOLD_STATES)[number];

/** One authorization request as the network (or a merchant acquirer) sends it. */
export interface AuthorizationRequest {
  /** Client-chosen id, unique per card: a retry with the same id gets the first outcome. */
  readonly requestId: string;
  readonly cardId: string;
  /** Minor units, > 0 and <= 2^53 - 1 (checked at the edge; the engine re-checks). */
  readonly amount: bigint;
  /** ISO 4217 alphabetic code. */
  readonly currency: string;
  readonly merchantId: string;
  /** ISO 18245 merchant category code, four digits. */
  readonly merchantCategory: string;
  /** The acquirer's reference; the same card, merchant and reference again is a `duplicate`. */
  readonly merchantReference?: string | null;
}

/** The answer to one authorization request (also what `GET /v1/authorizations/{id}` shows). */
export interface AuthorizationOutcome {
  /** `auth_…`, carrying the card's bucket. */
  readonly id: string;
  readonly requestId: string;
  readonly cardId: string;
  /** `null` when the card is unknown. */
  readonly accountId: string | null;
  readonly status: AuthorizationStatus;
  readonly responseCode: ResponseCode;
  readonly decidedBy: Decider;
  readonly amount: bigint;
  readonly currency: string;
  readonly merchantId: string;
  readonly merchantCategory: string;
  readonly merchantReference: string | null;
  /** Amount still held (approved minus captured minus reversed), 0 once closed or expired. */
  readonly heldAmount: bigint;
  readonly capturedAmount: bigint;
  readonly reversedAmount: bigint;
  readonly holdState: HoldState;
  /** When an open hold lapses; `null` for declines. */
  readonly holdExpiresAt: string | null;
  readonly createdAt: string;
}
