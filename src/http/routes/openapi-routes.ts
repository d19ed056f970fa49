/**
 * The OpenAPI 3.1 document at `GET /openapi.json` and the docs page at `GET /docs`. The document
 * is built from the same route schemas the server serializes with, so it cannot describe an API
 * other than the one running.
 */
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { problemResponses } from './problem-responses.ts';

/** Where the interactive docs live; its assets come from the npm package, not a CDN. */
const DOCS_PREFIX = '/docs';

/**
 * Registers `@fastify/swagger`. Must run before any route is added, since it collects routes as
 * they are registered. Shared schemas keep their `$id` as their component name, so clients
 * generated from the document get `TopologySnapshot` rather than `def-0`.
 */
export async function registerOpenApi(app: FastifyInstance, version: string): Promise<void> {
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Mainstay API',
        version,
        description: 'Errors are RFC 9457 problem documents; see docs/reference/errors.md.',
      },
    },
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) =>
        typeof json.$id === 'string' ? json.$id : `def-${i}`,
    },
  });
}

/** Registers `GET /openapi.json` and the docs page; call after {@link registerOpenApi}. */
export async function registerOpenApiRoutes(app: FastifyInstance): Promise<void> {
  app.get(
    '/openapi.json',
    {
      schema: {
        summary: 'This OpenAPI document',
        tags: ['platform'],
        response: {
          200: {
            description: 'The OpenAPI 3.1 document describing every endpoint.',
            content: {
              'application/json': { schema: { type: 'object', additionalProperties: true } },
            },
          },
          ...problemResponses,
        },
      },
    },
    async () => app.swagger(),
  );
  await app.register(fastifySwaggerUi, { routePrefix: DOCS_PREFIX });
}
