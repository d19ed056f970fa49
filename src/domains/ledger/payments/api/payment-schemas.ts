/**
 * The payments' wire shapes (decision 50, API style): money as integer minor units, ids with a
 * type prefix, a payment's outcome as a status. One definition gives the validator, the OpenAPI
 * document and the types.
 */
import { Type } from '@sinclair/typebox';
import {
  AmountSchema,
  amountToJson,
  CurrencySchema,
} from '../../../../http/schemas/money-schema.ts';
import { LiteralUnion, Nullable } from '../../../../http/schemas/schema-helpers.ts';
import { LEDGER_STATUSES } from '../../core/ledger-types.ts';
import { BATCH_LINE_ERRORS } from '../core/batch-file.ts';
import { FEE_BEARERS, PAYMENT_KINDS } from '../core/fee-rules.ts';
import type { BatchView } from '../core/payment-batches.ts';
import type { PaymentOutcome } from '../core/payment-transfers.ts';
import { QR_EXPIRY_SECONDS_MAX, QR_EXPIRY_SECONDS_MIN, type QrCode } from '../core/qr-codes.ts';
import { QR_PAYLOAD_LENGTH_MAX } from '../core/qr-payload.ts';
import type { BatchItemRow } from '../store/batch-store.ts';

const AccountId = Type.String({ pattern: '^lacc_[0-9A-HJKMNP-TV-Z]{30}$' });
const Reference = Type.String({ minLength: 1, maxLength: 255 });

export const P2pPaymentBody = Type.Object(
  {
    payerAccountId: AccountId,
    payeeAccountId: AccountId,
    amount: AmountSchema,
    currency: CurrencySchema,
    reference: Type.Optional(Reference),
  },
  { $id: 'P2pPayment', additionalProperties: false },
);

export const PaymentSchema = Type.Object(
  {
    id: Type.String({
      description: "The payment's transfer id (derived from the idempotency key).",
    }),
    kind: LiteralUnion(PAYMENT_KINDS),
    status: LiteralUnion(LEDGER_STATUSES, {
      description:
        '`posted`: done; `pending`: accepted across shards, completing (posted or voided on both sides, its fee with it); any other: refused, nothing moved.',
    }),
    route: LiteralUnion(['same_shard', 'cross_shard'] as const),
    payerAccountId: Type.String(),
    payeeAccountId: Type.String(),
    amount: AmountSchema,
    credited: Type.Integer({
      description: 'What the payee is credited: the amount less a fee it bears.',
    }),
    fee: Type.Integer({ minimum: 0 }),
    feeChargedTo: LiteralUnion(FEE_BEARERS),
    currency: CurrencySchema,
    reference: Nullable(Type.String()),
    qrCodeId: Type.Optional(Type.String()),
  },
  { $id: 'Payment', additionalProperties: false },
);

export const CreateQrCodeBody = Type.Object(
  {
    merchantAccountId: AccountId,
    amount: AmountSchema,
    currency: CurrencySchema,
    reference: Reference,
    expiresInSeconds: Type.Optional(
      Type.Integer({
        minimum: QR_EXPIRY_SECONDS_MIN,
        maximum: QR_EXPIRY_SECONDS_MAX,
        default: 900,
      }),
    ),
  },
  { $id: 'CreateQrCode', additionalProperties: false },
);

export const QrCodeSchema = Type.Object(
  {
    id: Type.String(),
    merchantAccountId: Type.String(),
    amount: AmountSchema,
    currency: CurrencySchema,
    reference: Type.String(),
    expiresAt: Type.String({ format: 'date-time' }),
    createdAt: Type.String({ format: 'date-time' }),
    payload: Type.String({ description: 'The signed payload to show as a QR code.' }),
    paid: Type.Boolean(),
    paymentId: Nullable(Type.String()),
  },
  { $id: 'QrCode', additionalProperties: false },
);

export const QrPaymentBody = Type.Object(
  {
    payerAccountId: AccountId,
    payload: Type.String({ minLength: 1, maxLength: QR_PAYLOAD_LENGTH_MAX }),
  },
  { $id: 'QrPayment', additionalProperties: false },
);

