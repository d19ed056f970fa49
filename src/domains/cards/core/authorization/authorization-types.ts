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
  /**
   * For a stand-in advice the issuer would have decided otherwise: what the issuer would have
   * said. `null` (or absent) when the issuer decided, or agreed with stand-in.
   */
  readonly issuerStatus?: AuthorizationStatus | null;
  /** For such an advice: the part of the amount the issuer would not have granted. */
  readonly exposureAmount?: bigint;
}

/**
 * A decision stand-in processing took while the issuer path was unavailable, sent to the issuer
 * afterwards: the original request, the stand-in's status and the authorization id minted at
 * stand-in time (an `auth_…` id in the card's bucket), which the recorded authorization keeps.
 */
export interface AuthorizationAdvice extends AuthorizationRequest {
  readonly authorizationId: string;
  readonly standInStatus: AuthorizationStatus;
  /** When stand-in decided (RFC 3339, or a Date); an approved hold expires relative to it. */
  readonly decidedAt: string | Date;
}

/**
 * What applying one advice did:
 * - `matched`: stand-in approved and the issuer would have approved; the hold is created.
 * - `exposure`: stand-in approved, the issuer would have declined; the hold is still created
 *   (the money was promised) and the authorization is flagged with the issuer's status.
 * - `declined_recorded`: stand-in declined; recorded as a declined authorization.
 * - `duplicate_dropped`: the card already has an authorization with this request id and the
 *   same status (the advice was applied before, or the issuer gave the same answer); nothing
 *   changed.
 * - `answer_conflict`: the issuer had decided the same request otherwise (an attempt that timed
 *   out and committed later). The stand-in answer, the one the client received, becomes the
 *   book entry under the same id; if the issuer's hold was already captured or reversed,
 *   the issuer's stays. Either way the conflict is listed for review (decision 37).
 */
export const ADVICE_RESULTS = [
  'matched',
  'exposure',
  'declined_recorded',
  'duplicate_dropped',
  'answer_conflict',
] as const;
export type AdviceResult = (typeof ADVICE_RESULTS)[number];

/** The answer for one advice. */
export interface AdviceOutcome {
  readonly requestId: string;
  readonly authorizationId: string;
  readonly result: AdviceResult;
  /**
   * What the issuer would have decided at application time; for `duplicate_dropped`, the status
   * of the authorization already recorded (its issuer status if stand-in recorded it).
   */
  readonly issuerStatus: AuthorizationStatus;
  /** Minor units the issuer would not have granted (0 unless `exposure`). */
  readonly exposure: bigint;
}
