/**
 * Schemas of the card binding endpoints: request bodies (validated without type coercion,
 * unknown fields rejected), path and query parameters, and the shared response schemas, each
 * checked at compile time against the domain type it describes.
 */
import { type Static, Type } from '@sinclair/typebox';
import { IdempotencyKeyHeaders } from '../../../../http/idempotency-header.ts';
import {
  assertType,
  type DeepMutable,
  type Equal,
  LiteralUnion,
  Nullable,
} from '../../../../http/schemas/schema-helpers.ts';
import {
  BOUND_CARD_ID_PREFIX,
  BOUND_CARD_STATUSES,
  type BoundCard,
  type BoundCardPage,
  CARD_PAGE_SIZE_DEFAULT,
  CARD_PAGE_SIZE_MAX,
  type CardToBind,
  EMAIL_LENGTH_MAX,
  FULL_NAME_LENGTH_MAX,
  HOLDER_NAME_LENGTH_MAX,
  type NewPaymentUser,
  type PaymentUser,
  USER_ID_PREFIX,
} from '../../core/binding/binding-types.ts';
import { CARD_BRANDS, CARD_NUMBER_PATTERN } from '../../core/card-number.ts';

/** An entity id of one type: the prefix, then 30 Crockford base32 characters. */
function entityIdPattern(prefix: string): string {
  return `^${prefix}_[0-9A-HJKMNP-TV-Z]{30}$`;
}

const UserId = Type.String({
  pattern: entityIdPattern(USER_ID_PREFIX),
  description: 'A payment user id, `usr_…`.',
});
const CardId = Type.String({
  pattern: entityIdPattern(BOUND_CARD_ID_PREFIX),
  description: 'A bound card id, `bcard_…`.',
});
/** Expiry years a card can carry (the table's bound; the domain checks it against today). */
const EXPIRY_YEAR_MIN = 2000;
const EXPIRY_YEAR_MAX = 2199;

/** A payment user, as every user endpoint returns it. */
export const PaymentUserSchema = Type.Object(
  {
    id: UserId,
    fullName: Type.String(),
    email: Nullable(Type.String()),
    createdAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'PaymentUser', additionalProperties: false },
);

/** A bound card: brand, last four digits and expiry, never the number. */
export const BoundCardSchema = Type.Object(
  {
    id: CardId,
    userId: UserId,
    brand: LiteralUnion(CARD_BRANDS),
    last4: Type.String({ pattern: '^[0-9]{4}$' }),
    expiryMonth: Type.Integer({ minimum: 1, maximum: 12 }),
    expiryYear: Type.Integer({ minimum: EXPIRY_YEAR_MIN, maximum: EXPIRY_YEAR_MAX }),
    isDefault: Type.Boolean({ description: 'Exactly one active card of a user is the default.' }),
    status: LiteralUnion(BOUND_CARD_STATUSES, {
      description: '`unbound` cards are kept for audit and no longer listed.',
    }),
    createdAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'BoundCard', additionalProperties: false },
);

/** A page of a user's active cards, newest first. */
export const BoundCardListSchema = Type.Object(
  {
    data: Type.Array(Type.Ref(BoundCardSchema)),
    hasMore: Type.Boolean(),
    nextCursor: Nullable(
      Type.String({ description: 'Pass as `startingAfter` for the next page.' }),
    ),
  },
  { $id: 'BoundCardList', additionalProperties: false },
);

/** `POST /v1/users` body. */
export const CreateUserBodySchema = Type.Object(
  {
    fullName: Type.String({ minLength: 1, maxLength: FULL_NAME_LENGTH_MAX }),
    email: Type.Optional(Type.String({ format: 'email', maxLength: EMAIL_LENGTH_MAX })),
  },
  { additionalProperties: false },
);

/** `POST /v1/users/{userId}/cards` body. */
export const BindCardBodySchema = Type.Object(
  {
    cardNumber: Type.String({
      pattern: CARD_NUMBER_PATTERN,
      description:
        'The full card number as a string of 12 to 19 digits (no spaces). Checked (Luhn, ' +
        'brand), sealed in the vault and never returned, echoed or logged.',
    }),
    expiryMonth: Type.Integer({ minimum: 1, maximum: 12 }),
    expiryYear: Type.Integer({ minimum: EXPIRY_YEAR_MIN, maximum: EXPIRY_YEAR_MAX }),
    holderName: Type.Optional(Type.String({ minLength: 1, maxLength: HOLDER_NAME_LENGTH_MAX })),
  },
  { additionalProperties: false },
);

/** Path parameters. */
export const UserParamsSchema = Type.Object({ userId: UserId }, { additionalProperties: false });
export const CardParamsSchema = Type.Object(
  { userId: UserId, cardId: CardId },
  { additionalProperties: false },
);

/** `GET /v1/users/{userId}/cards` query. */
export const CardListQuerySchema = Type.Object(
  {
    limit: Type.Optional(
      Type.Integer({ minimum: 1, maximum: CARD_PAGE_SIZE_MAX, default: CARD_PAGE_SIZE_DEFAULT }),
    ),
    startingAfter: Type.Optional(CardId),
  },
  { additionalProperties: false },
);

/** The write endpoints' `Idempotency-Key` header, required (one schema for every write). */
export const IdempotencyHeadersSchema = IdempotencyKeyHeaders;

/** The validated request parts, typed from the same schemas Fastify validates with. */
export type CreateUserBody = Static<typeof CreateUserBodySchema>;
/** A bind request's body; holds the card number, so it is handed to the domain and dropped. */
export type BindCardBody = Static<typeof BindCardBodySchema>;
/** `/v1/users/{userId}` parameters. */
export type UserParams = Static<typeof UserParamsSchema>;
/** `/v1/users/{userId}/cards/{cardId}` parameters. */
export type CardParams = Static<typeof CardParamsSchema>;
/** The list's query string (Fastify coerces query strings, so `limit` arrives as a number). */
export type CardListQuery = Static<typeof CardListQuerySchema>;

/** The shared schemas the routes refer to by `$id`. */
export const BINDING_SHARED_SCHEMAS = [
  PaymentUserSchema,
  BoundCardSchema,
  BoundCardListSchema,
] as const;

assertType<Equal<Static<typeof PaymentUserSchema>, DeepMutable<PaymentUser>>>(true);
assertType<Equal<Static<typeof BoundCardSchema>, DeepMutable<BoundCard>>>(true);
assertType<Equal<Static<typeof BoundCardListSchema>, DeepMutable<BoundCardPage>>>(true);
assertType<Equal<CreateUserBody, DeepMutable<NewPaymentUser>>>(true);
assertType<Equal<BindCardBody, DeepMutable<CardToBind>>>(true);
