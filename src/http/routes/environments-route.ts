/**
 * Environments over HTTP: isolated two-DC fleets with their own API, created under the home of
 * the process that supervises the fleet (decision 56). Only that process offers these routes.
 */

import type { FastifyInstance } from 'fastify';
import type { EnvironmentOperations } from '../../environments/environment-operations.ts';
import { requires } from '../access-control.ts';
import { idempotencyKeyOf, markReplayed } from '../idempotency-header.ts';
import {
  type CreateEnvironmentBody,
  CreateEnvironmentBodySchema,
  ENVIRONMENT_PAGE_SIZE_DEFAULT,
  type EnvironmentListQuery,
  EnvironmentListQuerySchema,
  EnvironmentPageSchema,
  type EnvironmentParams,
  EnvironmentParamsSchema,
  EnvironmentSchema,
} from '../schemas/environments-schema.ts';
import { problemResponses } from './problem-responses.ts';
import { IDEMPOTENCY_HEADER, json } from './route-helpers.ts';

/**
 * A creation may build the template first (about half a minute, once per home and schema);
 * past this the client gets `503` and retries with the same key.
 */
export const CREATE_HANDLER_TIMEOUT_MS = 5 * 60_000;
/** Stopping an environment waits for its servers to shut down cleanly. */
export const DESTROY_HANDLER_TIMEOUT_MS = 2 * 60_000;

/** Registers `POST /v1/environments`, `GET /v1/environments`, `DELETE /v1/environments/{name}`. */
export function registerEnvironmentRoutes(
  app: FastifyInstance,
  environments: EnvironmentOperations,
): void {
  app.addSchema(EnvironmentSchema);
  app.addSchema(EnvironmentPageSchema);
  registerCreate(app, environments);
  registerList(app, environments);
  registerDestroy(app, environments);
}

function registerCreate(app: FastifyInstance, environments: EnvironmentOperations): void {
  app.post<{ Body: CreateEnvironmentBody }>(
    '/v1/environments',
    {
      handlerTimeout: CREATE_HANDLER_TIMEOUT_MS,
      schema: {
        security: requires('ops:manage'),
        summary: 'Create an environment',
        description:
          'Creates an isolated environment under the home of the supervising process: its own ' +
          'two-DC fleet (a copy of a template fleet made once per home), schema migrated, demo ' +
          'credentials (and the demo data set when `demo` is true), and its own API, running ' +
          'in the background. Answers once the environment serves, with its URL. ' +
          '`409 environment_exists` when the name is taken; `500 server_start_failed` when it ' +
          'did not come up (nothing is left behind).',
        tags: ['environments'],
        headers: IDEMPOTENCY_HEADER,
        body: CreateEnvironmentBodySchema,
        response: {
          201: json(EnvironmentSchema, 'The environment, running.'),
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      const key = idempotencyKeyOf(request);
      const body = { name: request.body.name, demo: request.body.demo ?? false };
      const answer = await environments.create(body, key);
      markReplayed(reply, answer.replayed);
      reply.code(201);
      return answer.environment;
    },
  );
}

function registerList(app: FastifyInstance, environments: EnvironmentOperations): void {
  app.get<{ Querystring: EnvironmentListQuery }>(
    '/v1/environments',
    {
      schema: {
        security: requires('platform:read'),
        summary: 'List environments',
        description: 'The environments under the home of the supervising process, by name.',
        tags: ['environments'],
        querystring: EnvironmentListQuerySchema,
        response: {
          200: json(EnvironmentPageSchema, 'A page of environments.'),
          ...problemResponses,
        },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? ENVIRONMENT_PAGE_SIZE_DEFAULT;
      const after = request.query.startingAfter;
      const all = (await environments.list()).filter((env) => !after || env.name > after);
      const data = all.slice(0, limit);
      const hasMore = all.length > limit;
      return { data, hasMore, nextCursor: hasMore ? (data.at(-1)?.name ?? null) : null };
    },
  );
}

function registerDestroy(app: FastifyInstance, environments: EnvironmentOperations): void {
  app.delete<{ Params: EnvironmentParams }>(
    '/v1/environments/:name',
    {
      handlerTimeout: DESTROY_HANDLER_TIMEOUT_MS,
      schema: {
        security: requires('ops:manage'),
        summary: 'Destroy an environment',
        description:
          'Stops its API and every one of its PostgreSQL servers, and deletes its home. ' +
          '`404 environment_not_found` for an unknown name.',
        tags: ['environments'],
        params: EnvironmentParamsSchema,
        response: {
          200: {
            description: 'Destroyed: `{ "name": ..., "deleted": true }`.',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  properties: { name: { type: 'string' }, deleted: { type: 'boolean' } },
                  required: ['name', 'deleted'],
                  additionalProperties: false,
                },
              },
            },
          },
          ...problemResponses,
        },
      },
    },
    async (request) => {
      await environments.destroy(request.params.name);
      return { name: request.params.name, deleted: true };
    },
  );
}
