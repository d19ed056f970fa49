/**
 * The admission gate's response schemas (decision 55), checked against the core's types so the
 * two cannot drift. The request body is the core's own `ChangeRequestSchema`.
 */
import { type Static, Type } from '@sinclair/typebox';
import {
  assertType,
  type DeepMutable,
  type Equal,
  LiteralUnion,
  Nullable,
} from '../../../http/schemas/schema-helpers.ts';
import { ADMISSION_PATTERNS, type AdmissionDecision } from '../core/admission-decision.ts';
import type { AdmissionRecord } from '../core/admission-gate.ts';
import { ADMISSION_TRIGGERS, ChangeRequestSchema } from '../core/change-request.ts';
import { PATTERN_STATUSES } from '../core/finding.ts';

const Count = Type.Number({ minimum: 0 });

const TableFiguresSchema = Type.Object(
  {
    table: Type.String(),
    rowsRead: Count,
    rowsReadOnReplicas: Count,
    rowsWritten: Count,
    bytes: Count,
    largestShardBytes: Count,
    liveRows: Count,
    shards: Count,
    growthBytesPerDay: Nullable(Type.Number()),
    growthSince: Nullable(Type.String({ format: 'date-time' })),
    window: Nullable(
      Type.Object(
        {
          since: Type.String({ format: 'date-time' }),
          rowsRead: Count,
          rowsReadOnReplicas: Count,
          rowsWritten: Count,
        },
        { additionalProperties: false },
      ),
      { description: 'Rows read and written since the previous sample; `null` without one.' },
    ),
  },
  { additionalProperties: false },
);

const ReplicationLagSchema = Type.Object(
  {
    server: Type.String(),
    standby: Type.String(),
    kind: LiteralUnion(['physical', 'logical'] as const),
    lagBytes: Type.Number(),
    replayLagMs: Nullable(Type.Number()),
  },
  { additionalProperties: false },
);

const ThresholdsSchema = Type.Object(
  {
    readWriteRatioAbove: Type.Number(),
    readWriteRowsMin: Type.Number(),
    shardingBytesAbove: Type.Number(),
    shardingWritesPerSecondAbove: Type.Number(),
    growthHorizonDays: Type.Number(),
    growthSampleAgeSecondsMin: Type.Number(),
    activeActiveRtoSecondsMax: Type.Number(),
    bypassRtoSecondsBelow: Type.Number(),
    instancesPerDataCentreMin: Type.Number(),
  },
  { additionalProperties: false },
);

const FindingSchema = Type.Object(
  {
    subject: Nullable(Type.String(), { description: 'The table or service; `null`: the change.' }),
    status: LiteralUnion(PATTERN_STATUSES),
    reason: Type.String(),
  },
  { additionalProperties: false },
);

/** What the gate decided: the review, each trigger, each pattern, the figures cited. */
export const AdmissionDecisionSchema = Type.Object(
  {
    reviewRequired: Type.Boolean(),
    reviewReason: Type.String(),
    triggers: Type.Array(
      Type.Object(
        { trigger: LiteralUnion(ADMISSION_TRIGGERS), met: Type.Boolean(), reason: Type.String() },
        { additionalProperties: false },
      ),
    ),
    patterns: Type.Array(
      Type.Object(
        {
          pattern: LiteralUnion(ADMISSION_PATTERNS),
          status: LiteralUnion(PATTERN_STATUSES),
          findings: Type.Array(FindingSchema),
        },
        { additionalProperties: false },
      ),
    ),
    measured: Type.Object(
      {
        takenAt: Type.String({ format: 'date-time' }),
        serversRead: Type.Array(Type.String()),
        serversUnreachable: Type.Array(Type.String()),
        tables: Type.Array(TableFiguresSchema),
        replication: Type.Array(ReplicationLagSchema),
      },
      { additionalProperties: false },
    ),
    thresholds: ThresholdsSchema,
  },
  { $id: 'AdmissionDecision', additionalProperties: false },
);

/** A recorded decision with the change request it was taken on. */
export const AdmissionRequestSchema = Type.Object(
  {
    id: Type.String({ description: '`adm_…`, sortable by creation time.' }),
    createdAt: Type.String({ format: 'date-time' }),
    requestedBy: Type.String(),
    request: Type.Ref(ChangeRequestSchema),
    decision: Type.Ref(AdmissionDecisionSchema),
  },
  { $id: 'AdmissionRequest', additionalProperties: false },
);

/** A page of decisions, newest first. */
export const AdmissionPageSchema = Type.Object(
  {
    data: Type.Array(Type.Ref(AdmissionRequestSchema)),
    hasMore: Type.Boolean(),
    nextCursor: Nullable(Type.String()),
  },
  { $id: 'AdmissionRequestPage', additionalProperties: false },
);

/** The path parameter of one decision. */
export const AdmissionParams = Type.Object(
  { requestId: Type.String({ maxLength: 64 }) },
  { additionalProperties: false },
);

/** `limit` (1-100, 20) and `startingAfter`, as every list. */
export const AdmissionListQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
    startingAfter: Type.Optional(Type.String({ maxLength: 64 })),
  },
  { additionalProperties: false },
);

assertType<
  Equal<DeepMutable<AdmissionDecision>, DeepMutable<Static<typeof AdmissionDecisionSchema>>>
>(true);
assertType<Equal<keyof AdmissionRecord, keyof typeof AdmissionRequestSchema.properties>>(true);
