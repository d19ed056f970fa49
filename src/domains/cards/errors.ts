/**
 * The cards domain's own error codes: added to the catalogue when this file loads (every card
 * error is made through {@link cardError}, so whatever can throw one has registered them), and
 * declared to the type checker by augmenting `ModuleErrorCodes`.
 */
import { type ErrorSpec, registerErrorCodes } from '../../errors/error-catalogue.ts';
import { type FieldError, MainstayError } from '../../errors/mainstay-error.ts';

export const CARD_ERRORS = {
  card_number_invalid: {
    status: 422,
    title: 'Invalid card number',
    definite: true,
    doc: 'The card number is not 12 to 19 digits with a valid Luhn check digit, or its brand is not accepted.',
  },
  card_already_bound: {
    status: 409,
    title: 'Card already bound',
    definite: true,
    doc: 'The user already has this card bound (found by its keyed hash, not its number); the detail names the existing binding. Nothing was written.',
  },
  card_limit_exceeded: {
    status: 409,
    title: 'Bound card limit reached',
    definite: true,
    doc: 'The user has as many active bound cards as allowed; unbind one first. Nothing was written.',
  },
  card_expiry_invalid: {
    status: 422,
    title: 'Invalid card expiry',
    definite: true,
    doc: 'The expiry month/year is in the past or implausibly far in the future.',
  },
} as const satisfies Record<string, ErrorSpec>;

/** A code of {@link CARD_ERRORS}. */
export type CardErrorCode = keyof typeof CARD_ERRORS;

declare module '../../errors/error-catalogue.ts' {
  interface ModuleErrorCodes {
    card_number_invalid: true;
    card_already_bound: true;
    card_limit_exceeded: true;
    card_expiry_invalid: true;
  }
}

registerErrorCodes('cards', CARD_ERRORS);

/** A card error, its code registered with the catalogue. */
export function cardError(
  code: CardErrorCode,
  message: string,
  options: { cause?: unknown; errors?: readonly FieldError[] } = {},
): MainstayError {
  return new MainstayError(code, message, options);
}
