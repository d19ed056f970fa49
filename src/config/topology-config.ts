import { type Static, type TLiteral, type TUnion, Type } from '@sinclair/typebox';
import { CardsConfigSchema } from './cards-config.ts';

/**
 * The topology configuration file (`mainstay.config.json`). Every field has a default, so an
 * empty object (or no file at all) gives the default topology: two data centres, each with a
 * primary and a streaming replica, four shards homed two per DC, and a witness for the catalog.
 */

export const POSTGRES_SOURCES = ['embedded', 'system', 'external'] as const;
export const SYNCHRONOUS_COMMIT_LEVELS = [
  'off',
  'local',
  'remote_write',
  'on',
  'remote_apply',
] as const;
/** `off` and `local` leave the DC's replica asynchronous; the others make it synchronous. */
export type SynchronousCommit = (typeof SYNCHRONOUS_COMMIT_LEVELS)[number];

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
        },
        { additionalProperties: false },
      ),
    ),
    cards: Type.Optional(CardsConfigSchema),
  },
  { additionalProperties: false },
);

/** The file as written: everything optional. */
export type TopologyConfigFile = Static<typeof TopologyConfigSchema>;
