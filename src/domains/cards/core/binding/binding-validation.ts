/**
 * The domain's own checks of binding input. The HTTP schemas reject wrong types and shapes
 * first; these hold for every caller (a batch job, a test, another entry point) and decide what
 * only the domain knows: a number's Luhn digit and brand, an expiry relative to today.
 */
import { type FieldError, MainstayError } from '../../../../errors/mainstay-error.ts';
import { cardError } from '../../errors.ts';
import { type CardBrand, checkCardNumber, describeCardNumberProblem } from '../card-number.ts';
import {
  type CardToBind,
  EMAIL_LENGTH_MAX,
  EXPIRY_YEARS_AHEAD_MAX,
  FULL_NAME_LENGTH_MAX,
  HOLDER_NAME_LENGTH_MAX,
  type NewPaymentUser,
} from './binding-types.ts';

/** A card to bind after its checks: the digits (still secret), what may be shown, the rest. */
export interface CheckedCard {
  readonly digits: string;
  readonly brand: CardBrand;
  readonly last4: string;
  readonly expiryMonth: number;
  readonly expiryYear: number;
  readonly holderName: string | null;
}

/** Trimmed user fields; `invalid_request` naming each bad field. */
export function checkNewUser(input: NewPaymentUser): { fullName: string; email: string | null } {
  const errors: FieldError[] = [];
  const fullName = typeof input.fullName === 'string' ? input.fullName.trim() : '';
  if (fullName.length === 0 || fullName.length > FULL_NAME_LENGTH_MAX) {
    errors.push({
      pointer: '/fullName',
      detail: `must be 1 to ${FULL_NAME_LENGTH_MAX} characters`,
    });
  }
  const email = input.email === undefined ? null : String(input.email).trim();
  if (email !== null && (email.length > EMAIL_LENGTH_MAX || !/^[^@\s]+@[^@\s]+$/.test(email))) {
    errors.push({ pointer: '/email', detail: 'must be an email address' });
  }
  if (errors.length > 0) throw new MainstayError('invalid_request', 'invalid user', { errors });
  return { fullName, email };
}

/**
 * Checks a card to bind: the number (`card_number_invalid`), the expiry
 * (`card_expiry_invalid`: a past month, or more than {@link EXPIRY_YEARS_AHEAD_MAX} years
 * ahead) and the holder's name. No message repeats the number.
 */
export function checkBindInput(input: CardToBind, now: Date): CheckedCard {
  const number = checkCardNumber(typeof input.cardNumber === 'string' ? input.cardNumber : '');
  if (!number.ok) {
    const detail = describeCardNumberProblem(number.problem);
    throw cardError('card_number_invalid', detail, {
      errors: [{ pointer: '/cardNumber', detail }],
    });
  }
  const { expiryMonth, expiryYear } = input;
  const expiryDetail = expiryProblem(expiryMonth, expiryYear, now);
  if (expiryDetail) {
    throw cardError('card_expiry_invalid', `card expiry ${expiryDetail.detail}`, {
      errors: [expiryDetail],
    });
  }
  const holderName = input.holderName === undefined ? null : input.holderName.trim();
  if (
    holderName !== null &&
    (holderName.length === 0 || holderName.length > HOLDER_NAME_LENGTH_MAX)
  ) {
    throw new MainstayError('invalid_request', 'invalid holder name', {
      errors: [
        { pointer: '/holderName', detail: `must be 1 to ${HOLDER_NAME_LENGTH_MAX} characters` },
      ],
    });
  }
  const { digits, brand, last4 } = number;
  return { digits, brand, last4, expiryMonth, expiryYear, holderName };
}

/** What is wrong with an expiry, or `null`. A card is valid to the end of its expiry month. */
function expiryProblem(month: number, year: number, now: Date): FieldError | null {
  if (!Number.isInteger(month) || month < 1 || month > 12) {
    return { pointer: '/expiryMonth', detail: 'must be a month, 1 to 12' };
  }
  const thisYear = now.getUTCFullYear();
  if (!Number.isInteger(year) || year > thisYear + EXPIRY_YEARS_AHEAD_MAX) {
    return {
      pointer: '/expiryYear',
      detail: `must be a year at most ${EXPIRY_YEARS_AHEAD_MAX} years ahead`,
    };
  }
  if (year * 12 + month < thisYear * 12 + now.getUTCMonth() + 1) {
    return { pointer: '/expiryYear', detail: 'the card has expired' };
  }
  return null;
}
