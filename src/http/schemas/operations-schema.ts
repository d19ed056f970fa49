/**
 * Schemas of the operations endpoints: the re-seed request (validated without type coercion,
 * unknown fields rejected) and its report, checked at compile time against the fleet's type.
 */
import { type Static, Type } from '@sinclair/typebox';
import { RESEED_OUTCOMES, type ReseedReport, type ShardReseed } from '../../fleet/dc-reseed.ts';
import type { TableComparison } from '../../fleet/dc-reseed-compare.ts';
import {
  assertType,
  type DeepMutable,
  type Equal,
  LiteralUnion,
  Nullable,
} from './schema-helpers.ts';

/** Longest data-centre id accepted; ids are short names from the config file. */
export const DATA_CENTRE_ID_LENGTH_MAX = 64;

/** `POST /v1/operations/reseed` body. */
export const ReseedBodySchema = Type.Object(
  {
    dataCentre: Type.String({
      minLength: 1,
      maxLength: DATA_CENTRE_ID_LENGTH_MAX,
      pattern: '^[A-Za-z0-9_-]+$',
      description: 'The returning data centre, as named in the config file (`dc1`).',
    }),
  },
  { additionalProperties: false },
);
export type ReseedBody = Static<typeof ReseedBodySchema>;

const Count = Type.Integer({ minimum: 0 });

const TableComparisonSchema = Type.Object(
  {
    table: Type.String({ description: 'Table of schema `public`, quoted as SQL needs it.' }),
    rowsPreserved: Count,
    rowsOnHome: Count,
    hasPrimaryKey: Type.Boolean(),
    rowsInTailWindow: Count,
    rowsMissingOnHome: Count,
    rowsDifferentOnHome: Count,
    missingKeysSample: Type.Array(Type.String()),
    truncated: Type.Boolean(),
  },
  { additionalProperties: false },
);

const ShardReseedSchema = Type.Object(
  {
    shardId: Count,
    database: Type.String(),
    homeDc: Type.String(),
    homeServer: Type.String(),
    formerRole: LiteralUnion(['home', 'copy'] as const),
    preservedAs: Type.String({ description: 'Where the returning database is kept.' }),
    tables: Type.Array(TableComparisonSchema),
    rowsMissingOnHome: Count,
  },
  { additionalProperties: false },
);

/** What a re-seed did: the copies compared, kept and re-seeded. */
export const ReseedReportSchema = Type.Object(
  {
    dataCentre: Type.String(),
    outcome: LiteralUnion(RESEED_OUTCOMES),
    detail: Type.String(),
    epoch: Nullable(Count),
    lossEpoch: Nullable(Count),
    tailWindowStart: Nullable(Type.String({ format: 'date-time' })),
    primary: Nullable(Type.String()),
    replica: Nullable(Type.String()),
    replicaRebuilt: Type.Boolean(),
    shards: Type.Array(ShardReseedSchema),
    startedAt: Type.String({ format: 'date-time' }),
    finishedAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'ReseedReport', additionalProperties: false },
);

assertType<Equal<Static<typeof TableComparisonSchema>, DeepMutable<TableComparison>>>(true);
assertType<Equal<Static<typeof ShardReseedSchema>, DeepMutable<ShardReseed>>>(true);
assertType<Equal<Static<typeof ReseedReportSchema>, DeepMutable<ReseedReport>>>(true);
