/**
 * The OpenAPI 3.1 document at `GET /openapi.json` and the docs page at `GET /docs`. The document
 * is built from the same route schemas the server serializes with, so it cannot describe an API
 * other than the one running.
 */
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { PUBLIC, SECURITY_SCHEMES } from '../access-control.ts';
import { problemResponses } from './problem-responses.ts';

/** Where the interactive docs live; its assets come from the npm package, not a CDN. */
const DOCS_PREFIX = '/docs';

/**
 * Registers `@fastify/swagger`. Must run before any route is added, since it collects routes as
 * they are registered. Shared schemas keep their `$id` as their component name, so clients
 * generated from the document get `TopologySnapshot` rather than `def-0`.
 */
export async function registerOpenApi(
  app: FastifyInstance,
  version: string,
  scopes: Readonly<Record<string, string>>,
): Promise<void> {
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Mainstay API',
        version,
        description:
          'Errors are RFC 9457 problem documents; see docs/reference/errors.md. Every route but ' +
          '/health and /openapi.json needs a bearer credential holding its scope: an access ' +
          'token from POST /oauth/token (OAuth2 client credentials) or an API key.',
      },
      components: { securitySchemes: securitySchemes(scopes) },
    },
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) =>
        typeof json.$id === 'string' ? json.$id : `def-${i}`,
    },
  });
}

/** The two ways to send a credential; both go in `Authorization: Bearer`. */
function securitySchemes(scopes: Readonly<Record<string, string>>) {
  return {
    [SECURITY_SCHEMES.oauth2]: {
      type: 'oauth2' as const,
      description: 'Short-lived signed access tokens (JWT), verified without a round trip.',
      flows: { clientCredentials: { tokenUrl: '/oauth/token', scopes: { ...scopes } } },
    },
    [SECURITY_SCHEMES.apiKey]: {
      type: 'http' as const,
      scheme: 'bearer',
      bearerFormat: 'Mainstay API key (mainstay_ak_...), revocable, shown once',
    },
  };
}

/** Registers `GET /openapi.json` and the docs page; call after {@link registerOpenApi}. */
export async function registerOpenApiRoutes(app: FastifyInstance): Promise<void> {
  app.get(
    '/openapi.json',
    {
      schema: {
        security: PUBLIC,
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
