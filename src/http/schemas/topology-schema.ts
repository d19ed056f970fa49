/**
 * Response schema of `GET /v1/topology`. One definition serves both Fastify's serializer and the
 * OpenAPI document; the checks at the bottom fail compilation if it drifts from
 * {@link TopologySnapshot}.
 */
import { type Static, Type } from '@sinclair/typebox';
import type { TopologySnapshot } from '../../fleet/topology-snapshot.ts';
import { COPY_STATES, LOGICAL_REPLICATION_STATES } from '../../topology/copy-state.ts';
import { SERVER_ROLES } from '../../topology/server-role.ts';
import { SERVER_STATES } from '../../topology/server-state.ts';
import {
  assertType,
  type DeepMutable,
  type Equal,
  LiteralUnion,
  Nullable,
} from './schema-helpers.ts';

const ServerStateSchema = LiteralUnion(SERVER_STATES, {
  description:
    '`up` answers queries; `down` died or does not answer; `stopped` was stopped on purpose.',
});

const LsnSchema = Type.String({
  pattern: '^[0-9A-F]+/[0-9A-F]+$',
  description: "An LSN in PostgreSQL's text form, e.g. `0/3000148`.",
});

const ServerStatusSchema = Type.Object(
  {
    id: Type.String(),
    dc: Nullable(Type.String(), { description: 'Data centre; `null` for the witness.' }),
    role: LiteralUnion(SERVER_ROLES),
    host: Type.String(),
    port: Type.Integer({ minimum: 1, maximum: 65535 }),
    state: ServerStateSchema,
    pid: Nullable(Type.Integer(), {
      description: 'Postmaster process id when Mainstay supervises it.',
    }),
    lastWalLsn: Nullable(LsnSchema, {
      description: 'Primary and witness: current WAL insert LSN. Replica: last replayed LSN.',
    }),
    replayLagBytes: Nullable(Type.Integer({ minimum: 0 }), {
      description: "Replica only: how far replay trails its primary's current WAL position.",
    }),
    replayLagMs: Nullable(Type.Number({ minimum: 0 }), { description: 'Replica only.' }),
    streamingState: Nullable(Type.String(), { description: 'Replica only: walsender state.' }),
    detail: Nullable(Type.String(), { description: 'Why the server is not `up`, when known.' }),
    fencedAtEpoch: Nullable(Type.Integer({ minimum: 1 }), {
      description: 'Catalog epoch at which the server was fenced; nothing is routed to it.',
    }),
  },
  { additionalProperties: false },
);

/**
 * An inclusive `[first, last]` bucket range. Written as a plain array with a fixed length rather
 * than `Type.Tuple`, whose draft-07 `items: [...]` is invalid in OpenAPI 3.1 and whose
 * `prefixItems` replacement fast-json-stringify does not understand.
 */
const BucketRangeSchema = Type.Unsafe<[number, number]>(
  Type.Array(Type.Integer({ minimum: 0 }), {
    minItems: 2,
    maxItems: 2,
    description: 'Inclusive `[first, last]` bucket range.',
  }),
);

const ShardStatusSchema = Type.Object(
  {
    id: Type.Integer(),
    database: Type.String(),
    homeDc: Type.String(),
    copyDc: Type.String(),
    buckets: Type.Array(BucketRangeSchema),
    copyState: LiteralUnion(COPY_STATES, {
      description: '`detached` or `quarantined` after a DC failover, until the copy is re-seeded.',
    }),
    logicalReplication: Type.Object(
      {
        subscription: Type.String(),
        state: LiteralUnion(LOGICAL_REPLICATION_STATES),
        lagBytes: Nullable(Type.Integer({ minimum: 0 }), {
          description: 'Publisher WAL not yet confirmed by the copy.',
        }),
        detail: Nullable(Type.String()),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

const DataCentreStatusSchema = Type.Object(
  {
    id: Type.String(),
    synchronousCommit: Type.String(),
    primary: Type.String({ description: 'Server id of the primary.' }),
    replicas: Type.Array(Type.String(), { description: 'Server ids of the replicas.' }),
  },
  { additionalProperties: false },
);

/** What the fleet looks like, as probed at `observedAt`. Registered as a shared schema. */
export const TopologySnapshotSchema = Type.Object(
  {
    observedAt: Type.String({ format: 'date-time' }),
    epoch: Nullable(Type.Integer(), {
      description: 'Catalog epoch, bumped on every change of primary or home.',
    }),
    catalog: Type.Object(
      { server: Type.String(), state: ServerStateSchema },
      { additionalProperties: false },
    ),
    dataCentres: Type.Array(DataCentreStatusSchema),
    servers: Type.Array(ServerStatusSchema),
    shards: Type.Array(ShardStatusSchema),
  },
  { $id: 'TopologySnapshot', additionalProperties: false },
);

assertType<Equal<Static<typeof TopologySnapshotSchema>, DeepMutable<TopologySnapshot>>>(true);
