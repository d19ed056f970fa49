/**
 * The `Mainstay-Consistency-Token` header on the HTTP edge: a request that carries it (sent back
 * by a client, or forwarded by another service) has it on `request.consistencyToken` for the
 * route to pass to the router's reads; a write route hands its result's token to
 * {@link setConsistencyToken}, which puts it on the response. The router verifies tokens, so a
 * malformed or forged header becomes a `400 consistency_token_invalid` problem at the first read.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { CONSISTENCY_TOKEN_HEADER, TOKEN_LENGTH_MAX } from '../data/consistency-token.ts';
import { MainstayError } from '../errors/mainstay-error.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The request's consistency token, or `null` when it sent none. */
    consistencyToken: string | null;
  }
}

/** Reads the header into `request.consistencyToken` on every request. */
export function registerConsistencyHeader(app: FastifyInstance): void {
  app.decorateRequest('consistencyToken', null);
  app.addHook('onRequest', async (request) => {
    const value = request.headers[CONSISTENCY_TOKEN_HEADER.toLowerCase()];
    if (value === undefined) return;
    if (Array.isArray(value) || value.length === 0 || value.length > TOKEN_LENGTH_MAX) {
      throw new MainstayError(
        'consistency_token_invalid',
        `send one ${CONSISTENCY_TOKEN_HEADER} header of at most ${TOKEN_LENGTH_MAX} characters`,
      );
    }
    request.consistencyToken = value;
  });
}

/** Puts a write's token on the response, for the client to send with its next reads. */
export function setConsistencyToken(reply: FastifyReply, token: string): void {
  reply.header(CONSISTENCY_TOKEN_HEADER, token);
}
