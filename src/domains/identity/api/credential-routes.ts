/**
 * API clients and API keys over HTTP (scope `identity:admin`): create (the secret in the
 * answer, once for a key), list without secrets, revoke.
 */
import type { FastifyInstance } from 'fastify';
import { requires } from '../../../http/access-control.ts';
import { problemResponses } from '../../../http/routes/problem-responses.ts';
import {
  answered,
  IDEMPOTENCY_HEADER,
  json,
  ref,
  writeContextOf,
} from '../../../http/routes/route-helpers.ts';
import type { CredentialService } from '../core/credential-service.ts';
import {
  ApiClientPageSchema,
  ApiClientSchema,
  ApiKeyPageSchema,
  ApiKeySchema,
  ClientIdParams,
  CreateCredentialBody,
  CreatedApiClientSchema,
  CreatedApiKeySchema,
  KeyIdParams,
  ListQuery,
} from './credential-schemas.ts';

type CreateBody = { name: string; scopes: string[] };
type ListQueryType = { limit?: number; startingAfter?: string };

const ADMIN = requires('identity:admin');

/** The two kinds, with their paths, schemas and words. */
const KINDS = [
  {
    kind: 'client' as const,
    path: '/v1/api-clients',
    param: 'clientId',
    params: ClientIdParams,
    record: ApiClientSchema,
    created: CreatedApiClientSchema,
    page: ApiClientPageSchema,
    noun: 'API client',
    createDescription:
      'The answer holds the client secret; a retry with the same key answers the same secret. Get tokens with POST /oauth/token (grant_type=client_credentials, scope=...).',
  },
  {
    kind: 'api_key' as const,
    path: '/v1/api-keys',
    param: 'keyId',
    params: KeyIdParams,
    record: ApiKeySchema,
    created: CreatedApiKeySchema,
    page: ApiKeyPageSchema,
    noun: 'API key',
    createDescription:
      'The answer holds the key, once: it is stored only as a hash, and a retry answers `apiKey: null`. Send it as Authorization: Bearer <key>.',
  },
];

/** Registers the credential routes on `app`. */
export function registerCredentialRoutes(app: FastifyInstance, credentials: CredentialService) {
  for (const schema of [
    CreateCredentialBody,
    ...KINDS.flatMap((k) => [k.record, k.created, k.page]),
  ])
    app.addSchema(schema);
  for (const spec of KINDS) {
    createRoute(app, credentials, spec);
    listRoute(app, credentials, spec);
    revokeRoute(app, credentials, spec);
  }
}

type Spec = (typeof KINDS)[number];

function createRoute(app: FastifyInstance, credentials: CredentialService, spec: Spec) {
  app.post<{ Body: CreateBody }>(
    spec.path,
    {
      schema: {
        security: ADMIN,
        summary: `Create an ${spec.noun}`,
        description: spec.createDescription,
        tags: ['identity'],
        headers: IDEMPOTENCY_HEADER,
        body: ref(CreateCredentialBody),
        response: { 201: json(spec.created, `The new ${spec.noun}.`), ...problemResponses },
      },
    },
    async (request, reply) => {
      const context = writeContextOf(request);
      if (spec.kind === 'client')
        return answered(reply, await credentials.createClient(request.body, context), 201);
      return answered(reply, await credentials.createApiKey(request.body, context), 201);
    },
  );
}

function listRoute(app: FastifyInstance, credentials: CredentialService, spec: Spec) {
  app.get<{ Querystring: ListQueryType }>(
    spec.path,
    {
      schema: {
        security: ADMIN,
        summary: `List ${spec.noun}s, oldest first, without secrets`,
        tags: ['identity'],
        querystring: ListQuery,
        response: { 200: json(spec.page, `A page of ${spec.noun}s.`), ...problemResponses },
      },
    },
    async (request) =>
      credentials.list(spec.kind, request.query.limit ?? 20, request.query.startingAfter ?? null),
  );
}

function revokeRoute(app: FastifyInstance, credentials: CredentialService, spec: Spec) {
  app.post<{ Params: Record<string, string> }>(
    `${spec.path}/:${spec.param}/revoke`,
    {
      schema: {
        security: ADMIN,
        summary: `Revoke an ${spec.noun}`,
        description:
          spec.kind === 'client'
            ? 'No new tokens are issued to it; tokens already issued expire within their lifetime (minutes).'
            : 'Refused within seconds by every API process (each keeps a verdict at most 5 s). Revoking twice answers the same record.',
        tags: ['identity'],
        headers: IDEMPOTENCY_HEADER,
        params: spec.params,
        response: { 200: json(spec.record, `The revoked ${spec.noun}.`), ...problemResponses },
      },
    },
    async (request, reply) => {
      const id = request.params[spec.param] as string;
      return answered(reply, await credentials.revoke(spec.kind, id, writeContextOf(request)), 200);
    },
  );
}
