/**
 * The ledger's own error codes. A business refusal is an outcome with a status
 * (`insufficient_funds`...), and what cannot be processed uses the catalogue's general codes
 * (`invalid_request`, `resource_not_found`, `currency_unsupported`, `overloaded`); payments add
 * theirs (QR payloads, fees, batch files: `payments/core/payment-errors.ts`).
 */
import type { ErrorSpec } from '../../errors/error-catalogue.ts';
import { PAYMENT_ERRORS } from './payments/core/payment-errors.ts';

export const LEDGER_ERRORS: Readonly<Record<string, ErrorSpec>> = { ...PAYMENT_ERRORS };
