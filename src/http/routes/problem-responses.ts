/**
 * The error responses every route documents. Each route lists them in its own schema so the
 * OpenAPI document shows clients, per operation, that failures are problem documents.
 */
import { PROBLEM_CONTENT_TYPE, PROBLEM_SCHEMA_ID } from '../schemas/problem-schema.ts';

/** A `$ref` to the shared problem schema, as Fastify resolves shared schemas. */
const problemRef = { $ref: `${PROBLEM_SCHEMA_ID}#` };

/** Response schemas for `4xx` and `5xx`, served as `application/problem+json`. */
export const problemResponses = {
  '4xx': {
    description: 'The request cannot be processed; `code` says why.',
    content: { [PROBLEM_CONTENT_TYPE]: { schema: problemRef } },
  },
  '5xx': {
    description: 'A fault on our side, or a component is unavailable (with `Retry-After`).',
    content: { [PROBLEM_CONTENT_TYPE]: { schema: problemRef } },
  },
} as const;
