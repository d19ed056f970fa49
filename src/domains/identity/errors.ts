/**
 * The identity domain's own error codes, registered with the catalogue when this file loads.
 * Authentication failures themselves (`unauthenticated`, `invalid_token`, `insufficient_scope`)
 * are the platform's: the HTTP layer answers them for every module.
 */
import { type ErrorSpec, registerErrorCodes } from '../../errors/error-catalogue.ts';
import { MainstayError } from '../../errors/mainstay-error.ts';

export const IDENTITY_ERRORS = {
  scope_unknown: {
    status: 422,
    title: 'Unknown scope',
    definite: true,
    doc: 'A credential was asked for a scope no hosted module defines; the detail lists the known ones. Nothing was written.',
  },
  login_failed: {
    status: 401,
    title: 'Login failed',
    definite: true,
    doc: 'The username, password or one-time code is wrong, the code was already used, or the account is locked after repeated failures (15 minutes after 5 in a row). The same answer for every case, so it reveals no account.',
  },
  password_invalid: {
    status: 422,
    title: 'Password not accepted',
    definite: true,
    doc: 'A password is 12 to 256 characters. Checked before any hashing. Nothing was written.',
  },
  username_taken: {
    status: 409,
    title: 'Username taken',
    definite: true,
    doc: 'Another staff account has this username. Nothing was written.',
  },
  role_unknown: {
    status: 422,
    title: 'Unknown role',
    definite: true,
    doc: 'Roles are viewer, operator, approver, risk_officer, compliance and admin.',
  },
  role_grant_needs_approval: {
    status: 422,
    title: 'Role grant needs approval',
    definite: true,
    doc: 'A new staff account starts as viewer; other roles come by a role grant request that another admin approves (POST /v1/approvals, action role_grant).',
  },
  phone_invalid: {
    status: 422,
    title: 'Phone number not accepted',
    definite: true,
    doc: 'A phone number is in E.164 form: a plus sign, then 8 to 15 digits, the first not 0 (+8613812345678). Nothing was written.',
  },
  phone_code_invalid: {
    status: 422,
    title: 'Code not accepted',
    definite: true,
    doc: 'The one-time code is wrong, or no code is waiting for this phone. Each wrong try counts; after 5 the code is void. The same answer whether or not the phone is registered.',
  },
  phone_code_expired: {
    status: 422,
    title: 'Code expired',
    definite: true,
    doc: 'The code is right but older than 5 minutes. Register again (POST /v1/customers) for a new one. Nothing was written.',
  },
  phone_code_used: {
    status: 409,
    title: 'Code already used',
    definite: true,
    doc: 'The code is right but was used already: a code confirms a phone once. Nothing was written.',
  },
  phone_code_attempts_exceeded: {
    status: 422,
    title: 'Code void after too many tries',
    definite: true,
    doc: 'The code is right but 5 wrong codes were tried first, so it no longer counts. Register again for a new one. Nothing was written.',
  },
  kyc_level_insufficient: {
    status: 403,
    title: 'KYC level too low',
    definite: true,
    doc: "The customer's KYC level does not allow this yet (1: phone verified, 2: real name verified, 3: bank card verified and KYC review approved); the detail says which level is needed. Nothing was done.",
  },
  kyc_state_conflict: {
    status: 409,
    title: 'KYC step not possible now',
    definite: true,
    doc: 'The step was done already (a verified real name or bank card does not change) or the review is not pending (approve and reject). Nothing was written.',
  },
  id_number_invalid: {
    status: 422,
    title: 'Identity number not accepted',
    definite: true,
    doc: 'cn_resident: 18 characters (GB 11643-1999), 17 digits and a check digit 0-9 or X (ISO 7064 MOD 11-2) with a valid birth date inside; generic: 5 to 32 letters and digits. Nothing was written.',
  },
  id_number_in_use: {
    status: 409,
    title: 'Identity number in use',
    definite: true,
    doc: 'Another customer verified their real name with this identity number. Nothing was written.',
  },
  bank_card_invalid: {
    status: 422,
    title: 'Bank card number not accepted',
    definite: true,
    doc: 'A bank card number is 12 to 19 digits with a valid Luhn check digit. Nothing was written.',
  },
  bank_card_not_confirmed: {
    status: 422,
    title: 'Bank card not confirmed',
    definite: true,
    doc: "The bank did not confirm the four elements (name, identity number, phone, card number) as the customer's own. Nothing was written.",
  },
  document_invalid: {
    status: 422,
    title: 'Document not accepted',
    definite: true,
    doc: 'The content is not base64, is empty, or does not start like its media type (JPEG, PNG or PDF). Nothing was written.',
  },
  document_too_large: {
    status: 413,
    title: 'Document too large',
    definite: true,
    doc: 'A document is at most 512 KiB once decoded. Nothing was written.',
  },
} as const satisfies Record<string, ErrorSpec>;

export type IdentityErrorCode = keyof typeof IDENTITY_ERRORS;

declare module '../../errors/error-catalogue.ts' {
  interface ModuleErrorCodes {
    scope_unknown: true;
    login_failed: true;
    password_invalid: true;
    username_taken: true;
    role_unknown: true;
    role_grant_needs_approval: true;
    phone_invalid: true;
    phone_code_invalid: true;
    phone_code_expired: true;
    phone_code_used: true;
    phone_code_attempts_exceeded: true;
    kyc_level_insufficient: true;
    kyc_state_conflict: true;
    id_number_invalid: true;
    id_number_in_use: true;
    bank_card_invalid: true;
    bank_card_not_confirmed: true;
    document_invalid: true;
    document_too_large: true;
  }
}

registerErrorCodes('identity', IDENTITY_ERRORS);

/** An identity error, its code registered with the catalogue. */
export function identityError(code: IdentityErrorCode, message: string): MainstayError {
  return new MainstayError(code, message);
}