export const BatchSchema = Type.Object(
  {
    id: Type.String(),
    format: LiteralUnion(['csv', 'jsonl'] as const),
    state: LiteralUnion(['processing', 'completed'] as const),
    lineCount: Type.Integer(),
    itemCount: Type.Integer({ description: 'Lines read as items (bad lines are not counted).' }),
    counts: Type.Record(Type.String(), Type.Integer(), {
      description: 'Lines by status: a ledger status, a line error code, or `waiting`.',
    }),
    createdAt: Type.String({ format: 'date-time' }),
    completedAt: Nullable(Type.String({ format: 'date-time' })),
  },
  { $id: 'PaymentBatch', additionalProperties: false },
);

export const BatchItemSchema = Type.Object(
  {
    line: Type.Integer({ minimum: 1 }),
    state: LiteralUnion(['waiting', 'done'] as const),
    status: Nullable(
      Type.String({
        description: `A ledger status, or why the line is not an item: ${BATCH_LINE_ERRORS.join(', ')}, invalid_request, payment_fee_exceeds_amount.`,
      }),
    ),
    detail: Nullable(Type.String()),
    debitAccountId: Nullable(Type.String()),
    creditAccountId: Nullable(Type.String()),
    amount: Nullable(Type.Integer()),
    currency: Nullable(Type.String()),
    reference: Nullable(Type.String()),
    fee: Nullable(Type.Integer()),
    replayed: Type.Boolean({
      description: 'Applied before a resume, answered from its first outcome.',
    }),
  },
  { $id: 'PaymentBatchItem', additionalProperties: false },
);

export const BatchItemsSchema = Type.Object(
  {
    data: Type.Array(Type.Ref('PaymentBatchItem')),
    hasMore: Type.Boolean(),
    nextCursor: Nullable(Type.String()),
  },
  { $id: 'PaymentBatchItems', additionalProperties: false },
);

export const QrCodeParams = Type.Object(
  { qrCodeId: Type.String({ maxLength: 64 }) },
  { additionalProperties: false },
);
export const BatchParams = Type.Object(
  { batchId: Type.String({ maxLength: 64 }) },
  { additionalProperties: false },
);
export const BatchItemsQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
    startingAfter: Type.Optional(Type.String({ maxLength: 12 })),
  },
  { additionalProperties: false },
);

/** A payment as answered. */
export function paymentToJson(payment: PaymentOutcome & { readonly qrCodeId?: string }) {
  return {
    id: payment.id,
    kind: payment.kind,
    status: payment.status,
    route: payment.route,
    payerAccountId: payment.payerAccountId,
    payeeAccountId: payment.payeeAccountId,
    amount: amountToJson(payment.amount),
    credited: amountToJson(payment.credited),
    fee: amountToJson(payment.fee),
    feeChargedTo: payment.feeChargedTo,
    currency: payment.currency,
    reference: payment.reference,
    ...(payment.qrCodeId === undefined ? {} : { qrCodeId: payment.qrCodeId }),
  };
}

/** A QR code as answered. */
export function qrCodeToJson(qr: QrCode) {
  return {
    id: qr.id,
    merchantAccountId: qr.merchantAccountId,
    amount: amountToJson(qr.amount),
    currency: qr.currency,
    reference: qr.reference,
    expiresAt: qr.expiresAt.toISOString(),
    createdAt: qr.createdAt.toISOString(),
    payload: qr.payload,
    paid: qr.paid,
    paymentId: qr.paymentId,
  };
}

/** A batch as answered. */
export function batchToJson(batch: BatchView) {
  return {
    id: batch.id,
    format: batch.format,
    state: batch.state,
    lineCount: batch.lineCount,
    itemCount: batch.itemCount,
    counts: batch.counts,
    createdAt: batch.createdAt.toISOString(),
    completedAt: batch.completedAt === null ? null : batch.completedAt.toISOString(),
  };
}

/** A batch's line as answered. */
export function batchItemToJson(item: BatchItemRow) {
  return {
    line: item.line,
    state: item.state,
    status: item.status,
    detail: item.detail,
    debitAccountId: item.debitAccountId,
    creditAccountId: item.creditAccountId,
    amount: item.amount === null ? null : amountToJson(item.amount),
    currency: item.currency,
    reference: item.reference,
    fee: item.fee === null ? null : amountToJson(item.fee),
    replayed: item.replayed,
  };
}
