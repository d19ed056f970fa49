import { Type } from '@sinclair/typebox';
import {
  amountToJson,
  BalanceSchema,
  CurrencySchema,
} from '../../../../http/schemas/money-schema.ts';
import { LiteralUnion } from '../../../../http/schemas/schema-helpers.ts';
import {
  CARD_ACCOUNT_STATUSES,
  CARD_CURRENCIES,
  CARD_STATUSES,
  type Card,
  type CardAccount,
} from '../../core/accounts/card-account-types.ts';
import { ISSUED_CARD_BRANDS } from '../../core/card-number.ts';
import { ID_PATTERN } from './authorization-schema.ts';

/** `POST /v1/card-accounts`. */
export const CreateCardAccountBody = Type.Object(
  {
    currency: CurrencySchema,
    creditLimit: Type.Integer({
      minimum: 0,
      maximum: Number.MAX_SAFE_INTEGER,
      description: `Minor units, 0 to 2^53 - 1. Currencies offered: ${CARD_CURRENCIES.join(', ')}.`,
    }),
  },
  { $id: 'CreateCardAccount', additionalProperties: false },
);

/** `PATCH /v1/card-accounts/{accountId}`: a new credit limit in the account's currency. */
export const UpdateCardAccountBody = Type.Object(
  {
    currency: Type.String({
      pattern: '^[A-Z]{3}$',
      description:
        "ISO 4217 alphabetic code: the account's own currency (another is `currency_unsupported`), so a limit meant in one currency's minor units is never set in another's.",
    }),
    creditLimit: Type.Integer({
      minimum: 0,
      maximum: Number.MAX_SAFE_INTEGER,
      description:
        'The new credit limit, minor units, 0 to 2^53 - 1. It may be below what the account uses: available credit is then negative and new authorizations are declined until it is repaid.',
    }),
  },
  { $id: 'UpdateCardAccount', additionalProperties: false },
);

export const CardAccountSchema = Type.Object(
  {
    id: Type.String(),
    currency: CurrencySchema,
    creditLimit: BalanceSchema,
    heldAmount: BalanceSchema,
    postedAmount: BalanceSchema,
    availableCredit: Type.Integer({
      description:
        'creditLimit - heldAmount - postedAmount; negative only after stand-in exposure or after the limit was lowered below what the account uses.',
    }),
    status: LiteralUnion(CARD_ACCOUNT_STATUSES),
    createdAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'CardAccount', additionalProperties: false },
);

/** `POST /v1/card-accounts/{accountId}/cards`: every field optional. */
export const IssueCardBody = Type.Object(
  {
    brand: Type.Optional(LiteralUnion(ISSUED_CARD_BRANDS)),
    expiryMonth: Type.Optional(Type.Integer({ minimum: 1, maximum: 12 })),
    expiryYear: Type.Optional(Type.Integer({ minimum: 2000, maximum: 2099 })),
    velocityCountMax: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
    velocityWindowSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 31 * 24 * 3600 })),
  },
  { $id: 'IssueCard', additionalProperties: false },
);

export const CardSchema = Type.Object(
  {
    id: Type.String(),
    accountId: Type.String(),
    status: LiteralUnion(CARD_STATUSES),
    brand: LiteralUnion(ISSUED_CARD_BRANDS),
    last4: Type.String({ pattern: '^[0-9]{4}$' }),
    expiryMonth: Type.Integer(),
    expiryYear: Type.Integer(),
    velocityCountMax: Type.Integer(),
    velocityWindowSeconds: Type.Integer(),
    createdAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'Card', additionalProperties: false },
);

export const AccountIdParams = Type.Object(
  { accountId: Type.String({ pattern: ID_PATTERN('acct') }) },
  { additionalProperties: false },
);
export const CardIdParams = Type.Object(
  { cardId: Type.String({ pattern: ID_PATTERN('card') }) },
  { additionalProperties: false },
);

export function cardAccountToJson(account: CardAccount) {
  return {
    id: account.id,
    currency: account.currency,
    creditLimit: amountToJson(account.creditLimit),
    heldAmount: amountToJson(account.heldAmount),
    postedAmount: amountToJson(account.postedAmount),
    availableCredit: amountToJson(account.availableCredit),
    status: account.status,
    createdAt: account.createdAt,
  };
}

export function cardToJson(card: Card) {
  return { ...card };
}
