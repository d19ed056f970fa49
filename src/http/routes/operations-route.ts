/**
 * Operator workflows over HTTP, so that `mainstay reseed` (or any tool) can drive the running
 * platform, which owns the fleet's servers, instead of opening a second supervisor.
 */

import type { FastifyInstance } from 'fastify';
import type { ApprovalStore } from '../../approvals/approval-store.ts';
import type { ReseedReport } from '../../fleet/dc-reseed.ts';
import type { StreamTopic } from '../../platform/stream-topic.ts';
import { requires } from '../access-control.ts';
import {
  type ReseedBody,
  ReseedBodySchema,
  ReseedReportSchema,
} from '../schemas/operations-schema.ts';
import { problemResponses } from './problem-responses.ts';
import { IDEMPOTENCY_HEADER } from './route-helpers.ts';

/**
 * A re-seed waits for initial copies of whole shards, which takes far longer than the server's
 * default handler bound; past this the client gets `503` and may call again (it resumes).
 */
export const RESEED_HANDLER_TIMEOUT_MS = 15 * 60_000;

/** What the operations routes drive; the platform passes the fleet's workflows. */
export interface Operations {
  /** Re-seeds a returning data centre's copies (see `reseedDataCentre`). */
  reseed(dataCentre: string): Promise<ReseedReport>;
  /** Root-secret rotation, step by step (add, then promote); absent where not offered. */
  readonly rootSecrets?: {
    add(): Promise<string>;
    promote(rootId: string): Promise<void>;
  };
}

/** Who may approve an operation: a re-seed, any approver; a key rotation, another admin. */
export const RESEED_APPROVAL = { action: 'reseed', approverRoles: ['approver', 'admin'] } as const;
export const ROOT_SECRET_APPROVAL = { action: 'key_rotation', approverRoles: ['admin'] } as const;

/** Of how many of the newest approval requests the `reseeds` topic picks the re-seeds. */
const RESEEDS_TOPIC_WINDOW = 50;
/** How many re-seed requests the `reseeds` topic carries. */
const RESEEDS_TOPIC_LIMIT = 10;

/**
 * The live topic `reseeds`: the newest re-seed requests (among the newest approval requests),
 * whatever their status, so that a page follows one from waiting for its checker to the report
 * it answered once it ran. Read with the scope of `GET /v1/approvals`.
 */
export function reseedsTopic(approvals: ApprovalStore): StreamTopic {
  return {
    scope: 'approvals:read',
    intervalMs: 1_000,
    async read() {
      const page = await approvals.list(null, RESEEDS_TOPIC_WINDOW, null);
      const data = page.data.filter((request) => request.action === RESEED_APPROVAL.action);
      return { data: data.slice(0, RESEEDS_TOPIC_LIMIT) };
    },
  };
}

/**
 * Registers `POST /v1/operations/reseed`. No `Idempotency-Key`: the operation is idempotent by
 * nature (a repeated call finds nothing quarantined and answers `nothing_to_do`; a call after a
 * failed one continues where it stopped).
 */
export function registerOperationsRoutes(app: FastifyInstance, operations: Operations): void {
  app.addSchema(ReseedReportSchema);
  app.post<{ Body: ReseedBody }>(
    '/v1/operations/reseed',
    {
      handlerTimeout: RESEED_HANDLER_TIMEOUT_MS,
      config: { approval: RESEED_APPROVAL },
      schema: {
        security: requires('ops:manage'),
        summary: "Re-seed a returning data centre's shard copies",
        description:
          'After a data-centre loss moved its shards home to the other data centre, and its ' +
          'servers were started again (fenced, read-only): keeps each quarantined copy under ' +
          '`<database>_lost_e<epoch>` with figures of what it holds that the home lacks, ' +
          're-seeds a fresh copy from the current home, waits until it caught up, then lifts ' +
          'the fences and the quarantine in one catalog change. Homes are not moved back. ' +
          'Idempotent without a key: when nothing is quarantined the outcome is `nothing_to_do`. ' +
          'Maker-checker: the call answers `202` with an approval request, and runs once another ' +
          'person with the approver or admin role approves it (POST /v1/approvals/{id}/approve). ' +
          '`409 state_conflict` when a precondition fails (nothing was changed); ' +
          '`503 reseed_incomplete` when it stopped part-way (call again to continue).',
        tags: ['operations'],
        body: ReseedBodySchema,
        response: {
          200: {
            description: 'The re-seed report.',
            content: {
              'application/json': { schema: { $ref: `${ReseedReportSchema.$id}#` } },
            },
          },
          ...problemResponses,
        },
      },
    },
    async (request) => operations.reseed(request.body.dataCentre),
  );
  if (operations.rootSecrets) registerRootSecretRoutes(app, operations.rootSecrets);
}

const RootIdParams = {
  type: 'object',
  properties: { rootId: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } },
  required: ['rootId'],
  additionalProperties: false,
} as const;

/**
 * Root-secret rotation (the keys of every purpose derive from it): add a new root (accepted,
 * not yet used to sign), restart or reload every process, then promote it. Each step is
 * maker-checker between two admins.
 */
function registerRootSecretRoutes(
  app: FastifyInstance,
  rootSecrets: NonNullable<Operations['rootSecrets']>,
): void {
  const ok = (description: string) => ({
    description,
    content: { 'application/json': { schema: { type: 'object', additionalProperties: true } } },
  });
  app.post(
    '/v1/operations/root-secrets',
    {
      config: { approval: ROOT_SECRET_APPROVAL },
      schema: {
        security: requires('ops:secrets'),
        summary: 'Add a new root secret (rotation, step 1)',
        tags: ['operations'],
        headers: IDEMPOTENCY_HEADER,
        response: { 201: ok('The new root id: `{ "rootId": ... }`.'), ...problemResponses },
      },
    },
    async (_request, reply) => {
      reply.code(201);
      return { rootId: await rootSecrets.add() };
    },
  );
  app.post<{ Params: { rootId: string } }>(
    '/v1/operations/root-secrets/:rootId/promote',
    {
      config: { approval: ROOT_SECRET_APPROVAL },
      schema: {
        security: requires('ops:secrets'),
        summary: 'Make a root secret the current one (rotation, step 2)',
        tags: ['operations'],
        headers: IDEMPOTENCY_HEADER,
        params: RootIdParams,
        response: { 200: ok('`{ "rootId": ..., "current": true }`.'), ...problemResponses },
      },
    },
    async (request) => {
      await rootSecrets.promote(request.params.rootId);
      return { rootId: request.params.rootId, current: true };
    },
  );
}
