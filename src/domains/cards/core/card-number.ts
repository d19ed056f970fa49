import { randomInt } from 'node:crypto';
/**
 * Card numbers (PANs) as a payment user types them: checked for shape, Luhn check digit and a
 * brand we accept, before anything else touches them. Nothing here keeps or prints a number:
 * the checks return a reason, never the number, so a caller cannot echo it by accident.
 */

/** The card brands a user may bind. */
export const CARD_BRANDS = ['visa', 'mastercard', 'amex', 'unionpay', 'jcb', 'discover'] as const;
export type CardBrand = (typeof CARD_BRANDS)[number];

/** Whether `value` is one of {@link CARD_BRANDS}. */
export function isCardBrand(value: unknown): value is CardBrand {
  return typeof value === 'string' && (CARD_BRANDS as readonly string[]).includes(value);
}

/** Shortest and longest card number ISO/IEC 7812 allows. */
export const CARD_NUMBER_DIGITS_MIN = 12;
export const CARD_NUMBER_DIGITS_MAX = 19;

/** The only characters a card number may hold (no spaces or dashes: clients strip them). */
export const CARD_NUMBER_PATTERN = `^[0-9]{${CARD_NUMBER_DIGITS_MIN},${CARD_NUMBER_DIGITS_MAX}}$`;
const CARD_NUMBER_REGEX = new RegExp(CARD_NUMBER_PATTERN);

/** One run of issuer identification numbers: prefixes `first`..`last`, all of one length. */
interface BinRange {
  readonly first: number;
  readonly last: number;
}

/** A brand's BIN ranges and the number lengths it issues. */
interface BrandRule {
  readonly brand: CardBrand;
  readonly ranges: readonly BinRange[];
  readonly lengths: readonly number[];
}

/**
 * The brand table. Checked in order, so a narrower range listed first wins over a wider one.
 * Lengths are enforced per brand: a number one digit short passes Luhn one time in ten, and the
 * length is the check that catches it.
 */
const BRAND_RULES: readonly BrandRule[] = [
  { brand: 'amex', ranges: [r(34), r(37)], lengths: [15] },
  { brand: 'jcb', ranges: [r(3528, 3589)], lengths: [16, 17, 18, 19] },
  { brand: 'visa', ranges: [r(4)], lengths: [13, 16, 19] },
  { brand: 'mastercard', ranges: [r(51, 55), r(2221, 2720)], lengths: [16] },
  { brand: 'discover', ranges: [r(6011), r(644, 649), r(65)], lengths: [16, 17, 18, 19] },
  { brand: 'unionpay', ranges: [r(62)], lengths: [16, 17, 18, 19] },
];

function r(first: number, last = first): BinRange {
  return { first, last };
}

/** The prefix of `digits` as long as `like` (a BIN bound), as a number. */
function prefixOf(digits: string, like: number): number {
  return Number(digits.slice(0, String(like).length));
}

/** Whether `digits` (only 0-9) ends in a valid Luhn (mod 10) check digit. */
export function luhnValid(digits: string): boolean {
  if (digits.length === 0) return false;
  return luhnSum(digits, false) % 10 === 0;
}

/** The Luhn check digit to append to `partial` (digits without their check digit). */
export function luhnCheckDigit(partial: string): number {
  return (10 - (luhnSum(partial, true) % 10)) % 10;
}

/** Luhn's sum, doubling every second digit from the right (from the last one if `doubleLast`). */
function luhnSum(digits: string, doubleLast: boolean): number {
  let sum = 0;
  let double = doubleLast;
  for (let index = digits.length - 1; index >= 0; index -= 1) {
    let digit = digits.charCodeAt(index) - 48;
    if (double) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
    double = !double;
  }
  return sum;
}

/** The brand whose BIN ranges hold `digits`, whatever its length, or `null`. */
export function brandOf(digits: string): CardBrand | null {
  return ruleOf(digits)?.brand ?? null;
}

function ruleOf(digits: string): BrandRule | undefined {
  return BRAND_RULES.find((rule) =>
    rule.ranges.some((range) => {
      const prefix = prefixOf(digits, range.first);
      return prefix >= range.first && prefix <= range.last;
    }),
  );
}

/** Why a card number was refused; the wording never includes the number. */
export const CARD_NUMBER_PROBLEMS = ['format', 'luhn', 'brand', 'length'] as const;
export type CardNumberProblem = (typeof CARD_NUMBER_PROBLEMS)[number];

/** A card number that passed every check, with what may be kept of it in clear. */
export interface CheckedCardNumber {
  readonly ok: true;
  readonly digits: string;
  readonly brand: CardBrand;
  readonly last4: string;
}

/**
 * Checks a card number: 12 to 19 digits, a valid Luhn check digit, a BIN of a brand we accept,
 * and a length that brand issues. A refusal is a value (the caller turns it into a
 * `card_number_invalid` problem with {@link describeCardNumberProblem}).
 */
export function checkCardNumber(
  text: string,
): CheckedCardNumber | { readonly ok: false; readonly problem: CardNumberProblem } {
  if (!CARD_NUMBER_REGEX.test(text)) return { ok: false, problem: 'format' };
  if (!luhnValid(text)) return { ok: false, problem: 'luhn' };
  const rule = ruleOf(text);
  if (!rule) return { ok: false, problem: 'brand' };
  if (!rule.lengths.includes(text.length)) return { ok: false, problem: 'length' };
  return { ok: true, digits: text, brand: rule.brand, last4: text.slice(-4) };
}

/** A sentence for a problem detail; says what is wrong without repeating the number. */
export function describeCardNumberProblem(problem: CardNumberProblem): string {
  switch (problem) {
    case 'format':
      return `the card number must be ${CARD_NUMBER_DIGITS_MIN} to ${CARD_NUMBER_DIGITS_MAX} digits`;
    case 'luhn':
      return 'the card number fails its Luhn check digit (mistyped?)';
    case 'brand':
      return `the card number is not of an accepted brand (${CARD_BRANDS.join(', ')})`;
    case 'length':
      return 'the card number has the wrong number of digits for its brand';
  }
}

/** Brands the issuer mints card numbers for, with the prefix (IIN) each number starts with. */
export const ISSUED_CARD_BRANDS = ['visa', 'mastercard', 'unionpay'] as const;
export type IssuedCardBrand = (typeof ISSUED_CARD_BRANDS)[number];

const ISSUED_PREFIX: Readonly<Record<IssuedCardBrand, string>> = {
  visa: '4',
  mastercard: '51',
  unionpay: '62',
};
const ISSUED_NUMBER_LENGTH = 16;

/**
 * A new random Luhn-valid card number of `brand`. The caller keeps only its last four digits
 * and the brand: the number itself is never stored or logged in clear (it goes to the card
 * manufacturer, outside Mainstay).
 */
export function generateCardNumber(brand: IssuedCardBrand): string {
  let body = ISSUED_PREFIX[brand];
  while (body.length < ISSUED_NUMBER_LENGTH - 1) body += String(randomInt(10));
  return body + String(luhnCheckDigit(body));
}
