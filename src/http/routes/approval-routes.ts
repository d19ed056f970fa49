/**
 * `/v1/approvals`: the sensitive requests waiting for a checker, and the decisions on them.
 * Approving answers `202`: the request then runs once, in the background; poll it until its
 * status is `executed` or `failed`, with the answer it gave in `result`.
 */
import type { FastifyInstance } from 'fastify';
import type { Principal } from '../../access/principal.ts';
import {
  type ApprovalStatus,
  type ApprovalStore,
  publicOf,
  type StoredApproval,
} from '../../approvals/approval-store.ts';
import { MainstayError } from '../../errors/mainstay-error.ts';
import { requires } from '../access-control.ts';
import {
  ApprovalPageSchema,
  ApprovalRequestSchema,
  RejectBody,
} from '../schemas/approval-schema.ts';
import { problemResponses } from './problem-responses.ts';
import { IDEMPOTENCY_HEADER, json, ref } from './route-helpers.ts';

/** What the routes need of the gate: its store, and deciding (which runs an approval). */
export interface ApprovalDecisions {
  readonly store: ApprovalStore;
  decide(
    checker: Principal,
    id: string,
    decision: 'approved' | 'rejected',
    reason: string | null,
  ): Promise<StoredApproval>;
}

const Params = {
  type: 'object',
  properties: { approvalId: { type: 'string', maxLength: 64 } },
  required: ['approvalId'],
  additionalProperties: false,
} as const;

/** Registers the approval routes. */
export function registerApprovalRoutes(app: FastifyInstance, gate: ApprovalDecisions): void {
  app.addSchema(ApprovalPageSchema);
  app.addSchema(RejectBody);
  app.get<{
    Querystring: { status?: ApprovalStatus | 'expired'; limit?: number; startingAfter?: string };
  }>(
    '/v1/approvals',
    {
      schema: {
        security: requires('approvals:read'),
        summary: 'Approval requests, newest first',
        tags: ['approvals'],
        querystring: {
          type: 'object',
          properties: {
            status: {
              type: 'string',
              enum: ['pending', 'approved', 'rejected', 'executed', 'failed', 'expired'],
            },
            limit: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
            startingAfter: { type: 'string', maxLength: 64 },
          },
          additionalProperties: false,
        },
        response: { 200: json(ApprovalPageSchema, 'A page of requests.'), ...problemResponses },
      },
    },
    async (request) =>
      gate.store.list(
        request.query.status ?? null,
        request.query.limit ?? 20,
        request.query.startingAfter ?? null,
      ),
  );
  app.get<{ Params: { approvalId: string } }>(
    '/v1/approvals/:approvalId',
    {
      schema: {
        security: requires('approvals:read'),
        summary: 'One approval request, with its result once it ran',
        tags: ['approvals'],
        params: Params,
        response: { 200: json(ApprovalRequestSchema, 'The request.'), ...problemResponses },
      },
    },
    async (request) => publicOf(await gate.store.get(request.params.approvalId)),
  );
  registerDecision(app, gate, 'approve');
  registerDecision(app, gate, 'reject');
}

function registerDecision(
  app: FastifyInstance,
  gate: ApprovalDecisions,
  verb: 'approve' | 'reject',
) {
  app.post<{ Params: { approvalId: string }; Body: { reason?: string } }>(
    `/v1/approvals/:approvalId/${verb}`,
    {
      schema: {
        security: requires('approvals:decide'),
        summary:
          verb === 'approve' ? 'Approve: the request then runs once' : 'Reject, with a reason',
        description:
          "Only a member of staff other than the maker, holding one of the request's approver roles, may decide (`403 approval_self`, `403 approval_role_missing`); an expired request cannot be approved (`409 approval_expired`). Deciding again the same way answers the request as it stands.",
        tags: ['approvals'],
        headers: IDEMPOTENCY_HEADER,
        params: Params,
        ...(verb === 'reject' ? { body: ref(RejectBody) } : {}),
        response: {
          [verb === 'approve' ? 202 : 200]: json(ApprovalRequestSchema, 'The request.'),
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      const checker = request.principal;
      if (!checker) throw new MainstayError('unauthenticated', 'a decision needs a checker');
      const decision = verb === 'approve' ? 'approved' : 'rejected';
      const approval = await gate.decide(
        checker,
        request.params.approvalId,
        decision,
        request.body?.reason ?? null,
      );
      reply.code(verb === 'approve' ? 202 : 200);
      return publicOf(approval);
    },
  );
}
