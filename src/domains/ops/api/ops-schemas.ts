/** The ops API's bodies and answers (decision 54), as JSON schemas for validation and OpenAPI. */
import { Type } from '@sinclair/typebox';
import { LiteralUnion, Nullable } from '../../../http/schemas/schema-helpers.ts';
import { RUN_STATUSES, STEP_STATUSES } from '../../../workflow/workflow-types.ts';

const Failure = Nullable(Type.Object({ code: Nullable(Type.String()), message: Type.String() }));

export const OpsStepSchema = Type.Object(
  {
    position: Type.Integer(),
    name: Type.String(),
    module: Type.String(),
    input: Type.Unknown(),
    status: LiteralUnion([...STEP_STATUSES]),
    phase: Nullable(
      Type.String({
        description: 'The phase last entered: preflight, execute, verify or compensate.',
      }),
    ),
    attempts: Type.Integer(),
    attemptsMax: Type.Integer(),
    approverRoles: Nullable(Type.Array(Type.String())),
    decidedBy: Nullable(Type.String()),
    decidedAt: Nullable(Type.String({ format: 'date-time' })),
    decisionReason: Nullable(Type.String()),
    output: Type.Unknown({ description: "What the module's execute returned." }),
    error: Failure,
    startedAt: Nullable(Type.String({ format: 'date-time' })),
    finishedAt: Nullable(Type.String({ format: 'date-time' })),
  },
  { $id: 'OpsStep', additionalProperties: false },
);

export const OpsRunSchema = Type.Object(
  {
    id: Type.String(),
    workflow: Type.String({
      description: 'The workflow, or `module:<name>` for one module run alone.',
    }),
    input: Type.Unknown(),
    status: LiteralUnion([...RUN_STATUSES]),
    startedBy: Type.String(),
    error: Failure,
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
    finishedAt: Nullable(Type.String({ format: 'date-time' })),
    steps: Type.Array(Type.Ref(OpsStepSchema)),
  },
  { $id: 'OpsRun', additionalProperties: false },
);

export const OpsRunPageSchema = Type.Object(
  {
    data: Type.Array(Type.Ref(OpsRunSchema)),
    hasMore: Type.Boolean(),
    nextCursor: Nullable(Type.String()),
  },
  { $id: 'OpsRunPage', additionalProperties: false },
);

export const OpsEventPageSchema = Type.Object(
  {
    data: Type.Array(
      Type.Object({
        seq: Type.Integer(),
        at: Type.String({ format: 'date-time' }),
        position: Nullable(Type.Integer()),
        kind: Type.String(),
        detail: Type.String(),
      }),
    ),
    runStatus: LiteralUnion([...RUN_STATUSES]),
  },
  { $id: 'OpsEventPage', additionalProperties: false },
);

export const OpsCatalogueSchema = Type.Object(
  {
    data: Type.Array(
      Type.Object({
        name: Type.String(),
        summary: Type.String(),
        inputSchema: Type.Unknown({ description: 'The JSON schema of the input.' }),
        steps: Type.Optional(
          Type.Array(
            Type.Object({
              name: Type.String(),
              module: Type.String(),
              approverRoles: Nullable(Type.Array(Type.String())),
            }),
          ),
        ),
        approverRoles: Type.Optional(Nullable(Type.Array(Type.String()))),
        attemptsMax: Type.Optional(Type.Integer()),
      }),
    ),
  },
  { $id: 'OpsCatalogue', additionalProperties: false },
);

export const StartRunBody = Type.Object(
  {
    workflow: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 100,
        description: 'A workflow (`GET /v1/ops/workflows`); or `module`.',
      }),
    ),
    module: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 100,
        description: 'One module run alone (`GET /v1/ops/modules`); or `workflow`.',
      }),
    ),
    input: Type.Record(Type.String(), Type.Unknown(), {
      description: "The workflow's (or module's) input.",
    }),
  },
  { $id: 'StartOpsRun', additionalProperties: false },
);

export const DecideBody = Type.Object(
  { reason: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })) },
  { $id: 'DecideOpsStep', additionalProperties: false },
);
