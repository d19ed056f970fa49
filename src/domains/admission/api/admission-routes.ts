/**
 * The admission gate over HTTP (decision 55): ask for a decision on a change request, read one
 * back, list them newest first. Deciding reads the fleet's statistics; a retry with the same
 * `Idempotency-Key` answers the first decision, not a new measurement.
 */
import type { FastifyInstance } from 'fastify';
import type { TokenMerger } from '../../../data/write-contract.ts';
import { requires } from '../../../http/access-control.ts';
import { problemResponses } from '../../../http/routes/problem-responses.ts';
import {
  answerWrite,
  IDEMPOTENCY_HEADER,
  json,
  ref,
  writeContextOf,
} from '../../../http/routes/route-helpers.ts';
import type { AdmissionGate } from '../core/admission-gate.ts';
import {
  ChangeRequestSchema,
  ChangeServiceSchema,
  ChangeTableSchema,
} from '../core/change-request.ts';
import {
  AdmissionDecisionSchema,
  AdmissionListQuery,
  AdmissionPageSchema,
  AdmissionParams,
  AdmissionRequestSchema,
} from './admission-schemas.ts';

/** What each admission route requires. */
export const ADMISSION_SCOPES: Readonly<Record<string, string>> = {
  'admission:read': "Read the admission gate's decisions on change requests.",
  'admission:manage': 'Submit change requests to the admission gate.',
};

const TAGS = ['admission'];

/**
 * Registers the admission routes on `app`. A decision is written to the catalog, not to a shard,
 * so a write answers the caller's own consistency token, checked by `tokens` (the router) before
 * anything is decided, so that a bad token records nothing.
 */
export function registerAdmissionRoutes(
  app: FastifyInstance,
  gate: AdmissionGate,
  tokens: TokenMerger | null,
): void {
  for (const schema of [
    ChangeTableSchema,
    ChangeServiceSchema,
    ChangeRequestSchema,
    AdmissionDecisionSchema,
    AdmissionRequestSchema,
    AdmissionPageSchema,
  ]) {
    app.addSchema(schema);
  }
  registerEvaluate(app, gate, tokens);
  registerGet(app, gate);
  registerList(app, gate);
}

/** `POST /v1/admission/requests`: the gate's decision, recorded once per idempotency key. */
function registerEvaluate(
  app: FastifyInstance,
  gate: AdmissionGate,
  tokens: TokenMerger | null,
): void {
  app.post<{ Body: unknown }>(
    '/v1/admission/requests',
    {
      schema: {
        security: requires('admission:manage'),
        summary: 'Ask the admission gate for a decision on a change request',
        description:
          "The gate reads the fleet's statistics (rows read and written per table on every server that serves it, sizes, growth, replication lag), decides which level-1 triggers the request meets and which data patterns the change must adopt, each with its reason, and records the decision. A malformed request is `invalid_request` (400) or `change_request_invalid` (422); nothing is recorded then.",
        tags: TAGS,
        headers: IDEMPOTENCY_HEADER,
        body: ref(ChangeRequestSchema),
        response: {
          201: json(AdmissionRequestSchema, 'The decision (also the answer to a retry).'),
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      const { idempotencyKey, token: callerToken } = writeContextOf(request);
      const token = callerToken && tokens ? tokens.mergeTokens(callerToken) : null;
      const requestedBy = request.principal?.subject ?? 'anonymous';
      const answer = await gate.evaluate(request.body, { requestedBy, idempotencyKey });
      answerWrite(reply, { token, replayed: answer.replayed }, 201);
      return answer.record;
    },
  );
}

/** `GET /v1/admission/requests/:requestId`. */
function registerGet(app: FastifyInstance, gate: AdmissionGate): void {
  app.get<{ Params: { requestId: string } }>(
    '/v1/admission/requests/:requestId',
    {
      schema: {
        security: requires('admission:read'),
        summary: 'One admission decision, with the request and the figures it cited',
        tags: TAGS,
        params: AdmissionParams,
        response: { 200: json(AdmissionRequestSchema, 'The decision.'), ...problemResponses },
      },
    },
    async (request) => gate.get(request.params.requestId),
  );
}

/** `GET /v1/admission/requests`: newest first, by cursor. */
function registerList(app: FastifyInstance, gate: AdmissionGate): void {
  app.get<{ Querystring: { limit?: number; startingAfter?: string } }>(
    '/v1/admission/requests',
    {
      schema: {
        security: requires('admission:read'),
        summary: 'Admission decisions, newest first',
        tags: TAGS,
        querystring: AdmissionListQuery,
        response: { 200: json(AdmissionPageSchema, 'A page of decisions.'), ...problemResponses },
      },
    },
    async (request) => gate.list(request.query.limit ?? 20, request.query.startingAfter ?? null),
  );
}
