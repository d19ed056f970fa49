import {
  type Static,
  type TLiteral,
  type TObject,
  type TSchema,
  type TUnion,
  Type,
} from '@sinclair/typebox';
import { JobsConfigSchema } from '../jobs/jobs-config.ts';

/**
 * The topology configuration file (`mainstay.config.json`). Every field has a default, so an
 * empty object (or no file at all) gives the default topology: two data centres, each with a
 * primary and a streaming replica, four shards homed two per DC, and a witness for the catalog.
 */

export const POSTGRES_SOURCES = ['embedded', 'system', 'external'] as const;
/**
 * The asynchronous mode, named for what it risks: a commit is acknowledged before the DC's
 * replica has it, so a failover of the primary can lose writes the clients were told were done.
 */
export const ASYNCHRONOUS_COMMIT = 'async_may_lose_acked_writes';
export const SYNCHRONOUS_COMMIT_LEVELS = [
  'off',
  'local',
  'remote_write',
  'on',
  'remote_apply',
  ASYNCHRONOUS_COMMIT,
] as const;
/**
 * How a DC's primary acknowledges a commit. `remote_write`, `on` and `remote_apply` wait for the
 * DC's replica (a synchronous standby); `async_may_lose_acked_writes` does not (PostgreSQL's
 * `local`). `local` and `off` are PostgreSQL's own names, still accepted so older files parse;
 * they are asynchronous too, and `off` can lose acknowledged commits even without a failover.
 */
export type SynchronousCommit = (typeof SYNCHRONOUS_COMMIT_LEVELS)[number];

/**
 * RPO 0 within a DC by default: a write is acknowledged only once it is on the replica's disk
 * as well (docs/ARCHITECTURE.md, decision 32).
 */
export const DEFAULT_SYNCHRONOUS_COMMIT: SynchronousCommit = 'on';

/** The PostgreSQL `synchronous_commit` value for a DC's level (catalog or config). */
export function postgresSynchronousCommit(level: string): string {
  return level === ASYNCHRONOUS_COMMIT ? 'local' : level;
}

/** Whether a DC at `level` makes its primary wait for its replica before acknowledging. */
export function waitsForReplica(level: string): boolean {
  return level === 'remote_write' || level === 'on' || level === 'remote_apply';
}

/** A schema accepting exactly the strings of a closed set. */
export function literalUnion<T extends string>(values: readonly T[]): TUnion<TLiteral<T>[]> {
  return Type.Union(values.map((value) => Type.Literal(value)));
}

const Port = Type.Integer({ minimum: 1024, maximum: 65535 });

const ExternalServer = Type.Object(
  {
    host: Type.String({ minLength: 1 }),
    port: Port,
    user: Type.String({ minLength: 1 }),
    password: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

/** Where one server listens; `port` absent means "pick a free port at first provision". */
const ServerConfig = Type.Object(
  {
    port: Type.Optional(Port),
    external: Type.Optional(ExternalServer),
  },
  { additionalProperties: false },
);

const DataCentreConfig = Type.Object(
  {
    id: Type.String({ pattern: '^[a-z][a-z0-9]{0,15}$' }),
    synchronousCommit: Type.Optional(literalUnion(SYNCHRONOUS_COMMIT_LEVELS)),
    primary: Type.Optional(ServerConfig),
    replica: Type.Optional(ServerConfig),
  },
  { additionalProperties: false },
);

export const TopologyConfigSchema = Type.Object(
  {
    $schema: Type.Optional(Type.String()),
    postgres: Type.Optional(
      Type.Object(
        {
          source: Type.Optional(literalUnion(POSTGRES_SOURCES)),
          binDir: Type.Optional(Type.String({ minLength: 1 })),
          settings: Type.Optional(
            Type.Record(
              Type.String({ pattern: '^[a-z_][a-z0-9_.]*$' }),
              Type.Union([Type.String(), Type.Number(), Type.Boolean()]),
            ),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    dataCentres: Type.Optional(Type.Array(DataCentreConfig, { minItems: 2, maxItems: 2 })),
    witness: Type.Optional(ServerConfig),
    shards: Type.Optional(
      Type.Object(
        {
          count: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
          bucketCount: Type.Optional(Type.Integer({ minimum: 1, maximum: 65536 })),
        },
        { additionalProperties: false },
      ),
    ),
    http: Type.Optional(
      Type.Object(
        {
          host: Type.Optional(Type.String({ minLength: 1 })),
          port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
          /** `GET /metrics` without a credential (default false: it needs `platform:metrics`). */
          metricsPublic: Type.Optional(Type.Boolean()),
        },
        { additionalProperties: false },
      ),
    ),
    jobs: Type.Optional(JobsConfigSchema),
  },
  { additionalProperties: false },
);

/**
 * The file as written: everything optional. Beside the platform's own keys, each hosted
 * module's section (checked against that module's schema, see {@link configFileSchema}).
 */
export type TopologyConfigFile = Static<typeof TopologyConfigSchema> & {
  readonly [section: string]: unknown;
};

/** A module's config section as {@link configFileSchema} takes it. */
export interface SectionSchema {
  readonly key: string;
  readonly schema: TSchema;
}

/**
 * The schema of the whole file: the platform's keys plus one optional key per module section.
 * Any other key is refused, so a misspelt section is an error, not silently ignored.
 */
export function configFileSchema(sections: readonly SectionSchema[]): TObject {
  if (sections.length === 0) return TopologyConfigSchema;
  const extra = Object.fromEntries(
    sections.map((section) => [section.key, Type.Optional(section.schema)]),
  );
  return Type.Object(
    { ...TopologyConfigSchema.properties, ...extra },
    { additionalProperties: false },
  );
}
