import { isEntityId, taggedBucket } from '../../../../data/entity-id.ts';
import { MainstayError } from '../../../../errors/mainstay-error.ts';
import { authorizationIdOf } from './authorization-id.ts';
import {
  AUTHORIZATION_STATUSES,
  type AuthorizationOutcome,
  type AuthorizationRequest,
  type AuthorizationStatus,
} from './authorization-types.ts';

/** The largest amount an authorization may carry: 2^53 - 1, so it survives JSON. */
export const AMOUNT_MAX = BigInt(Number.MAX_SAFE_INTEGER);
/**
 * The one rule for each client-chosen text of a request, named once: the HTTP schema is built
 * from these and the domain checks them again (the table's wider CHECK, 255, is only a storage
 * bound kept by the frozen migrations).
 */
export const REQUEST_TEXT_RULES = {
  /** Printable ASCII without spaces, so it can sit in logs and reconciliation files. */
  requestId: { lengthMax: 64, pattern: '^[\\x21-\\x7e]+$' },
  merchantId: { lengthMax: 64 },
  merchantReference: { lengthMax: 64 },
} as const;

const REQUEST_ID_PATTERN = new RegExp(REQUEST_TEXT_RULES.requestId.pattern);

/** Whether `amount` is a bigint in 1 .. 2^53 - 1. */
export function isValidAmount(amount: unknown): amount is bigint {
  return typeof amount === 'bigint' && amount > 0n && amount <= AMOUNT_MAX;
}

function isClientText(value: unknown, lengthMax: number): value is string {
  return typeof value === 'string' && value.length >= 1 && value.length <= lengthMax;
}

/**
 * Checks the fields the entry point validates already (request id, currency, merchant): a bad
 * one here is a programming error in the caller, so it throws `invalid_request` and nothing is
 * queued. Amount and card id are business outcomes instead (see {@link rejectionOf}).
 */
export function assertWellFormed(request: AuthorizationRequest): void {
  const errors: { pointer: string; detail: string }[] = [];
  const { requestId, merchantId, merchantReference } = REQUEST_TEXT_RULES;
  if (
    !isClientText(request.requestId, requestId.lengthMax) ||
    !REQUEST_ID_PATTERN.test(request.requestId)
  )
    errors.push({
      pointer: '/requestId',
      detail: `must be 1 to ${requestId.lengthMax} printable ASCII characters`,
    });
  if (typeof request.cardId !== 'string')
    errors.push({ pointer: '/cardId', detail: 'must be a string' });
  if (typeof request.currency !== 'string' || !/^[A-Z]{3}$/.test(request.currency))
    errors.push({ pointer: '/currency', detail: 'must be an ISO 4217 alphabetic code' });
  if (!isClientText(request.merchantId, merchantId.lengthMax))
    errors.push({
      pointer: '/merchantId',
      detail: `must be 1 to ${merchantId.lengthMax} characters`,
    });
  if (typeof request.merchantCategory !== 'string' || !/^[0-9]{4}$/.test(request.merchantCategory))
    errors.push({ pointer: '/merchantCategory', detail: 'must be four digits (ISO 18245)' });
  const reference = request.merchantReference;
  if (
    reference !== undefined &&
    reference !== null &&
    !isClientText(reference, merchantReference.lengthMax)
  )
    errors.push({
      pointer: '/merchantReference',
      detail: `must be 1 to ${merchantReference.lengthMax} characters or null`,
    });
  if (errors.length > 0) {
    throw new MainstayError('invalid_request', 'the authorization request is malformed', {
      errors,
    });
  }
}

/**
 * The status a request is declined with before it reaches a shard, or `null` when it must go
 * to the shard: an amount outside 1 .. 2^53 - 1 is `invalid_amount`, a card id that is not a
 * `card_…` id of this fleet is `unknown_card`. Such declines are never written (there may be
 * no shard to write them to) and depend on nothing stored, so a retry gets the same answer.
 */
export function rejectionOf(
  request: AuthorizationRequest,
  bucketCount: number,
): AuthorizationStatus | null {
  if (!isValidAmount(request.amount)) return 'invalid_amount';
  const bucket = isEntityId(request.cardId, 'card') ? taggedBucket(request.cardId) : null;
  if (bucket === null || bucket >= bucketCount) return 'unknown_card';
  return null;
}

