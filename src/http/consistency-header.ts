/**
 * The `Mainstay-Consistency-Token` header on the HTTP edge: a request that carries it (sent back
 * by a client, or forwarded by another service) has it on `request.consistencyToken` for the
 * route to pass to the router's reads; a write route hands its result's token to
 * {@link setConsistencyToken}, which puts it on the response. The router verifies tokens, so a
 * malformed or forged header becomes a `400 consistency_token_invalid` problem at the first read.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CONSISTENCY_TOKEN_HEADER, TOKEN_LENGTH_MAX } from '../data/consistency-token.ts';
import { type ReadScope, runInReadScope } from '../data/read-scope.ts';
import type { ConsistencyLevel } from '../data/router-options.ts';
import { MainstayError } from '../errors/mainstay-error.ts';

/** Request header choosing a read route's level, among those the route allows (decision 36). */
export const READ_CONSISTENCY_HEADER = 'Mainstay-Read-Consistency';
/** Response header of a read route: the ids of the servers that served its reads. */
export const SERVED_BY_HEADER = 'Mainstay-Served-By';

declare module 'fastify' {
  interface FastifyRequest {
    /** The request's consistency token, or `null` when it sent none. */
    consistencyToken: string | null;
    /** On a read route: the level asked and the servers that answered; else `null`. */
    readScope: ReadScope | null;
  }
  interface FastifyContextConfig {
    /** The read levels a client may choose with `Mainstay-Read-Consistency` (a read route). */
    readLevels?: readonly ConsistencyLevel[];
  }
}

/**
 * What a read route adds to its options: the levels it allows (in `config`), and the request
 * and response headers for its schema (the OpenAPI document). The check itself runs in the
 * `onRequest` hook of {@link registerConsistencyHeader}, before schema validation, so a bad
 * value is `read_consistency_invalid`.
 *
 * @example
 * const read = readRoute(['primary', 'session']);
 * app.get('/v1/x/:id', { config: read.config, schema: { headers: read.headers, ... } }, handler);
 */
export function readRoute(levels: readonly ConsistencyLevel[]) {
  return {
    config: { readLevels: levels },
    headers: {
      type: 'object',
      properties: {
        [READ_CONSISTENCY_HEADER.toLowerCase()]: {
          type: 'string',
          enum: [...levels],
          description:
            'The read level: `primary` (the shard primary), `session` (default: a replica that has ' +
            'replayed your token and every write of the key any API process made lately), `bounded` ' +
            '(a replica at most 1 s behind), `any` (any replica). Another value is ' +
            '`400 read_consistency_invalid`.',
        },
      },
    },
  } as const;
}

/** The `Mainstay-Served-By` header, for a read route's success response in the OpenAPI document. */
export const SERVED_BY_RESPONSE_HEADER = {
  [SERVED_BY_HEADER.toLowerCase()]: {
    type: 'string',
    description:
      'Ids of the servers that served the reads (e.g. `dc1-b`), comma-separated, in order; ' +
      'absent when nothing was read from a server.',
  },
} as const;

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
  app.decorateRequest('readScope', null);
  // A callback hook, so that the rest of the request runs inside the scope it opens.
  app.addHook('onRequest', (request, _reply, done) => {
    const levels = request.routeOptions.config.readLevels;
    if (!levels) {
      done();
      return;
    }
    let scope: ReadScope;
    try {
      scope = { consistency: askedLevel(request, levels), servedBy: [] };
    } catch (error) {
      done(error as Error);
      return;
    }
    request.readScope = scope;
    runInReadScope(scope, () => done());
  });
  app.addHook('onSend', (request, reply, payload, done) => {
    const served = request.readScope?.servedBy;
    if (served && served.length > 0) reply.header(SERVED_BY_HEADER, served.join(', '));
    done(null, payload);
  });
}

/** The level the request chose (`null`: the route's own), or `read_consistency_invalid`. */
function askedLevel(
  request: FastifyRequest,
  levels: readonly ConsistencyLevel[],
): ConsistencyLevel | null {
  const value = request.headers[READ_CONSISTENCY_HEADER.toLowerCase()];
  if (value === undefined) return null;
  const level = levels.find((allowed) => allowed === value);
  if (level === undefined) {
    const shown = Array.isArray(value) ? 'several values' : `"${value.slice(0, 40)}"`;
    throw new MainstayError(
      'read_consistency_invalid',
      `${READ_CONSISTENCY_HEADER} must be one of ${levels.join(', ')} on this route, got ${shown}`,
      {
        errors: [
          {
            pointer: `/headers/${READ_CONSISTENCY_HEADER.toLowerCase()}`,
            detail: `must be one of ${levels.join(', ')}`,
          },
        ],
      },
    );
  }
  return level;
}

/**
 * Puts a write's token on the response, for the client to send with its next reads; none when
 * the write has none (nothing written, no token sent).
 */
export function setConsistencyToken(reply: FastifyReply, token: string | null): void {
  if (token !== null) reply.header(CONSISTENCY_TOKEN_HEADER, token);
}
