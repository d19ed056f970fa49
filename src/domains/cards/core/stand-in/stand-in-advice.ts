import {
  AUTHORIZATION_STATUSES,
  type AuthorizationAdvice,
  type AuthorizationOutcome,
  type AuthorizationRequest,
  type AuthorizationStatus,
} from '../authorization/authorization-types.ts';

/** The spool entry kind of a stand-in advice. */
export const ADVICE_KIND = 'stand_in_advice';

/**
 * A stand-in decision on its way to the issuer (an ISO 8583 advice): the request as the
 * network sent it and the outcome the cardholder was given, with the authorization id minted
 * at stand-in time. The issuer applies it later (`applyAdvices`), keyed by card and request id.
 */
export interface StandInAdvice {
  /** `<cardId>:<requestId>`: the spool's deduplication key. */
  readonly adviceId: string;
  readonly shardId: number;
  readonly request: AuthorizationRequest;
  readonly outcome: AuthorizationOutcome;
  /** Why stand-in decided so (never a card number). */
  readonly reason: string;
}

/** The advice id of a request: one advice per card and request id. */
export function adviceIdOf(request: Pick<AuthorizationRequest, 'cardId' | 'requestId'>): string {
  return `${request.cardId}:${request.requestId}`;
}

/** The JSON form kept in the spool: money as decimal strings, the outcome in full. */
interface AdvicePayload {
  readonly request: Omit<AuthorizationRequest, 'amount'> & { readonly amount: string };
  readonly outcome: Omit<
    AuthorizationOutcome,
    'amount' | 'heldAmount' | 'capturedAmount' | 'reversedAmount'
  > & {
    readonly amount: string;
    readonly heldAmount: string;
    readonly capturedAmount: string;
    readonly reversedAmount: string;
  };
  readonly reason: string;
}

/** The spool payload of an advice (JSON; bigint as decimal strings). */
export function encodeAdvice(advice: StandInAdvice): AdvicePayload {
  const { request, outcome } = advice;
  return {
    request: {
      requestId: request.requestId,
      cardId: request.cardId,
      amount: request.amount.toString(),
      currency: request.currency,
      merchantId: request.merchantId,
      merchantCategory: request.merchantCategory,
      merchantReference: request.merchantReference ?? null,
    },
    outcome: {
      ...outcome,
      amount: outcome.amount.toString(),
      heldAmount: outcome.heldAmount.toString(),
      capturedAmount: outcome.capturedAmount.toString(),
      reversedAmount: outcome.reversedAmount.toString(),
    },
    reason: advice.reason,
  };
}

/** Reads an advice back from a spool entry; throws an `Error` when the payload is not one. */
export function decodeAdvice(entry: {
  readonly id: string;
  readonly shardId: number;
  readonly payload: unknown;
}): StandInAdvice {
  const payload = entry.payload as AdvicePayload | null;
  const status = payload?.outcome?.status as AuthorizationStatus | undefined;
  if (!payload?.request || !payload.outcome || !status || !(status in AUTHORIZATION_STATUSES)) {
    throw new Error(`spool entry ${entry.id} is not a stand-in advice`);
  }
  const { request, outcome } = payload;
  return {
    adviceId: entry.id,
    shardId: entry.shardId,
    request: { ...request, amount: BigInt(request.amount) },
    outcome: {
      ...outcome,
      amount: BigInt(outcome.amount),
      heldAmount: BigInt(outcome.heldAmount),
      capturedAmount: BigInt(outcome.capturedAmount),
      reversedAmount: BigInt(outcome.reversedAmount),
    },
    reason: payload.reason,
  };
}

/** The advice in the engine's vocabulary: the request plus the stand-in decision. */
export function toAuthorizationAdvice(advice: StandInAdvice): AuthorizationAdvice {
  return {
    ...advice.request,
    merchantReference: advice.request.merchantReference ?? null,
    authorizationId: advice.outcome.id,
    standInStatus: advice.outcome.status,
    decidedAt: advice.outcome.createdAt,
  };
}
