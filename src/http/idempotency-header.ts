/**
 * The `Idempotency-Key` header of write endpoints (API style: every write is idempotent by a
 * client-chosen key, kept at least 24 hours) and the `Idempotent-Replayed` answer header.
 * A write route declares {@link IdempotencyKeyHeaders} as its `headers` schema; that one
 * declaration documents the header as required in the OpenAPI document and, through
 * {@link requireIdempotencyKeys}, has the key checked with precise codes before schema
 * validation. Handlers read it with {@link idempotencyKeyOf} and hand it to the domain, which
 * stores the first answer in the same transaction as the write.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest, onRequestHookHandler, RouteOptions } from 'fastify';
import { MainstayError } from '../errors/mainstay-error.ts';

export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';
export const IDEMPOTENT_REPLAYED_HEADER = 'Idempotent-Replayed';
export const IDEMPOTENCY_KEY_LENGTH_MAX = 255;
const HEADER_NAME = IDEMPOTENCY_KEY_HEADER.toLowerCase();

/** Printable ASCII without spaces at the ends: what survives every proxy unchanged. */
const KEY_PATTERN = '^[\\x21-\\x7e](?:[\\x20-\\x7e]*[\\x21-\\x7e])?$';
const KEY_REGEXP = new RegExp(KEY_PATTERN);

/** The `headers` schema of every write route: the key, required. */
export const IdempotencyKeyHeaders = Type.Object(
  {
    [HEADER_NAME]: Type.String({
      minLength: 1,
      maxLength: IDEMPOTENCY_KEY_LENGTH_MAX,
      pattern: KEY_PATTERN,
      description:
        `Client-chosen, 1 to ${IDEMPOTENCY_KEY_LENGTH_MAX} printable ASCII characters: a retry ` +
        'with the same key and body returns the first answer, with its status, and ' +
        '`Idempotent-Replayed: true`. Missing: `idempotency_key_missing`; empty or malformed: ' +
        '`idempotency_key_invalid`.',
    }),
  },
  { required: [HEADER_NAME] },
);

/**
 * The request's idempotency key: `idempotency_key_missing` when absent,
 * `idempotency_key_invalid` when empty, too long, or not printable ASCII (which also keeps
 * U+0000 and bytes that are not UTF-8 out of the key's column).
 */
export function idempotencyKeyOf(request: FastifyRequest): string {
  const checked = checkKey(request.headers[HEADER_NAME]);
  if (checked instanceof MainstayError) throw checked;
  return checked;
}

/** The key in `value`, or the error that says why it is not one. */
function checkKey(value: string | string[] | undefined): string | MainstayError {
  if (value === undefined) {
    return new MainstayError(
      'idempotency_key_missing',
      `this write needs an ${IDEMPOTENCY_KEY_HEADER} header`,
    );
  }
  if (typeof value !== 'string' || value.length === 0) {
    return new MainstayError(
      'idempotency_key_invalid',
      `the ${IDEMPOTENCY_KEY_HEADER} header is empty; send 1 to ${IDEMPOTENCY_KEY_LENGTH_MAX} printable ASCII characters`,
    );
  }
  if (value.length > IDEMPOTENCY_KEY_LENGTH_MAX || !KEY_REGEXP.test(value)) {
    return new MainstayError(
      'idempotency_key_invalid',
      `the ${IDEMPOTENCY_KEY_HEADER} header must be 1 to ${IDEMPOTENCY_KEY_LENGTH_MAX} printable ASCII characters, without spaces at either end`,
    );
  }
  return value;
}

/**
 * An `onRoute` hook: every route whose `headers` schema requires the key gets it checked before
 * validation, so a missing or malformed key is its own code rather than a generic schema error.
 */
export function requireIdempotencyKeys(route: RouteOptions): void {
  if (!requiresKey(route.schema?.headers)) return;
  const current = route.onRequest;
  const hooks = current === undefined ? [] : Array.isArray(current) ? current : [current];
  route.onRequest = [...hooks, checkIdempotencyKey];
}

const checkIdempotencyKey: onRequestHookHandler = (request, _reply, done) => {
  const checked = checkKey(request.headers[HEADER_NAME]);
  done(checked instanceof MainstayError ? checked : undefined);
};

function requiresKey(headers: unknown): boolean {
  if (headers === null || typeof headers !== 'object' || !('required' in headers)) return false;
  const { required } = headers;
  return Array.isArray(required) && required.includes(HEADER_NAME);
}

/** Marks a response as the stored answer to an earlier request with the same key. */
export function markReplayed(reply: FastifyReply, replayed: boolean): void {
  if (replayed) reply.header(IDEMPOTENT_REPLAYED_HEADER, 'true');
}
