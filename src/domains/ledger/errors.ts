/**
 * The ledger's own error codes. None yet: a business refusal is an outcome with a status
 * (`insufficient_funds`...), and what cannot be processed uses the catalogue's general codes
 * (`invalid_request`, `resource_not_found`, `currency_unsupported`, `overloaded`).
 */
import type { ErrorSpec } from '../../errors/error-catalogue.ts';

export const LEDGER_ERRORS: Readonly<Record<string, ErrorSpec>> = {};
