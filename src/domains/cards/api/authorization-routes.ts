/**
 * Authorizations: `POST /v1/authorizations` decides one request (through the engine, or stand-in
 * when the issuer path is down or overloaded), then capture and reversal move its hold. A decline
 * is a normal answer whose `status` and `responseCode` (ISO 8583) say why; problems are for
 * requests that cannot be processed at all.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { WriteAnswer, WriteContext } from '../../../data/write-contract.ts';
import { requires } from '../../../http/access-control.ts';
import { readRoute, SERVED_BY_RESPONSE_HEADER } from '../../../http/consistency-header.ts';
import { problemResponses } from '../../../http/routes/problem-responses.ts';
import {
  answerWrite,
  IDEMPOTENCY_HEADER,
  json,
  ref,
  writeContextOf,
} from '../../../http/routes/route-helpers.ts';
import { assertKnownCurrency } from '../../../http/schemas/money-schema.ts';
import type { HoldChangeResult } from '../core/authorization/authorization-service.ts';
import type {
  AuthorizationOutcome,
  AuthorizationRequest,
} from '../core/authorization/authorization-types.ts';
import {
  AuthorizationRequestBody,
  type AuthorizationRequestJson,
  AuthorizationSchema,
  authorizationRequestOf,
  authorizationToJson,
  HoldActionBody,
  ID_PATTERN,
} from './schemas/authorization-schema.ts';

/** What the authorization routes call; the entry point wires the engine and stand-in behind it. */
export interface AuthorizationApi {
  /** Decides `request`; the answer's token covers `callerToken` too (the one write contract). */
  authorize(
    request: AuthorizationRequest,
    callerToken: string | null,
  ): Promise<WriteAnswer<AuthorizationOutcome>>;
  getAuthorization(id: string, token: string | null): Promise<AuthorizationOutcome>;
  capture(id: string, amount: bigint | null, context: WriteContext): Promise<HoldChangeResult>;
  reverse(id: string, amount: bigint | null, context: WriteContext): Promise<HoldChangeResult>;
}

/** An authorization is read at `session` (default) or from its primary. */
const AUTHORIZATION_READ = readRoute(['primary', 'session']);

const AuthorizationIdParams = Type.Object(
  { authorizationId: Type.String({ pattern: ID_PATTERN('auth') }) },
  { additionalProperties: false },
);

/** Registers the authorization routes on `app`. */
export function registerAuthorizationRoutes(app: FastifyInstance, api: AuthorizationApi): void {
  for (const schema of [AuthorizationRequestBody, AuthorizationSchema, HoldActionBody]) {
    app.addSchema(schema);
  }
  registerAuthorize(app, api);
  registerGetAuthorization(app, api);
  for (const action of ['capture', 'reversal'] as const) registerHoldAction(app, api, action);
}

/** `POST /v1/authorizations`: decides one request; a decline is an answer, not a problem. */
function registerAuthorize(app: FastifyInstance, api: AuthorizationApi): void {
  app.post<{ Body: AuthorizationRequestJson }>(
    '/v1/authorizations',
    {
      schema: {
        security: requires('cards:authorize'),
        summary: 'Authorize a card payment',
        description:
          "Creates a hold against the account's available credit when approved. Idempotent by " +
          '`requestId` (unique per card): a retry returns the first outcome with ' +
          '`Idempotent-Replayed: true`; the same `requestId` with other fields is 409 ' +
          '`idempotency_key_reused`. `decidedBy: "stand_in"` marks a decision taken while the ' +
          'issuer path was down or overloaded; it is forwarded as an advice and reconciled.',
        tags: ['authorizations'],
        body: ref(AuthorizationRequestBody),
        response: {
          201: json(
            AuthorizationSchema,
            'The decision (approved or declined); a retry gets the first outcome, also 201.',
          ),
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      const body = request.body;
      assertKnownCurrency(body.currency);
      const answer = await api.authorize(authorizationRequestOf(body), request.consistencyToken);
      answerWrite(reply, answer, 201);
      return authorizationToJson(answer.value);
    },
  );
}

/** `GET /v1/authorizations/:authorizationId`: the authorization and its hold, stand-in or not. */
function registerGetAuthorization(app: FastifyInstance, api: AuthorizationApi): void {
  app.get<{ Params: { authorizationId: string } }>(
    '/v1/authorizations/:authorizationId',
    {
      config: AUTHORIZATION_READ.config,
      schema: {
        security: requires('cards:read'),
        summary: 'An authorization and its hold',
        description:
          'An authorization id is derived from the card and the request id, so every path ' +
          '(issuer, stand-in in any API process, a replay) names the same one. For a stand-in ' +
          'decision (`decidedBy: "stand_in"`): while its advice waits to be forwarded, the ' +
          "decision as given (from any API process); once applied, the issuer's record; a " +
          'quarantined advice is 404 with a detail. Captures and reversals of a stand-in id ' +
          "put the decision on the issuer's books first.",
        tags: ['authorizations'],
        params: AuthorizationIdParams,
        headers: AUTHORIZATION_READ.headers,
        response: {
          200: {
            ...json(AuthorizationSchema, 'The authorization.'),
            headers: SERVED_BY_RESPONSE_HEADER,
          },
          ...problemResponses,
        },
      },
    },
    async (request) =>
      authorizationToJson(
        await api.getAuthorization(request.params.authorizationId, request.consistencyToken),
      ),
  );
}

/** `POST /v1/authorizations/:authorizationId/capture` or `/reversal`: all or part of the hold. */
function registerHoldAction(
  app: FastifyInstance,
  api: AuthorizationApi,
  action: 'capture' | 'reversal',
): void {
  app.post<{ Params: { authorizationId: string }; Body: { amount?: number } }>(
    `/v1/authorizations/:authorizationId/${action}`,
    {
      schema: {
        security: requires('cards:authorize'),
        summary:
          action === 'capture'
            ? 'Capture (post) all or part of the hold'
            : 'Reverse (release) all or part of the hold',
        description:
          'Without `amount`, all that is still held. Several partial captures and reversals ' +
          'may follow each other; the hold closes at zero. More than is held is 422 ' +
          '`invalid_amount`; a hold that is not open is 409 `state_conflict`.',
        tags: ['authorizations'],
        headers: IDEMPOTENCY_HEADER,
        params: AuthorizationIdParams,
        body: ref(HoldActionBody),
        response: {
          200: json(AuthorizationSchema, 'The authorization after the change.'),
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      const context = writeContextOf(request);
      const amount = request.body?.amount === undefined ? null : BigInt(request.body.amount);
      const { authorizationId } = request.params;
      const changed =
        action === 'capture'
          ? await api.capture(authorizationId, amount, context)
          : await api.reverse(authorizationId, amount, context);
      answerWrite(reply, changed, 200);
      return authorizationToJson(changed.value);
    },
  );
}