/** What only the decision adds to a request to make a fresh outcome. */
export interface FreshDecision {
  readonly id: string;
  readonly accountId: string | null;
  readonly status: AuthorizationStatus;
  readonly decidedBy: AuthorizationOutcome['decidedBy'];
  /** When an approved hold lapses (ignored for declines). */
  readonly holdExpiresAt: string | null;
  readonly createdAt: string;
}

/**
 * The outcome of a decision just taken (by the issuer's batch, by stand-in, or without a write),
 * without the issuer's reconciliation fields (see {@link issuerOutcome}):
 * an approval holds the whole amount until `holdExpiresAt`, a decline holds nothing. Equal,
 * field for field, to what a later read of the stored row shows.
 */
export function freshOutcome(
  request: AuthorizationRequest,
  decision: FreshDecision,
): AuthorizationOutcome {
  return outcomeLiteral(request, decision, decision.decidedBy);
}

/** The fields every fresh outcome has, as one mutable literal (no spread: a hot path). */
function outcomeLiteral(
  request: AuthorizationRequest,
  decision: Omit<FreshDecision, 'decidedBy'>,
  decidedBy: AuthorizationOutcome['decidedBy'],
): { -readonly [K in keyof AuthorizationOutcome]: AuthorizationOutcome[K] } {
  const approved = decision.status === 'approved';
  return {
    id: decision.id,
    requestId: request.requestId,
    cardId: request.cardId,
    accountId: decision.accountId,
    status: decision.status,
    responseCode: AUTHORIZATION_STATUSES[decision.status],
    decidedBy,
    amount: typeof request.amount === 'bigint' ? request.amount : 0n,
    currency: request.currency,
    merchantId: request.merchantId,
    merchantCategory: request.merchantCategory,
    merchantReference: request.merchantReference ?? null,
    heldAmount: approved ? request.amount : 0n,
    capturedAmount: 0n,
    reversedAmount: 0n,
    holdState: approved ? 'open' : 'none',
    holdExpiresAt: approved ? decision.holdExpiresAt : null,
    createdAt: decision.createdAt,
  };
}

/**
 * {@link freshOutcome} of an issuer decision, as its stored row reads back: with the issuer's
 * own reconciliation fields (no stand-in flag, no exposure).
 */
export function issuerOutcome(
  request: AuthorizationRequest,
  decision: Omit<FreshDecision, 'decidedBy'>,
): AuthorizationOutcome {
  const outcome = outcomeLiteral(request, decision, 'issuer');
  outcome.issuerStatus = null;
  outcome.exposureAmount = 0n;
  return outcome;
}

/** The outcome of a request declined before any write (see {@link rejectionOf}). */
export function unwrittenOutcome(
  request: AuthorizationRequest,
  status: AuthorizationStatus,
  bucketCount: number,
): AuthorizationOutcome {
  const bucket = isEntityId(request.cardId, 'card') ? taggedBucket(request.cardId) : null;
  // A card id of no shard has no bucket of its own: bucket 0 keeps the id the same on a retry.
  const usable = bucket !== null && bucket < bucketCount ? bucket : 0;
  return issuerOutcome(request, {
    id: authorizationIdOf(String(request.cardId), request.requestId, usable),
    accountId: null,
    status,
    holdExpiresAt: null,
    createdAt: new Date().toISOString(),
  });
}

/** The fields a request id is bound to: a retry must repeat them exactly. */
export function requestFingerprintFields(request: AuthorizationRequest): Record<string, unknown> {
  return {
    cardId: request.cardId,
    amount: request.amount,
    currency: request.currency,
    merchantId: request.merchantId,
    merchantCategory: request.merchantCategory,
    merchantReference: request.merchantReference ?? null,
  };
}

/**
 * Whether two requests with the same card and request id repeat the same fields (those of
 * {@link requestFingerprintFields}): the engine folds such repeats inside a batch without
 * hashing anything.
 */
export function sameRequestFields(a: AuthorizationRequest, b: AuthorizationRequest): boolean {
  return (
    a.amount === b.amount &&
    a.currency === b.currency &&
    a.merchantId === b.merchantId &&
    a.merchantCategory === b.merchantCategory &&
    (a.merchantReference ?? null) === (b.merchantReference ?? null)
  );
}
