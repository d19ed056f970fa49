/**
 * Passwords: argon2id with the OWASP-recommended cost (19 MiB, 2 passes, 1 lane), bounded in
 * length before any hashing so that an oversized password costs nothing.
 */
import type { Options } from '@node-rs/argon2';
import { identityError } from '../../errors.ts';

export const PASSWORD_LENGTH_MIN = 12;
/** Characters; argon2 itself accepts far more, which would let a request buy CPU. */
export const PASSWORD_LENGTH_MAX = 256;

export const PASSWORD_HASH_OPTIONS: Options = {
  // Algorithm.Argon2id (a const enum, which isolated modules cannot read).
  algorithm: 2,
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
};

/** Throws `password_invalid` for a password too short or too long. */
export function checkPassword(password: string): void {
  if (password.length < PASSWORD_LENGTH_MIN || password.length > PASSWORD_LENGTH_MAX) {
    throw identityError(
      'password_invalid',
      `a password is ${PASSWORD_LENGTH_MIN} to ${PASSWORD_LENGTH_MAX} characters`,
    );
  }
}
