/**
 * Wires {@link problemFromError} into Fastify, so every failure a client can see, including an
 * unknown route and a URL Fastify cannot even route, is an `application/problem+json` document.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isMainstayError } from '../errors/mainstay-error.ts';
import { AllowedMethods } from './allowed-methods.ts';
import { problemFor, problemFromError } from './problem.ts';
import { PROBLEM_CONTENT_TYPE, type Problem } from './schemas/problem-schema.ts';
import { urlFaultOf } from './storable-text.ts';
import { urlTextError } from './text-guard.ts';

/**
 * How long a client should wait before retrying a `429` or `503`: the faults behind them (a
 * failover, a server still starting) are expected to clear within seconds.
 */
export const RETRY_AFTER_SECONDS = 1;

/** Statuses that tell the client to come back later, and so carry `Retry-After`. */
const RETRY_LATER_STATUSES: ReadonlySet<number> = new Set([429, 503]);

/**
 * Sends `problem` with its status, media type and, where it applies, `Retry-After`: the one
 * already set by what refused the request (a rate limit knows when its window ends), else
 * {@link RETRY_AFTER_SECONDS}.
 */
export function sendProblem(reply: FastifyReply, problem: Problem): FastifyReply {
  if (RETRY_LATER_STATUSES.has(problem.status) && !reply.hasHeader('retry-after')) {
    reply.header('retry-after', String(RETRY_AFTER_SECONDS));
  }
  return reply.code(problem.status).type(PROBLEM_CONTENT_TYPE).send(problem);
}

/**
 * Answers `error` with its problem and logs it: faults at `error` with the full error, since the
 * client only sees a generic detail; client mistakes at `info`, since they are not ours to fix.
 * An id that carries a bucket the shard map does not have cannot name anything that exists, so
 * it is a 404 like any other unknown id, whichever route it reached (the router's message about
 * buckets is internal).
 */
export function handleError(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const problem = isMainstayError(error, 'invalid_shard_key')
    ? problemFor('resource_not_found', `No resource matches the id in ${pathOf(request.url)}.`)
    : problemFromError(error);
  if (problem.status >= 500) {
    request.log.error({ err: error, code: problem.code }, 'request failed');
  } else {
    request.log.info({ err: error, code: problem.code }, 'request rejected');
  }
  sendProblem(reply, problem);
}

/**
 * Fastify's `frameworkErrors` handler, for errors raised before routing, so they do not get
 * Fastify's own JSON body. A URL the router cannot decode is `invalid_text` when its bytes are
 * not UTF-8 (or hold U+0000), like the same text anywhere else in a request.
 */
export function handleFrameworkError(
  error: unknown,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  const fault = urlFaultOf(request.url);
  handleError(fault === null ? error : urlTextError(fault), request, reply);
}

/**
 * Installs the error and not-found handlers on `app` (its root scope, so they cover plugins),
 * and records every route's methods so that a known path with a wrong method is a 405 with
 * `Allow`, not a 404. Call it before any route is added.
 */
export function registerProblemHandlers(app: FastifyInstance): void {
  const allowed = new AllowedMethods();
  app.addHook('onRoute', allowed.record);
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((request, reply) => {
    const path = pathOf(request.url);
    const methods = allowed.forPath(path);
    if (methods.length > 0) {
      reply.header('allow', methods.join(', '));
      sendProblem(
        reply,
        problemFor(
          'method_not_allowed',
          `${request.method} is not allowed on ${path}; it accepts ${methods.join(', ')}.`,
        ),
      );
      return;
    }
    sendProblem(
      reply,
      problemFor('route_not_found', `No endpoint matches ${request.method} ${path}.`),
    );
  });
}

/** The path without its query string, which may carry tokens that have no place in a response. */
function pathOf(url: string): string {
  const queryStart = url.indexOf('?');
  return queryStart === -1 ? url : url.slice(0, queryStart);
}
