/**
 * The HTTP shapes of customers, KYC and the review queue. They bound sizes and types; the domain
 * decides what only it knows (E.164, check digits, birth dates, Luhn, document bytes) with codes
 * of its own, so a schema error here is `invalid_request` and a rule broken is its own code.
 */
import { Type } from '@sinclair/typebox';
import { PASSWORD_LENGTH_MAX } from '../../core/staff/passwords.ts';
import {
  DOCUMENT_BYTES_MAX,
  DOCUMENT_KINDS,
  DOCUMENT_MEDIA_TYPES,
  FULL_NAME_LENGTH_MAX,
  ID_TYPES,
} from '../core/customer-input.ts';

const literals = (values: readonly string[]) =>
  Type.Union(values.map((value) => Type.Literal(value)));

const Phone = Type.String({
  minLength: 1,
  maxLength: 16,
  description: 'E.164: + and 8 to 15 digits, e.g. +8613812345678.',
});
const Password = Type.String({
  minLength: 1,
  maxLength: PASSWORD_LENGTH_MAX,
  description: '12 to 256 characters.',
});
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) =>
  Type.Union([schema, Type.Null()]);
const DateTime = Type.String({ format: 'date-time' });

export const RegisterCustomerBody = Type.Object(
  { phone: Phone, password: Password },
  { $id: 'RegisterCustomer', additionalProperties: false },
);

export const VerifyPhoneBody = Type.Object(
  {
    phone: Phone,
    code: Type.String({ minLength: 1, maxLength: 16, description: 'The 6-digit code.' }),
  },
  { $id: 'VerifyPhone', additionalProperties: false },
);

export const CustomerLoginBody = Type.Object(
  { phone: Phone, password: Password },
  { $id: 'CustomerLogin', additionalProperties: false },
);

export const RealNameBody = Type.Object(
  {
    fullName: Type.String({ minLength: 1, maxLength: FULL_NAME_LENGTH_MAX + 20 }),
    idNumber: Type.String({ minLength: 1, maxLength: 64 }),
    idType: literals(ID_TYPES),
  },
  { $id: 'RealName', additionalProperties: false },
);

export const BankCardBody = Type.Object(
  { cardNumber: Type.String({ minLength: 1, maxLength: 40, description: '12 to 19 digits.' }) },
  { $id: 'BankCard', additionalProperties: false },
);

export const DocumentBody = Type.Object(
  {
    kind: literals(DOCUMENT_KINDS),
    mediaType: literals(DOCUMENT_MEDIA_TYPES),
    contentBase64: Type.String({
      minLength: 1,
      description: `Base64 (RFC 4648, padded), at most ${DOCUMENT_BYTES_MAX} bytes once decoded.`,
    }),
  },
  { $id: 'KycDocument', additionalProperties: false },
);

export const RejectBody = Type.Object(
  { reason: Type.String({ minLength: 1, maxLength: 1000 }) },
  { $id: 'KycReject', additionalProperties: false },
);

export const CustomerSchema = Type.Object(
  {
    id: Type.String({ pattern: '^cus_[0-9A-HJKMNP-TV-Z]{30}$' }),
    phone: Type.String({ description: 'Masked: +86138****5678.' }),
    kycLevel: Type.Integer({ minimum: 0, maximum: 3 }),
    phoneVerified: Type.Boolean(),
    realName: Nullable(
      Type.Object(
        {
          fullName: Type.String({ description: 'Masked: 张*.' }),
          idType: literals(ID_TYPES),
          idNumber: Type.String({ description: 'Masked: 1101**********4573.' }),
        },
        { additionalProperties: false },
      ),
    ),
    bankCard: Nullable(
      Type.Object(
        { number: Type.String({ description: '**** 1234' }) },
        { additionalProperties: false },
      ),
    ),
    review: Type.Object(
      {
        status: literals(['none', 'pending', 'approved', 'rejected']),
        reason: Nullable(Type.String()),
        requestedAt: Nullable(DateTime),
        reviewedAt: Nullable(DateTime),
      },
      { additionalProperties: false },
    ),
    paymentUserId: Nullable(
      Type.String({ description: 'The payment user this customer may act on.' }),
    ),
    createdAt: DateTime,
  },
  { $id: 'Customer', additionalProperties: false },
);

export const RegistrationSchema = Type.Object(
  {
    status: Type.Literal('code_sent'),
    phone: Type.String({ description: 'Masked.' }),
    expiresInSeconds: Type.Integer(),
  },
  { $id: 'CustomerRegistration', additionalProperties: false },
);

export const PhoneVerifiedSchema = Type.Object(
  { status: Type.Literal('phone_verified'), customer: Type.Ref(CustomerSchema) },
  { $id: 'PhoneVerified', additionalProperties: false },
);

export const CustomerSessionSchema = Type.Object(
  {
    token: Type.String({ description: 'Send as Authorization: Bearer <token>. Shown once.' }),
    expiresAt: DateTime,
    customer: Type.Ref(CustomerSchema),
  },
  { $id: 'CustomerSession', additionalProperties: false },
);

export const DocumentAnswerSchema = Type.Object(
  {
    document: Type.Object(
      {
        id: Type.String(),
        kind: literals(DOCUMENT_KINDS),
        mediaType: Type.String(),
        sizeBytes: Type.Integer(),
        createdAt: DateTime,
      },
      { additionalProperties: false },
    ),
    customer: Type.Ref(CustomerSchema),
  },
  { $id: 'KycDocumentAnswer', additionalProperties: false },
);

export const ReviewDocumentsSchema = Type.Object(
  {
    data: Type.Array(
      Type.Object(
        {
          id: Type.String(),
          kind: literals(DOCUMENT_KINDS),
          mediaType: Type.String(),
          sizeBytes: Type.Integer(),
          createdAt: DateTime,
        },
        { additionalProperties: false },
      ),
    ),
  },
  { $id: 'KycReviewDocuments', additionalProperties: false },
);

export const CustomerPageSchema = Type.Object(
  {
    data: Type.Array(Type.Ref(CustomerSchema)),
    hasMore: Type.Boolean(),
    nextCursor: Nullable(Type.String()),
  },
  { $id: 'CustomerPage', additionalProperties: false },
);

export const OutboxSchema = Type.Object(
  {
    data: Type.Array(
      Type.Object(
        { id: Type.String(), body: Type.String(), createdAt: DateTime },
        { additionalProperties: false },
      ),
    ),
  },
  { $id: 'IdentityOutbox', additionalProperties: false },
);

export const ReviewQuery = Type.Object(
  {
    status: Type.Optional(literals(['pending', 'approved', 'rejected'])),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
    startingAfter: Type.Optional(Type.String({ maxLength: 64 })),
  },
  { additionalProperties: false },
);

export const OutboxQuery = Type.Object({ phone: Phone }, { additionalProperties: false });

export const CustomerIdParams = Type.Object(
  { customerId: Type.String({ maxLength: 64 }) },
  { additionalProperties: false },
);

/** Every shared schema of these routes, to register once. */
export const CUSTOMER_SHARED_SCHEMAS = [
  RegisterCustomerBody,
  VerifyPhoneBody,
  CustomerLoginBody,
  RealNameBody,
  BankCardBody,
  DocumentBody,
  RejectBody,
  CustomerSchema,
  RegistrationSchema,
  PhoneVerifiedSchema,
  CustomerSessionSchema,
  DocumentAnswerSchema,
  CustomerPageSchema,
  ReviewDocumentsSchema,
  OutboxSchema,
];
