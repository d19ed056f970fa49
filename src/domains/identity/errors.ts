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
  }
}

registerErrorCodes('identity', IDENTITY_ERRORS);

/** An identity error, its code registered with the catalogue. */
export function identityError(code: IdentityErrorCode, message: string): MainstayError {
  return new MainstayError(code, message);
}
