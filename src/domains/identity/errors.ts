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
} as const satisfies Record<string, ErrorSpec>;

export type IdentityErrorCode = keyof typeof IDENTITY_ERRORS;

declare module '../../errors/error-catalogue.ts' {
  interface ModuleErrorCodes {
    scope_unknown: true;
  }
}

registerErrorCodes('identity', IDENTITY_ERRORS);

/** An identity error, its code registered with the catalogue. */
export function identityError(code: IdentityErrorCode, message: string): MainstayError {
  return new MainstayError(code, message);
}
