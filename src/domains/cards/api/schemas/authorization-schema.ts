import { type Static, Type } from '@sinclair/typebox';
import {
  AmountSchema,
  amountToJson,
  BalanceSchema,
  CurrencySchema,
} from '../../../../http/schemas/money-schema.ts';
import { LiteralUnion, Nullable } from '../../../../http/schemas/schema-helpers.ts';
import {
  AUTHORIZATION_STATUSES,
  type AuthorizationOutcome,
  type AuthorizationRequest,
  type AuthorizationStatus,
  DECIDERS,
  HOLD_STATES,
} from '../../core/authorization/authorization-types.ts';
import { REQUEST_TEXT_RULES } from '../../core/authorization/request-validation.ts';

export const ID_PATTERN = (prefix: string) => `^${prefix}_[0-9A-HJKMNP-TV-Z]{30}$`;

const STATUS_NAMES = Object.keys(AUTHORIZATION_STATUSES) as AuthorizationStatus[];

/** `POST /v1/authorizations`: one authorization request, as an acquirer sends it. */
export const AuthorizationRequestBody = Type.Object(
  {
    requestId: Type.String({
      minLength: 1,
      maxLength: REQUEST_TEXT_RULES.requestId.lengthMax,
      pattern: REQUEST_TEXT_RULES.requestId.pattern,
      description:
        'Client-chosen, unique per card: a retry with the same id returns the first outcome.',
    }),
    cardId: Type.String({ pattern: ID_PATTERN('card') }),
    amount: AmountSchema,
    currency: CurrencySchema,
    merchant: Type.Object(
      {
        id: Type.String({ minLength: 1, maxLength: REQUEST_TEXT_RULES.merchantId.lengthMax }),
        categoryCode: Type.String({ pattern: '^[0-9]{4}$', description: 'ISO 18245 MCC.' }),
      },
      { additionalProperties: false },
    ),
    merchantReference: Type.Optional(
      Type.String({ minLength: 1, maxLength: REQUEST_TEXT_RULES.merchantReference.lengthMax }),
    ),
  },
  { $id: 'AuthorizationRequest', additionalProperties: false },
);

/** The JSON body of `POST /v1/authorizations`. */
export type AuthorizationRequestJson = Static<typeof AuthorizationRequestBody>;

/** The domain request a JSON body asks for (amounts become bigint). */
export function authorizationRequestOf(body: AuthorizationRequestJson): AuthorizationRequest {
  return {
    requestId: body.requestId,
    cardId: body.cardId,
    amount: BigInt(body.amount),
    currency: body.currency,
    merchantId: body.merchant.id,
    merchantCategory: body.merchant.categoryCode,
    merchantReference: body.merchantReference ?? null,
  };
}

/** An authorization: the decision and what became of its hold. */
export const AuthorizationSchema = Type.Object(
  {
    id: Type.String(),
    requestId: Type.String(),
    cardId: Type.String(),
    accountId: Nullable(Type.String()),
    status: LiteralUnion(STATUS_NAMES),
    responseCode: Type.String({ description: 'ISO 8583 response code (field 39).' }),
    decidedBy: LiteralUnion(DECIDERS),
    amount: BalanceSchema,
    currency: CurrencySchema,
    merchant: Type.Object({ id: Type.String(), categoryCode: Type.String() }),
    merchantReference: Nullable(Type.String()),
    heldAmount: BalanceSchema,
    capturedAmount: BalanceSchema,
    reversedAmount: BalanceSchema,
    holdState: LiteralUnion(HOLD_STATES),
    holdExpiresAt: Nullable(Type.String({ format: 'date-time' })),
    createdAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'Authorization', additionalProperties: false },
);

/** `POST /v1/authorizations/{id}/capture` and `/reversal`: the amount (default: all that is held). */
export const HoldActionBody = Type.Object(
  { amount: Type.Optional(AmountSchema) },
  { $id: 'HoldAction', additionalProperties: false },
);

/** An authorization outcome in its JSON form. */
export function authorizationToJson(outcome: AuthorizationOutcome) {
  return {
    id: outcome.id,
    requestId: outcome.requestId,
    cardId: outcome.cardId,
    accountId: outcome.accountId,
    status: outcome.status,
    responseCode: outcome.responseCode,
    decidedBy: outcome.decidedBy,
    amount: amountToJson(outcome.amount),
    currency: outcome.currency,
    merchant: { id: outcome.merchantId, categoryCode: outcome.merchantCategory },
    merchantReference: outcome.merchantReference,
    heldAmount: amountToJson(outcome.heldAmount),
    capturedAmount: amountToJson(outcome.capturedAmount),
    reversedAmount: amountToJson(outcome.reversedAmount),
    holdState: outcome.holdState,
    holdExpiresAt: outcome.holdExpiresAt,
    createdAt: outcome.createdAt,
  };
}
