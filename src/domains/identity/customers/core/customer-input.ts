/**
 * The checks of what a customer sends, for every caller (the HTTP schemas bound sizes first):
 * phone numbers in E.164, identity numbers (the mainland resident identity number of GB
 * 11643-1999 with its ISO 7064 MOD 11-2 check digit and birth date, or a generic one), bank card
 * numbers by their Luhn digit, and KYC documents by size and leading bytes. No message repeats
 * the value it refuses.
 */
import { MainstayError } from '../../../../errors/mainstay-error.ts';
import { identityError } from '../../errors.ts';

/** E.164: a plus sign, then 8 to 15 digits, the first not 0. */
export const PHONE_PATTERN = /^\+[1-9][0-9]{7,14}$/;
export const FULL_NAME_LENGTH_MAX = 100;
/** A document's size once decoded. */
export const DOCUMENT_BYTES_MAX = 512 * 1024;

export const ID_TYPES = ['cn_resident', 'generic'] as const;
export type IdType = (typeof ID_TYPES)[number];

export const DOCUMENT_KINDS = ['id_front', 'id_back', 'selfie', 'proof_of_address'] as const;
export type DocumentKind = (typeof DOCUMENT_KINDS)[number];

/** The leading bytes each accepted media type starts with. */
const MAGIC: Readonly<Record<string, readonly number[]>> = {
  'image/jpeg': [0xff, 0xd8, 0xff],
  'image/png': [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
  'application/pdf': [0x25, 0x50, 0x44, 0x46, 0x2d],
};
export const DOCUMENT_MEDIA_TYPES = Object.keys(MAGIC) as readonly string[];

/** The phone number, checked; `phone_invalid` otherwise. */
export function checkPhone(phone: unknown): string {
  if (typeof phone !== 'string' || !PHONE_PATTERN.test(phone))
    throw identityError('phone_invalid', 'a phone number is + and 8 to 15 digits (E.164)');
  return phone;
}

/** A legal name, trimmed: 1 to 100 characters, no control characters. */
export function checkFullName(fullName: unknown): string {
  const name = typeof fullName === 'string' ? fullName.trim() : '';
  const length = [...name].length;
  if (length === 0 || length > FULL_NAME_LENGTH_MAX || /\p{Cc}/u.test(name)) {
    throw new MainstayError('invalid_request', 'invalid full name', {
      errors: [
        {
          pointer: '/fullName',
          detail: `must be 1 to ${FULL_NAME_LENGTH_MAX} characters without control characters`,
        },
      ],
    });
  }
  return name;
}

/** The ISO 7064 MOD 11-2 weights of the first 17 characters, and the check characters. */
const CN_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CN_CHECK = '10X98765432';

/** The identity number, normalized (upper case); `id_number_invalid` otherwise. */
export function checkIdNumber(type: IdType, idNumber: unknown): string {
  const value = typeof idNumber === 'string' ? idNumber.trim().toUpperCase() : '';
  if (type === 'generic') {
    if (/^[A-Z0-9]{5,32}$/.test(value)) return value;
    throw identityError(
      'id_number_invalid',
      'a generic identity number is 5 to 32 letters and digits',
    );
  }
  if (!/^[0-9]{17}[0-9X]$/.test(value)) {
    throw identityError(
      'id_number_invalid',
      'a resident identity number is 17 digits and a check digit (0-9 or X)',
    );
  }
  const sum = CN_WEIGHTS.reduce((total, weight, index) => total + weight * Number(value[index]), 0);
  if (CN_CHECK[sum % 11] !== value[17])
    throw identityError('id_number_invalid', 'the check digit of the identity number is wrong');
  if (!isBirthDate(value.slice(6, 14)))
    throw identityError('id_number_invalid', 'the identity number holds no valid birth date');
  return value;
}

/** Whether `yyyymmdd` is a real calendar date from 1900 up to today. */
function isBirthDate(yyyymmdd: string): boolean {
  const year = Number(yyyymmdd.slice(0, 4));
  const month = Number(yyyymmdd.slice(4, 6));
  const day = Number(yyyymmdd.slice(6, 8));
  const date = new Date(Date.UTC(year, month - 1, day));
  return (
    year >= 1900 &&
    date.getUTCFullYear() === year &&
    date.getUTCMonth() === month - 1 &&
    date.getUTCDate() === day &&
    date.getTime() <= Date.now()
  );
}

/** Whether `digits` end in a valid Luhn check digit. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let index = 0; index < digits.length; index += 1) {
    let digit = Number(digits[digits.length - 1 - index]);
    if (index % 2 === 1) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return digits.length > 0 && sum % 10 === 0;
}

/** A bank card number: 12 to 19 digits (spaces allowed) with a valid Luhn digit. */
export function checkBankCard(cardNumber: unknown): string {
  const digits = typeof cardNumber === 'string' ? cardNumber.replace(/ /g, '') : '';
  if (!/^[0-9]{12,19}$/.test(digits) || !luhnValid(digits))
    throw identityError(
      'bank_card_invalid',
      'a card number is 12 to 19 digits with a valid Luhn digit',
    );
  return digits;
}

/**
 * A document's bytes from its base64 text: `document_too_large` past
 * {@link DOCUMENT_BYTES_MAX} (judged from the text's length before decoding), `document_invalid`
 * when it is not base64, is empty, or does not start like `mediaType`.
 */
export function checkDocument(contentBase64: unknown, mediaType: string): Buffer {
  const text = typeof contentBase64 === 'string' ? contentBase64 : '';
  if (text.length > Math.ceil(DOCUMENT_BYTES_MAX / 3) * 4)
    throw identityError('document_too_large', 'a document is at most 512 KiB once decoded');
  if (text.length === 0 || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text))
    throw identityError('document_invalid', 'the content is not base64 (RFC 4648, padded)');
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length > DOCUMENT_BYTES_MAX)
    throw identityError('document_too_large', 'a document is at most 512 KiB once decoded');
  const magic = MAGIC[mediaType];
  if (!magic?.every((byte, index) => bytes[index] === byte))
    throw identityError('document_invalid', `the content does not start like ${mediaType}`);
  return bytes;
}
