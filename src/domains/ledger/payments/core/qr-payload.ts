/**
 * The merchant-presented QR payload (decision 50): the QR code's fields, signed with
 * HMAC-SHA256 under the `payment-qr-signing` key, so that a payer's app can show them and the
 * server can tell at once whether anything was altered. Text, so it fits in a QR code:
 * `MSQR1.<base64url JSON of the fields>.<base64url HMAC of "MSQR1.<fields>">`; the fields name
 * the key (`kid`), so a payload signed before a rotation still verifies while its key is accepted.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { PurposeKey, PurposeKeys } from '../../../../secrets/secrets-port.ts';
import { paymentError } from './payment-errors.ts';

/** The payload's format tag, first in every payload. */
export const QR_PAYLOAD_PREFIX = 'MSQR1';
/** Bound on the text of a payload a payer may send. */
export const QR_PAYLOAD_LENGTH_MAX = 2_048;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** What a QR payload states. */
export interface QrPayloadFields {
  readonly id: string;
  readonly merchantAccountId: string;
  readonly amount: bigint;
  readonly currency: string;
  readonly reference: string;
  readonly expiresAt: Date;
}

/** The payload of `fields`, signed with `key`. */
export function signQrPayload(fields: QrPayloadFields, key: PurposeKey): string {
  const body = Buffer.from(
    JSON.stringify({
      kid: key.keyId,
      id: fields.id,
      m: fields.merchantAccountId,
      a: fields.amount.toString(),
      c: fields.currency,
      r: fields.reference,
      e: fields.expiresAt.toISOString(),
    }),
  ).toString('base64url');
  return `${QR_PAYLOAD_PREFIX}.${body}.${macOf(key.key, body)}`;
}

/**
 * The fields of `payload` when one of `keys.accepted` signed it exactly so; else
 * `qr_payload_invalid` (expiry is the caller's check: an expired payload is still authentic).
 */
export function verifyQrPayload(payload: string, keys: PurposeKeys): QrPayloadFields {
  const parts = payload.length <= QR_PAYLOAD_LENGTH_MAX ? payload.split('.') : [];
  const [prefix, body, mac] = parts;
  if (
    parts.length !== 3 ||
    prefix !== QR_PAYLOAD_PREFIX ||
    body === undefined ||
    mac === undefined ||
    !BASE64URL.test(body) ||
    !BASE64URL.test(mac)
  )
    throw invalid('is not a Mainstay QR payload');
  const fields = parseBody(body);
  const key = keys.accepted.find((candidate) => candidate.keyId === fields.kid);
  if (key === undefined) throw invalid('is signed with a key that is not accepted');
  const expected = Buffer.from(macOf(key.key, body));
  const given = Buffer.from(mac);
  if (expected.length !== given.length || !timingSafeEqual(expected, given))
    throw invalid('does not match its signature: it was altered');
  return fields;
}

function macOf(key: Buffer, body: string): string {
  return createHmac('sha256', key).update(`${QR_PAYLOAD_PREFIX}.${body}`).digest('base64url');
}

function parseBody(body: string): QrPayloadFields & { readonly kid: string } {
  let document: unknown;
  try {
    document = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    throw invalid('is not a Mainstay QR payload');
  }
  const record = (document ?? {}) as Record<string, unknown>;
  const { kid, id, m, a, c, r, e } = record;
  if (
    typeof kid !== 'string' ||
    typeof id !== 'string' ||
    typeof m !== 'string' ||
    typeof a !== 'string' ||
    !/^[1-9][0-9]{0,18}$/.test(a) ||
    typeof c !== 'string' ||
    typeof r !== 'string' ||
    typeof e !== 'string' ||
    Number.isNaN(Date.parse(e))
  )
    throw invalid('is not a Mainstay QR payload');
  return {
    kid,
    id,
    merchantAccountId: m,
    amount: BigInt(a),
    currency: c,
    reference: r,
    expiresAt: new Date(e),
  };
}

function invalid(why: string) {
  return paymentError('qr_payload_invalid', `the QR payload ${why}`, {
    errors: [{ pointer: '/payload', detail: why }],
  });
}
