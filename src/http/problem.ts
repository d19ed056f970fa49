/**
 * Maps anything a request can fail with onto an RFC 9457 problem from the error catalogue. Kept
 * apart from Fastify's hooks so the mapping is a pure function of the error.
 */
import { type ErrorCode, errorSpecOf } from '../errors/error-catalogue.ts';
import { type FieldError, isMainstayError } from '../errors/mainstay-error.ts';
import type { Problem } from './schemas/problem-schema.ts';

/** Prefix of every problem `type`; the code's entry in the errors reference lives under it. */
export const PROBLEM_TYPE_BASE_URI = 'https://mainstay.dev/errors/';

/** The only detail an unexpected fault shows: its message may name hosts, paths or SQL. */
const INTERNAL_ERROR_DETAIL = 'An unexpected error occurred. It has been logged.';

/** Fastify's own client-error codes and the catalogue code each one means to a client. */
const FASTIFY_CODES: Readonly<Record<string, ErrorCode>> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'malformed_json',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'malformed_json',
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_NOT_FOUND: 'route_not_found',
  FST_ERR_HANDLER_TIMEOUT: 'service_unavailable',
};

/** Builds the problem for `code`, taking status and title from the catalogue. */
export function problemFor(
  code: ErrorCode,
  detail: string,
  errors: readonly FieldError[] = [],
): Problem {
  const { status, title } = errorSpecOf(code);
  return {
    type: `${PROBLEM_TYPE_BASE_URI}${code}`,
    title,
    status,
    detail,
    code,
    errors: errors.map(({ pointer, detail }) => ({ pointer, detail })),
  };
}

/**
 * The problem to answer `error` with. Only a {@link MainstayError} or Fastify's own request
 * errors reach the client with their message; everything else is `internal_error`, because a
 * message nobody wrote for clients may leak internals. Fastify client errors without a mapping
 * become `invalid_request`, since bad input must never look like a server fault.
 */
export function problemFromError(error: unknown): Problem {
  if (isMainstayError(error)) {
    if (error.code === 'internal_error') return problemFor('internal_error', INTERNAL_ERROR_DETAIL);
    return problemFor(error.code, error.message, error.errors);
  }
  const fastifyError = asFastifyError(error);
  if (fastifyError === undefined) return problemFor('internal_error', INTERNAL_ERROR_DETAIL);
  if (fastifyError.validation !== undefined) {
    return problemFor(
      'invalid_request',
      fastifyError.message,
      validationFieldErrors(fastifyError.validation, fastifyError.validationContext),
    );
  }
  const mapped = FASTIFY_CODES[fastifyError.code];
  if (mapped !== undefined) return problemFor(mapped, fastifyError.message);
  if (fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    return problemFor('invalid_request', fastifyError.message);
  }
  return problemFor('internal_error', INTERNAL_ERROR_DETAIL);
}

/** One Ajv error as Fastify reports it on a validation failure. */
interface ValidationIssue {
  readonly keyword: string;
  readonly instancePath: string;
  readonly params: Record<string, unknown>;
  readonly message?: string;
}

interface FastifyRequestError {
  readonly code: string;
  readonly statusCode: number;
  readonly message: string;
  readonly validation?: readonly ValidationIssue[];
  readonly validationContext?: string;
}

/** Fastify's request errors all carry an `FST_` code and a numeric status. */
function asFastifyError(error: unknown): FastifyRequestError | undefined {
  if (!(error instanceof Error)) return undefined;
  const { code, statusCode } = error as Error & { code?: unknown; statusCode?: unknown };
  if (typeof code !== 'string' || !code.startsWith('FST_')) return undefined;
  if (typeof statusCode !== 'number') return undefined;
  return error as Error & FastifyRequestError;
}

/**
 * One field error per Ajv error. Pointers into the body are plain RFC 6901 pointers (`/amount`);
 * for the query string, path parameters and headers the pointer starts with Fastify's name for
 * that part (`/querystring/limit`), since those are not JSON documents of their own.
 */
function validationFieldErrors(
  issues: readonly ValidationIssue[],
  context: string | undefined,
): FieldError[] {
  const root = context === undefined || context === 'body' ? '' : `/${context}`;
  return issues.map((issue) => {
    const missing = issue.params.missingProperty;
    if (typeof missing === 'string') {
      return {
        pointer: `${root}${issue.instancePath}/${escapePointer(missing)}`,
        detail: 'is required',
      };
    }
    const extra = issue.params.additionalProperty;
    if (issue.keyword === 'additionalProperties' && typeof extra === 'string') {
      return {
        pointer: `${root}${issue.instancePath}/${escapePointer(extra)}`,
        detail: 'is not allowed',
      };
    }
    return { pointer: `${root}${issue.instancePath}`, detail: issue.message ?? 'is invalid' };
  });
}

/** RFC 6901 escaping for one reference token. */
function escapePointer(token: string): string {
  return token.replaceAll('~', '~0').replaceAll('/', '~1');
}
