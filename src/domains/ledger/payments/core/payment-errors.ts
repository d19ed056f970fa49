/**
 * The payments' error codes (decision 50), part of the ledger's catalogue entries
 * (`LEDGER_ERRORS`): what makes a payment request unprocessable. A refused payment (an
 * insufficient balance) is an outcome, not one of these; each of these writes nothing.
 */
import { type ErrorSpec, registerErrorCodes } from '../../../../errors/error-catalogue.ts';
import { type FieldError, MainstayError } from '../../../../errors/mainstay-error.ts';

export const PAYMENT_ERRORS = {
  qr_payload_invalid: {
    status: 422,
    title: 'QR payload invalid',
    definite: true,
    doc: 'The QR payload is not one Mainstay signed: unreadable, altered (its signature does not match), signed with a key no longer accepted, or naming no QR code. Nothing was written.',
  },
  qr_payload_expired: {
    status: 422,
    title: 'QR payload expired',
    definite: true,
    doc: 'The QR payload passed its expiry before it was paid; the merchant makes a new one. Nothing was written.',
  },
  qr_code_already_paid: {
    status: 409,
    title: 'QR code already paid',
    definite: true,
    doc: 'The QR code was paid (or is being paid) under another idempotency key or by another payer; a retry with the first key answers the first payment. Nothing was written.',
  },
  payment_fee_exceeds_amount: {
    status: 422,
    title: 'Fee exceeds the amount',
    definite: true,
    doc: 'The fee rule has the payee bear a fee at least as large as the amount, so nothing would be credited. Nothing was written.',
  },
  payment_batch_file_invalid: {
    status: 422,
    title: 'Batch file invalid',
    definite: true,
    doc: 'The batch file as a whole cannot be read: no item lines, more lines than allowed, or a CSV file whose first line is not the documented header. (A bad line is reported on its own line; the good lines go through.) Nothing was written.',
  },
} as const satisfies Record<string, ErrorSpec>;

/** A code of {@link PAYMENT_ERRORS}. */
export type PaymentErrorCode = keyof typeof PAYMENT_ERRORS;

declare module '../../../../errors/error-catalogue.ts' {
  interface ModuleErrorCodes {
    qr_payload_invalid: true;
    qr_payload_expired: true;
    qr_code_already_paid: true;
    payment_fee_exceeds_amount: true;
    payment_batch_file_invalid: true;
  }
}

registerErrorCodes('ledger', PAYMENT_ERRORS);

/** A payment error, its code registered with the catalogue. */
export function paymentError(
  code: PaymentErrorCode,
  message: string,
  options: { cause?: unknown; errors?: readonly FieldError[] } = {},
): MainstayError {
  return new MainstayError(code, message, options);
}
