/** Small pieces every domain route uses to point at shared schemas and headers. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { WriteAnswer, WriteContext } from '../../data/write-contract.ts';
import { setConsistencyToken } from '../consistency-header.ts';
import { IdempotencyKeyHeaders, idempotencyKeyOf, markReplayed } from '../idempotency-header.ts';

/** A `$ref` to a schema registered with `app.addSchema`, as Fastify resolves it. */
export const ref = (schema: { $id?: string }) => ({ $ref: `${schema.$id}#` });

/** A JSON response of a registered schema, for a route's `response` map. */
export const json = (schema: { $id?: string }, description: string) => ({
  description,
  content: { 'application/json': { schema: ref(schema) } },
});

/** The `Idempotency-Key` request header of every write: required, checked before validation. */
export const IDEMPOTENCY_HEADER = IdempotencyKeyHeaders;

/**
 * Answers a write: its consistency token, `Idempotent-Replayed` on a replay, and `status`. A
 * replay answers with the status of the first answer, which for a write route is always its one
 * success status (the idempotency record stores it too): a client that retries a create gets
 * 201 again, never a 201 from one route and a 200 from another.
 */
export function answerWrite(
  reply: FastifyReply,
  written: { readonly token: string | null; readonly replayed: boolean },
  status: number,
): void {
  setConsistencyToken(reply, written.token);
  markReplayed(reply, written.replayed);
  reply.code(status);
}

/**
 * A write's context from its request: the `Idempotency-Key` and the caller's consistency token,
 * which the write merges into the one it answers (so chained writes keep read-your-writes).
 */
export function writeContextOf(request: FastifyRequest): WriteContext {
  return { idempotencyKey: idempotencyKeyOf(request), token: request.consistencyToken };
}

/** {@link answerWrite}, then the write's value as the body. */
export function answered<T>(reply: FastifyReply, written: WriteAnswer<T>, status: number): T {
  answerWrite(reply, written, status);
  return written.value;
}
