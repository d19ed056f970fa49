/**
 * Schemas of the environments endpoints, checked at compile time against the environments
 * library's type.
 */
import { type Static, Type } from '@sinclair/typebox';
import { ENVIRONMENT_NAME_PATTERN } from '../../environments/environment-record.ts';
import { ENVIRONMENT_STATUSES, type Environment } from '../../environments/environments.ts';
import {
  assertType,
  type DeepMutable,
  type Equal,
  LiteralUnion,
  Nullable,
} from './schema-helpers.ts';

/** Longest page of environments a list returns, and its default. */
export const ENVIRONMENT_PAGE_SIZE_MAX = 100;
export const ENVIRONMENT_PAGE_SIZE_DEFAULT = 20;

const EnvironmentName = Type.String({
  minLength: 1,
  maxLength: 40,
  pattern: ENVIRONMENT_NAME_PATTERN,
  description:
    'Lower-case letters, digits and hyphens, starting with a letter, not ending with a hyphen.',
});

/** `POST /v1/environments` body. */
export const CreateEnvironmentBodySchema = Type.Object(
  {
    name: EnvironmentName,
    demo: Type.Optional(
      Type.Boolean({
        default: false,
        description: 'Load the demo data set (customers, card accounts). Credentials always.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type CreateEnvironmentBody = Static<typeof CreateEnvironmentBodySchema>;

/** `/v1/environments/{name}` parameters. */
export const EnvironmentParamsSchema = Type.Object(
  { name: EnvironmentName },
  { additionalProperties: false },
);
export type EnvironmentParams = Static<typeof EnvironmentParamsSchema>;

/** `GET /v1/environments` query: pages in name order. */
export const EnvironmentListQuerySchema = Type.Object(
  {
    limit: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: ENVIRONMENT_PAGE_SIZE_MAX,
        default: ENVIRONMENT_PAGE_SIZE_DEFAULT,
      }),
    ),
    startingAfter: Type.Optional(EnvironmentName),
  },
  { additionalProperties: false },
);
export type EnvironmentListQuery = Static<typeof EnvironmentListQuerySchema>;

export const EnvironmentSchema = Type.Object(
  {
    name: Type.String(),
    home: Type.String({ description: 'Its own Mainstay home on the host.' }),
    status: LiteralUnion(ENVIRONMENT_STATUSES),
    url: Nullable(Type.String({ description: 'Where its API listens, while it runs.' })),
    pid: Nullable(Type.Integer({ description: 'Its supervising process, while it runs.' })),
    demo: Type.Boolean(),
    createdAt: Type.String({ format: 'date-time' }),
    createMs: Nullable(
      Type.Integer({ minimum: 0, description: 'How long its creation took, in milliseconds.' }),
    ),
    credentialsFile: Type.String({
      description: 'Its API key and bootstrap admins, readable on the host (mode 0600).',
    }),
  },
  { $id: 'Environment', additionalProperties: false },
);

export const EnvironmentPageSchema = Type.Object(
  {
    data: Type.Array(Type.Ref(EnvironmentSchema)),
    hasMore: Type.Boolean(),
    nextCursor: Nullable(Type.String()),
  },
  { $id: 'EnvironmentPage', additionalProperties: false },
);

assertType<Equal<Static<typeof EnvironmentSchema>, DeepMutable<Environment>>>(true);
