import { Type } from '@sinclair/typebox';
import { APPROVAL_STATUSES } from '../../approvals/approval-store.ts';
import { LiteralUnion, Nullable } from './schema-helpers.ts';

/** A sensitive request waiting for (or past) its checker. */
export const ApprovalRequestSchema = Type.Object(
  {
    id: Type.String(),
    action: Type.String({
      description: 'What kind of sensitive request (`reseed`, `role_grant`, ...).',
    }),
    approverRoles: Type.Array(Type.String(), {
      description: 'A checker needs one of these roles.',
    }),
    method: Type.String(),
    path: Type.String(),
    body: Type.Unknown({ description: 'The request body as the maker sent it.' }),
    requestedBy: Type.String(),
    requestedAt: Type.String({ format: 'date-time' }),
    expiresAt: Type.String({ format: 'date-time' }),
    status: LiteralUnion([...APPROVAL_STATUSES, 'expired']),
    decidedBy: Nullable(Type.String()),
    decidedAt: Nullable(Type.String({ format: 'date-time' })),
    reason: Nullable(Type.String()),
    result: Nullable(
      Type.Object(
        { status: Type.Integer(), body: Type.Unknown() },
        { description: 'What the request answered when it ran, once it ran.' },
      ),
    ),
    finishedAt: Nullable(Type.String({ format: 'date-time' })),
  },
  { $id: 'ApprovalRequest', additionalProperties: false },
);

export const ApprovalPageSchema = Type.Object(
  {
    data: Type.Array(Type.Ref(ApprovalRequestSchema)),
    hasMore: Type.Boolean(),
    nextCursor: Nullable(Type.String()),
  },
  { $id: 'ApprovalPage', additionalProperties: false },
);

export const RejectBody = Type.Object(
  { reason: Type.String({ minLength: 1, maxLength: 500 }) },
  { $id: 'RejectApproval', additionalProperties: false },
);
