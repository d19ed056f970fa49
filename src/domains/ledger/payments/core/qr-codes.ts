import { createHash } from 'node:crypto';
import { isEntityId, newEntityId, taggedBucket } from '../../../../data/entity-id.ts';
import { fingerprintOf, onceInTransaction } from '../../../../data/idempotency.ts';
import type { Queryable, Router } from '../../../../data/router.ts';
import type { WriteAnswer, WriteContext } from '../../../../data/write-contract.ts';
import { type FieldError, MainstayError } from '../../../../errors/mainstay-error.ts';
import type { PurposeKeys } from '../../../../secrets/secrets-port.ts';
import { isApplied } from '../../core/ledger-types.ts';
import { readAccountBrief } from '../store/payment-fees-store.ts';
import {
  claimQrCode,
  endQrClaim,
  insertQrCode,
  type QrCodeRow,
  readQrCode,
} from '../store/qr-store.ts';
import { paymentError } from './payment-errors.ts';
import type { PaymentOutcome, PaymentTransfers } from './payment-transfers.ts';
import { type QrPayloadFields, signQrPayload, verifyQrPayload } from './qr-payload.ts';

/** How long a QR code stays payable: bounds and default, in seconds. */
export const QR_EXPIRY_SECONDS_MIN = 30;
export const QR_EXPIRY_SECONDS_MAX = 86_400;
export const QR_EXPIRY_SECONDS_DEFAULT = 900;
const REFERENCE_LENGTH_MAX = 255;
// biome-ignore lint/suspicious/noControlCharactersInRegex: U+0000 is what is searched for.
const UNSTORABLE = /[\u0000\p{Cs}]/u;

/** What a merchant asks for. */
export interface QrCodeInput {
  readonly merchantAccountId: string;
  readonly amount: bigint;
  readonly currency: string;
  readonly reference: string;
  readonly expiresInSeconds?: number;
}

/** A QR code as answered: its fields, its signed payload, and whether it is paid. */
export interface QrCode {
  readonly id: string;
  readonly merchantAccountId: string;
  readonly amount: bigint;
  readonly currency: string;
  readonly reference: string;
  readonly expiresAt: Date;
  readonly createdAt: Date;
  readonly payload: string;
  readonly paymentId: string | null;
  readonly paid: boolean;
}

/** A QR payment: the payment's outcome and the code it paid. */
export interface QrPayment extends PaymentOutcome {
  readonly qrCodeId: string;
}

type StoredQr = Omit<QrCode, 'amount' | 'expiresAt' | 'createdAt'> & {
  amount: string;
  expiresAt: string;
  createdAt: string;
};

/**
 * Merchant payment by QR code (decision 50). The merchant creates a code (stored on its
 * account's shard, once per idempotency key) whose payload is signed (`qr-payload.ts`); a payer
 * confirms the payload: verified, not expired, claimed once on the code's row, then paid as one
 * payment (`PaymentTransfers`, kind `qr`) under an id derived from the code and the payer's
 * idempotency key. A refused payment releases the claim; a retry with the same key replays.
 */
export class QrCodes {
  readonly #router: Router;
  readonly #payments: PaymentTransfers;
  readonly #keys: PurposeKeys;

  constructor(router: Router, payments: PaymentTransfers, keys: PurposeKeys) {
    this.#router = router;
    this.#payments = payments;
    this.#keys = keys;
  }

  /** Creates a QR code for the merchant's account (`resource_not_found` when there is none). */
  async create(input: QrCodeInput, context: WriteContext): Promise<WriteAnswer<QrCode>> {
    const expiresIn = input.expiresInSeconds ?? QR_EXPIRY_SECONDS_DEFAULT;
    checkQrInput(input, expiresIn);
    const bucket = taggedBucket(input.merchantAccountId);
    if (
      !isEntityId(input.merchantAccountId, 'lacc') ||
      bucket === null ||
      bucket >= this.#router.map.snapshot.bucketCount
    )
      throw merchantNotFound(input.merchantAccountId);
    const id = newEntityId('pqr', bucket);
    const claim = {
      scope: 'ledger_qr_code',
      key: context.idempotencyKey,
      fingerprint: fingerprintOf({ ...input, expiresInSeconds: expiresIn }),
    };
    const result = await this.#router.write(
      id,
      (tx) =>
        onceInTransaction(tx, claim, async () => {
          await assertMerchant(tx, input);
          const row = await insertQrCode(tx, {
            ...input,
            id,
            expiresAt: new Date(Date.now() + expiresIn * 1_000),
          });
          return { statusCode: 201, body: this.#stored(row) };
        }),
      { token: context.token ?? null },
    );
    return { value: qrOf(result.value.body), token: result.token, replayed: result.value.replayed };
  }

  /** QR code `id` as it is now (`resource_not_found` when there is none). */
  async get(id: string, token?: string | null): Promise<QrCode> {
    const bucket = isEntityId(id, 'pqr') ? taggedBucket(id) : null;
    if (bucket === null || bucket >= this.#router.map.snapshot.bucketCount) throw qrNotFound(id);
    const { value } = await this.#router.read(id, (db) => readQrCode(db, id), {
      token: token ?? null,
    });
    if (value === null) throw qrNotFound(id);
    return qrOf(this.#stored(value));
  }

