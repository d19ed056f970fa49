/**
 * The RFC 9457 problem document every error response carries, whatever the endpoint. `code` is
 * an enum of the catalogue, so clients generated from the OpenAPI document can switch on it.
 */
import { type Static, Type } from '@sinclair/typebox';
import { type ErrorCode, errorCodes } from '../../errors/error-catalogue.ts';
import { LiteralUnion } from './schema-helpers.ts';

/** The media type of every error response (RFC 9457). */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

const FieldErrorSchema = Type.Object(
  {
    pointer: Type.String({ description: 'RFC 6901 JSON pointer to the invalid field.' }),
    detail: Type.String(),
  },
  { additionalProperties: false },
);

/**
 * A request that could not be processed, with `code` an enum of `codes`. Registered as a shared
 * schema when the server is built ({@link problemSchema}), so the enum holds the codes of every
 * module loaded by then, not only the platform's.
 */
function problemSchemaOf(codes: readonly ErrorCode[]) {
  return Type.Object(
    {
      type: Type.String({
        format: 'uri',
        description: '`https://mainstay.dev/errors/<code>`; documents the code.',
      }),
      title: Type.String({
        description: 'The catalogue title of `code`; the same for every occurrence.',
      }),
      status: Type.Integer({ minimum: 400, maximum: 599 }),
      detail: Type.String({ description: 'What went wrong with this request, for humans.' }),
      code: LiteralUnion(codes, { description: 'Stable code from the error catalogue.' }),
      errors: Type.Array(FieldErrorSchema, {
        description: 'One entry per invalid field; empty when the error is not about a field.',
      }),
    },
    { $id: PROBLEM_SCHEMA_ID, additionalProperties: false },
  );
}

/** The `$id` of the shared problem schema. */
export const PROBLEM_SCHEMA_ID = 'Problem';

/** The problem schema over every code registered now. */
export function problemSchema() {
  return problemSchemaOf(errorCodes());
}

/** The schema's shape (its `code` typed as any catalogue code). */
const ProblemSchema = problemSchemaOf([]);

/** An RFC 9457 problem document, as sent on the wire. */
export type Problem = Omit<Static<typeof ProblemSchema>, 'code'> & { code: ErrorCode };
