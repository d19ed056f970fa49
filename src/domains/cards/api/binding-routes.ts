/**
 * Card binding over HTTP: payment users and the bank cards they bind. Writes take an
 * `Idempotency-Key` and answer with a `Mainstay-Consistency-Token`; reads pass the request's
 * token on, so a client reads its own writes from any API instance.
 */

import type { FastifyInstance } from 'fastify';
import { requires } from '../../../http/access-control.ts';
import { readRoute, SERVED_BY_RESPONSE_HEADER } from '../../../http/consistency-header.ts';
import { problemResponses } from '../../../http/routes/problem-responses.ts';
import { answered, writeContextOf } from '../../../http/routes/route-helpers.ts';
import type { CardBindingService } from '../core/binding/binding-service.ts';
import {
  BINDING_SHARED_SCHEMAS,
  type BindCardBody,
  BindCardBodySchema,
  BoundCardListSchema,
  BoundCardSchema,
  type CardListQuery,
  CardListQuerySchema,
  type CardParams,
  CardParamsSchema,
  type CreateUserBody,
  CreateUserBodySchema,
  IdempotencyHeadersSchema,
  PaymentUserSchema,
  type UserParams,
  UserParamsSchema,
} from './schemas/binding-schema.ts';

const TAGS = ['card binding'];

/** A user and the bound-card list may be read at any level. */
const USER_READ = readRoute(['primary', 'session', 'bounded', 'any']);

/** A JSON response whose schema is a shared schema, referred to by its `$id`. */
function jsonResponse(description: string, schema: { $id?: string }) {
  if (schema.$id === undefined) throw new Error('a shared response schema needs an $id');
  return { description, content: { 'application/json': { schema: { $ref: `${schema.$id}#` } } } };
}

/** The headers every write answers with, documented on its success response. */
const WRITE_RESPONSE_HEADERS = {
  'mainstay-consistency-token': {
    type: 'string',
    description: 'Send it with later reads (from any API instance) to read this write.',
  },
  'idempotent-replayed': {
    type: 'string',
    enum: ['true'],
    description: 'Present when this is the stored answer to an earlier request with the same key.',
  },
} as const;

/** A write's success response: the shared schema plus the write headers. */
function writeResponse(description: string, schema: { $id?: string }) {
  return { ...jsonResponse(description, schema), headers: WRITE_RESPONSE_HEADERS };
}

/**
 * Registers the card binding routes and their shared schemas on `app`. The entry point passes
 * it to `buildHttpServer({ routes: [(app) => registerBindingRoutes(app, service)] })`.
 */
export function registerBindingRoutes(app: FastifyInstance, service: CardBindingService): void {
  for (const schema of BINDING_SHARED_SCHEMAS) app.addSchema(schema);
  registerUserRoutes(app, service);
  registerCardWriteRoutes(app, service);
  app.get<{ Params: UserParams; Querystring: CardListQuery }>(
    '/v1/users/:userId/cards',
    {
      config: USER_READ.config,
      schema: {
        security: requires('cards:users:read'),
        summary: "List a user's bound cards",
        description:
          'Active cards, newest first, with cursor pagination. Served by a replica that has ' +
          'replayed the `Mainstay-Consistency-Token` sent, so a card just bound is listed.',
        tags: TAGS,
        params: UserParamsSchema,
        querystring: CardListQuerySchema,
        headers: USER_READ.headers,
        response: {
          200: {
            ...jsonResponse('A page of bound cards.', BoundCardListSchema),
            headers: SERVED_BY_RESPONSE_HEADER,
          },
          ...problemResponses,
        },
      },
    },
    async (request) =>
      service.listCards(request.params.userId, {
        limit: request.query.limit,
        startingAfter: request.query.startingAfter,
        token: request.consistencyToken,
      }),
  );
}

function registerUserRoutes(app: FastifyInstance, service: CardBindingService): void {
  app.post<{ Body: CreateUserBody }>(
    '/v1/users',
    {
      schema: {
        security: requires('cards:users:write'),
        summary: 'Create a payment user',
        tags: TAGS,
        headers: IdempotencyHeadersSchema,
        body: CreateUserBodySchema,
        response: { 201: writeResponse('The user.', PaymentUserSchema), ...problemResponses },
      },
    },
    async (request, reply) => {
      const written = await service.createUser(request.body, writeContextOf(request));
      return answered(reply, written, 201);
    },
  );
  app.get<{ Params: UserParams }>(
    '/v1/users/:userId',
    {
      config: USER_READ.config,
      schema: {
        security: requires('cards:users:read'),
        summary: 'Get a payment user',
        tags: TAGS,
        params: UserParamsSchema,
        headers: USER_READ.headers,
        response: {
          200: {
            ...jsonResponse('The user.', PaymentUserSchema),
            headers: SERVED_BY_RESPONSE_HEADER,
          },
          ...problemResponses,
        },
      },
    },
    async (request) => service.getUser(request.params.userId, { token: request.consistencyToken }),
  );
}

function registerCardWriteRoutes(app: FastifyInstance, service: CardBindingService): void {
  registerBindRoute(app, service);
  registerDefaultAndUnbindRoutes(app, service);
}

function registerBindRoute(app: FastifyInstance, service: CardBindingService): void {
  app.post<{ Params: UserParams; Body: BindCardBody }>(
    '/v1/users/:userId/cards',
    {
      schema: {
        security: requires('cards:users:write'),
        summary: 'Bind a card to a user',
        description:
          'Checks the number (Luhn, brand), seals it in the vault and answers the binding ' +
          "with the brand and last four digits only. The user's first card is the default. " +
          'The same card bound again is `409 card_already_bound`.',
        tags: TAGS,
        headers: IdempotencyHeadersSchema,
        params: UserParamsSchema,
        body: BindCardBodySchema,
        response: { 201: writeResponse('The bound card.', BoundCardSchema), ...problemResponses },
      },
    },
    async (request, reply) => {
      const { userId } = request.params;
      return answered(
        reply,
        await service.bindCard(userId, request.body, writeContextOf(request)),
        201,
      );
    },
  );
}

function registerDefaultAndUnbindRoutes(app: FastifyInstance, service: CardBindingService): void {
  app.post<{ Params: CardParams }>(
    '/v1/users/:userId/cards/:cardId/default',
    {
      schema: {
        security: requires('cards:users:write'),
        summary: "Make a card the user's default",
        tags: TAGS,
        headers: IdempotencyHeadersSchema,
        params: CardParamsSchema,
        response: {
          200: writeResponse('The card, now default.', BoundCardSchema),
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      const { userId, cardId } = request.params;
      const written = await service.setDefaultCard(userId, cardId, writeContextOf(request));
      return answered(reply, written, 200);
    },
  );
  app.delete<{ Params: CardParams }>(
    '/v1/users/:userId/cards/:cardId',
    {
      schema: {
        security: requires('cards:users:write'),
        summary: 'Unbind a card',
        description:
          'A soft delete: the card is `unbound`, kept for audit, and its sealed number erased. ' +
          'Unbinding the default makes the most recently bound remaining card the default. ' +
          'Unbinding an unbound card answers it unchanged.',
        tags: TAGS,
        headers: IdempotencyHeadersSchema,
        params: CardParamsSchema,
        response: { 200: writeResponse('The unbound card.', BoundCardSchema), ...problemResponses },
      },
    },
    async (request, reply) => {
      const { userId, cardId } = request.params;
      const written = await service.unbindCard(userId, cardId, writeContextOf(request));
      return answered(reply, written, 200);
    },
  );
}
