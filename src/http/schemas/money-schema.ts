/**
 * Money on the wire (API style): an integer number of minor units, positive, at most 2^53 - 1 so
 * every JSON parser reads it exactly, beside an ISO 4217 alphabetic code. Bodies are validated
 * without coercion, so `"100"` or `100.5` is refused, never rounded or converted.
 */
import { Type } from '@sinclair/typebox';
import { MainstayError } from '../../errors/mainstay-error.ts';

export const AmountSchema = Type.Integer({
  minimum: 1,
  maximum: Number.MAX_SAFE_INTEGER,
  description: 'Minor units of the currency (fen, cents), 1 to 2^53 - 1.',
});

/** A non-negative amount, as responses show balances and remainders. */
export const BalanceSchema = Type.Integer({
  minimum: -Number.MAX_SAFE_INTEGER,
  maximum: Number.MAX_SAFE_INTEGER,
  description: 'Minor units of the currency.',
});

export const CurrencySchema = Type.String({
  pattern: '^[A-Z]{3}$',
  description: 'ISO 4217 alphabetic code.',
});

/** The ISO 4217 codes the runtime's ICU data knows (the current list, kept up to date with Node). */
const KNOWN_CURRENCIES = new Set(Intl.supportedValuesOf('currency'));

/** Refuses a well-formed but unknown currency code with `currency_unsupported`. */
export function assertKnownCurrency(code: string, pointer = '/currency'): void {
  if (!KNOWN_CURRENCIES.has(code)) {
    throw new MainstayError('currency_unsupported', `${code} is not an ISO 4217 currency code`, {
      errors: [{ pointer, detail: 'must be an ISO 4217 currency code' }],
    });
  }
}

/** A bigint amount from the domain, as a JSON-safe number (domain amounts stay within 2^53). */
export function amountToJson(amount: bigint): number {
  if (amount > BigInt(Number.MAX_SAFE_INTEGER) || amount < -BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new RangeError(`amount ${amount} is outside the JSON-safe range`);
  }
  return Number(amount);
}