  /**
   * Pays the code in `payload` from `payerAccountId`. Refused with nothing written:
   * `qr_payload_invalid` (altered, unreadable, unknown), `qr_payload_expired`,
   * `qr_code_already_paid` (claimed under another key or payer), `idempotency_key_reused` (this
   * key claimed it for another payer). A business refusal (`insufficient_funds`) is the outcome.
   */
  async pay(
    input: { readonly payerAccountId: string; readonly payload: string },
    context: WriteContext,
  ): Promise<WriteAnswer<QrPayment>> {
    const fields = verifyQrPayload(input.payload, this.#keys);
    const digest = createHash('sha256').update(context.idempotencyKey).digest('base64url');
    const paymentId = `qr:${fields.id}:${digest}`;
    const claimed = await this.#claim(fields, { ...input, digest, paymentId }, context);
    const paid = await this.#payments.pay(
      {
        id: paymentId,
        kind: 'qr',
        payerAccountId: input.payerAccountId,
        payeeAccountId: fields.merchantAccountId,
        amount: fields.amount,
        currency: fields.currency,
        reference: fields.reference,
      },
      claimed,
    );
    if (paid.value.status === 'exists_with_different_fields')
      throw new MainstayError('idempotency_key_reused', 'this key already paid another way');
    const ended = await this.#router.write(fields.id, (tx) =>
      endQrClaim(tx, fields.id, digest, isApplied(paid.value.status)),
    );
    return {
      value: { ...paid.value, qrCodeId: fields.id },
      token: this.#router.mergeTokens(paid.token, ended.token),
      replayed: paid.replayed,
    };
  }

  /** Claims the code for this key and payer, or refuses; answers the claim's token. */
  async #claim(
    fields: QrPayloadFields,
    claim: { payerAccountId: string; digest: string; paymentId: string },
    context: WriteContext,
  ): Promise<string> {
    const { value: row, token } = await this.#router.write(
      fields.id,
      async (tx) => {
        await claimQrCode(tx, { id: fields.id, ...claim });
        return readQrCode(tx, fields.id);
      },
      { token: context.token ?? null },
    );
    if (row === null || !sameFields(row, fields))
      throw paymentError('qr_payload_invalid', 'the QR payload names no QR code of this merchant');
    if (row.claimDigest === claim.digest) {
      if (row.payerAccountId !== claim.payerAccountId)
        throw new MainstayError(
          'idempotency_key_reused',
          `idempotency key "${context.idempotencyKey}" already paid this QR code from another account`,
        );
      return token;
    }
    if (row.claimDigest !== null)
      throw paymentError('qr_code_already_paid', `QR code ${fields.id} is already paid`);
    throw paymentError(
      'qr_payload_expired',
      `QR code ${fields.id} expired at ${row.expiresAt.toISOString()}`,
    );
  }

  #stored(row: QrCodeRow): StoredQr {
    return {
      id: row.id,
      merchantAccountId: row.merchantAccountId,
      amount: row.amount.toString(),
      currency: row.currency,
      reference: row.reference,
      expiresAt: row.expiresAt.toISOString(),
      createdAt: row.createdAt.toISOString(),
      payload: signQrPayload(row, this.#keys.current),
      paymentId: row.paidAt === null ? null : row.paymentId,
      paid: row.paidAt !== null,
    };
  }
}

function sameFields(row: QrCodeRow, fields: QrPayloadFields): boolean {
  return (
    row.merchantAccountId === fields.merchantAccountId &&
    row.amount === fields.amount &&
    row.currency === fields.currency &&
    row.reference === fields.reference &&
    row.expiresAt.getTime() === fields.expiresAt.getTime()
  );
}

function qrOf(stored: StoredQr): QrCode {
  return {
    ...stored,
    amount: BigInt(stored.amount),
    expiresAt: new Date(stored.expiresAt),
    createdAt: new Date(stored.createdAt),
  };
}

async function assertMerchant(tx: Queryable, input: QrCodeInput): Promise<void> {
  const brief = await readAccountBrief(tx, input.merchantAccountId);
  if (brief === null || brief.institution) throw merchantNotFound(input.merchantAccountId);
  const errors: FieldError[] = [];
  if (brief.currency !== input.currency)
    errors.push({
      pointer: '/currency',
      detail: `is not the account's currency (${brief.currency})`,
    });
  if (brief.closed) errors.push({ pointer: '/merchantAccountId', detail: 'is closed' });
  if (errors.length > 0)
    throw new MainstayError(
      'invalid_request',
      "the merchant account cannot take this code's payments",
      { errors },
    );
}

function checkQrInput(input: QrCodeInput, expiresIn: number): void {
  const errors: FieldError[] = [];
  if (input.amount <= 0n || input.amount > BigInt(Number.MAX_SAFE_INTEGER))
    errors.push({ pointer: '/amount', detail: 'must be from 1 to 2^53 - 1' });
  if (!/^[A-Z]{3}$/.test(input.currency))
    errors.push({ pointer: '/currency', detail: 'must be an ISO 4217 alphabetic code' });
  if (
    input.reference.length < 1 ||
    input.reference.length > REFERENCE_LENGTH_MAX ||
    UNSTORABLE.test(input.reference)
  )
    errors.push({
      pointer: '/reference',
      detail: `must be 1 to ${REFERENCE_LENGTH_MAX} characters, without U+0000`,
    });
  if (
    !Number.isInteger(expiresIn) ||
    expiresIn < QR_EXPIRY_SECONDS_MIN ||
    expiresIn > QR_EXPIRY_SECONDS_MAX
  )
    errors.push({
      pointer: '/expiresInSeconds',
      detail: `must be ${QR_EXPIRY_SECONDS_MIN} to ${QR_EXPIRY_SECONDS_MAX}`,
    });
  if (errors.length > 0)
    throw new MainstayError('invalid_request', 'the QR code is malformed', { errors });
}

function merchantNotFound(id: string): MainstayError {
  return new MainstayError('resource_not_found', `there is no customer ledger account ${id}`);
}

function qrNotFound(id: string): MainstayError {
  return new MainstayError('resource_not_found', `there is no QR code ${id}`);
}
