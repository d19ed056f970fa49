/** Small pieces every domain route uses to point at shared schemas and headers. */
import type { FastifyReply } from 'fastify';
import { setConsistencyToken } from '../consistency-header.ts';
import { markReplayed } from '../idempotency-header.ts';

/** A `$ref` to a schema registered with `app.addSchema`, as Fastify resolves it. */
export const ref = (schema: { $id?: string }) => ({ $ref: `${schema.$id}#` });

/** A JSON response of a registered schema, for a route's `response` map. */
export const json = (schema: { $id?: string }, description: string) => ({
  description,
  content: { 'application/json': { schema: ref(schema) } },
});

/**
 * The `Idempotency-Key` request header of every write. The handler enforces it (so a missing key
 * is `idempotency_key_missing`, not a generic schema error); the schema documents it.
 */
export const IDEMPOTENCY_HEADER = {
  type: 'object',
  properties: {
    'idempotency-key': {
      type: 'string',
      minLength: 1,
      maxLength: 255,
      description:
        'Required. Client-chosen; a retry with the same key and body returns the first answer.',
    },
  },
} as const;

/**
 * Answers a write: its consistency token, `Idempotent-Replayed` on a replay, and the status
 * (`created` for a first answer, 200 for a replay).
 */
export function answerWrite(
  reply: FastifyReply,
  written: { readonly token: string | null; readonly replayed: boolean },
  created: number,
): void {
  if (written.token) setConsistencyToken(reply, written.token);
  markReplayed(reply, written.replayed);
  reply.code(written.replayed ? 200 : created);
}
