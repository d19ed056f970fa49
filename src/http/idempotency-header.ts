/**
 * The `Idempotency-Key` header of write endpoints (API style: every write is idempotent by a
 * client-chosen key, kept at least 24 hours) and the `Idempotent-Replayed` answer header.
 * Routes read the key with {@link idempotencyKeyOf} and hand it to the domain, which stores the
 * first answer in the same transaction as the write.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { MainstayError } from '../errors/mainstay-error.ts';

export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';
export const IDEMPOTENT_REPLAYED_HEADER = 'Idempotent-Replayed';
export const IDEMPOTENCY_KEY_LENGTH_MAX = 255;

/** Printable ASCII without spaces at the ends: what survives every proxy unchanged. */
const KEY_PATTERN = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;

/** The request's idempotency key; `idempotency_key_missing` when absent or malformed. */
export function idempotencyKeyOf(request: FastifyRequest): string {
  const value = request.headers[IDEMPOTENCY_KEY_HEADER.toLowerCase()];
  if (typeof value !== 'string' || value.length === 0) {
    throw new MainstayError(
      'idempotency_key_missing',
      `this write needs an ${IDEMPOTENCY_KEY_HEADER} header`,
    );
  }
  if (value.length > IDEMPOTENCY_KEY_LENGTH_MAX || !KEY_PATTERN.test(value)) {
    throw new MainstayError(
      'idempotency_key_missing',
      `the ${IDEMPOTENCY_KEY_HEADER} header must be 1 to ${IDEMPOTENCY_KEY_LENGTH_MAX} printable ASCII characters`,
    );
  }
  return value;
}

/** Marks a response as the stored answer to an earlier request with the same key. */
export function markReplayed(reply: FastifyReply, replayed: boolean): void {
  if (replayed) reply.header(IDEMPOTENT_REPLAYED_HEADER, 'true');
}
