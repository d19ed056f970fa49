/**
 * Wires {@link problemFromError} into Fastify, so every failure a client can see, including an
 * unknown route and a URL Fastify cannot even route, is an `application/problem+json` document.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { problemFor, problemFromError } from './problem.ts';
import { PROBLEM_CONTENT_TYPE, type Problem } from './schemas/problem-schema.ts';

/**
 * How long a client should wait before retrying a `429` or `503`: the faults behind them (a
 * failover, a server still starting) are expected to clear within seconds.
 */
export const RETRY_AFTER_SECONDS = 1;

/** Statuses that tell the client to come back later, and so carry `Retry-After`. */
const RETRY_LATER_STATUSES: ReadonlySet<number> = new Set([429, 503]);

/** Sends `problem` with its status, media type and, where it applies, `Retry-After`. */
export function sendProblem(reply: FastifyReply, problem: Problem): FastifyReply {
  if (RETRY_LATER_STATUSES.has(problem.status)) {
    reply.header('retry-after', String(RETRY_AFTER_SECONDS));
  }
  return reply.code(problem.status).type(PROBLEM_CONTENT_TYPE).send(problem);
}

/**
 * Answers `error` with its problem and logs it: faults at `error` with the full error, since the
 * client only sees a generic detail; client mistakes at `info`, since they are not ours to fix.
 * Also Fastify's `frameworkErrors` handler, so errors raised before routing (a URL that is not
 * valid percent-encoding) do not get Fastify's own JSON body.
 */
export function handleError(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const problem = problemFromError(error);
  if (problem.status >= 500) {
    request.log.error({ err: error, code: problem.code }, 'request failed');
  } else {
    request.log.info({ err: error, code: problem.code }, 'request rejected');
  }
  sendProblem(reply, problem);
}

/** Installs the error and not-found handlers on `app` (its root scope, so they cover plugins). */
export function registerProblemHandlers(app: FastifyInstance): void {
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((request, reply) => {
    sendProblem(
      reply,
      problemFor(
        'route_not_found',
        `No endpoint matches ${request.method} ${pathOf(request.url)}.`,
      ),
    );
  });
}

/** The path without its query string, which may carry tokens that have no place in a response. */
function pathOf(url: string): string {
  const queryStart = url.indexOf('?');
  return queryStart === -1 ? url : url.slice(0, queryStart);
}
