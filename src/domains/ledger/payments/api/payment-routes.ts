/**
 * Payments over HTTP (decision 50): P2P payments, merchant QR codes and their payments, and
 * batches (`batch-routes.ts`). Every write takes an Idempotency-Key: a payment's transfer id is
 * derived from it, so a retry answers the first outcome (`Idempotent-Replayed: true`) and the
 * same key with another body is `idempotency_key_reused`.
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { MainstayError } from '../../../../errors/mainstay-error.ts';
import { requires } from '../../../../http/access-control.ts';
import { problemResponses } from '../../../../http/routes/problem-responses.ts';
import {
  answerWrite,
  IDEMPOTENCY_HEADER,
  json,
  ref,
  writeContextOf,
} from '../../../../http/routes/route-helpers.ts';
import { assertKnownCurrency } from '../../../../http/schemas/money-schema.ts';
import type { PaymentServices } from '../payment-services.ts';
import { registerBatchRoutes } from './batch-routes.ts';
import {
  BatchItemSchema,
  BatchItemsSchema,
  BatchSchema,
  CreateQrCodeBody,
  P2pPaymentBody,
  PaymentSchema,
  paymentToJson,
  QrCodeParams,
  QrCodeSchema,
  QrPaymentBody,
  qrCodeToJson,
} from './payment-schemas.ts';

const TAGS = ['payments'];

/** Registers every payment route on `app` (the ledger's scopes: `ledger:read`, `ledger:write`). */
export function registerPaymentRoutes(app: FastifyInstance, services: PaymentServices): void {
  for (const schema of [
    P2pPaymentBody,
    PaymentSchema,
    CreateQrCodeBody,
    QrCodeSchema,
    QrPaymentBody,
    BatchSchema,
    BatchItemSchema,
    BatchItemsSchema,
  ])
    app.addSchema(schema);
  registerP2p(app, services);
  registerCreateQrCode(app, services);
  registerGetQrCode(app, services);
  registerQrPayment(app, services);
  registerBatchRoutes(app, services.batches);
}

/** The transfer id of the P2P payment made under `idempotencyKey`. */
export function p2pPaymentId(idempotencyKey: string): string {
  return `p2p:${createHash('sha256').update(idempotencyKey).digest('base64url')}`;
}

/** `POST /v1/payments/p2p`: one payment between two customers' accounts, with its fee. */
function registerP2p(app: FastifyInstance, services: PaymentServices): void {
  app.post<{
    Body: {
      payerAccountId: string;
      payeeAccountId: string;
      amount: number;
      currency: string;
      reference?: string;
    };
  }>(
    '/v1/payments/p2p',
    {
      schema: {
        security: requires('ledger:write'),
        summary: 'Pay another customer (person to person), with the fee its rule sets',
        description:
          "On one shard the payment and its fee post together in one linked chain; across shards the answer is `pending` and the transfer completes in the background (posted or voided on both sides, the fee with it). A refusal (`insufficient_funds`, `currency_mismatch`, `credit_account_not_found`...) is the `status` of a 201 answer: nothing moved. An idempotency key names one payment per payer's shard.",
        tags: TAGS,
        headers: IDEMPOTENCY_HEADER,
        body: ref(P2pPaymentBody),
        response: { 201: json(PaymentSchema, 'The payment and its outcome.'), ...problemResponses },
      },
    },
    async (request, reply) => {
      assertKnownCurrency(request.body.currency);
      const context = writeContextOf(request);
      const { amount, ...body } = request.body;
      const written = await services.payments.pay(
        { ...body, id: p2pPaymentId(context.idempotencyKey), kind: 'p2p', amount: BigInt(amount) },
        context.token,
      );
      if (written.value.status === 'exists_with_different_fields')
        throw new MainstayError(
          'idempotency_key_reused',
          `idempotency key "${context.idempotencyKey}" was already used with a different payment`,
        );
      answerWrite(reply, written, 201);
      return paymentToJson(written.value);
    },
  );
}

/** `POST /v1/payments/qr-codes`: a merchant's QR code, its payload signed. */
function registerCreateQrCode(app: FastifyInstance, services: PaymentServices): void {
  app.post<{
    Body: {
      merchantAccountId: string;
      amount: number;
      currency: string;
      reference: string;
      expiresInSeconds?: number;
    };
  }>(
    '/v1/payments/qr-codes',
    {
      schema: {
        security: requires('ledger:write'),
        summary: 'Create a merchant-presented QR code (amount, reference, expiry), signed',
        tags: TAGS,
        headers: IDEMPOTENCY_HEADER,
        body: ref(CreateQrCodeBody),
        response: {
          201: json(QrCodeSchema, 'The code and the payload to show.'),
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      assertKnownCurrency(request.body.currency);
      const { amount, ...body } = request.body;
      const written = await services.qrCodes.create(
        { ...body, amount: BigInt(amount) },
        writeContextOf(request),
      );
      answerWrite(reply, written, 201);
      return qrCodeToJson(written.value);
    },
  );
}

/** `GET /v1/payments/qr-codes/:qrCodeId`: the code, and whether it is paid. */
function registerGetQrCode(app: FastifyInstance, services: PaymentServices): void {
  app.get<{ Params: { qrCodeId: string } }>(
    '/v1/payments/qr-codes/:qrCodeId',
    {
      schema: {
        security: requires('ledger:read'),
        summary: 'A QR code and whether it is paid',
        tags: TAGS,
        params: QrCodeParams,
        response: { 200: json(QrCodeSchema, 'The code.'), ...problemResponses },
      },
    },
    async (request) =>
      qrCodeToJson(await services.qrCodes.get(request.params.qrCodeId, request.consistencyToken)),
  );
}

/** `POST /v1/payments/qr-payments`: a payer confirms a QR payload: one payment. */
function registerQrPayment(app: FastifyInstance, services: PaymentServices): void {
  app.post<{ Body: { payerAccountId: string; payload: string } }>(
    '/v1/payments/qr-payments',
    {
      schema: {
        security: requires('ledger:write'),
        summary: 'Pay a merchant-presented QR code',
        description:
          'Refused with nothing written: `qr_payload_invalid` (altered or unknown), `qr_payload_expired`, `qr_code_already_paid` (paid under another key or by another payer). A retry with the same key answers the first payment. The fee of a `qr` rule may be borne by the merchant (`chargedTo: payee`).',
        tags: TAGS,
        headers: IDEMPOTENCY_HEADER,
        body: ref(QrPaymentBody),
        response: { 201: json(PaymentSchema, 'The payment and its outcome.'), ...problemResponses },
      },
    },
    async (request, reply) => {
      const written = await services.qrCodes.pay(request.body, writeContextOf(request));
      answerWrite(reply, written, 201);
      return paymentToJson(written.value);
    },
  );
}
