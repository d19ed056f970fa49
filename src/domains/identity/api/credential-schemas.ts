import { type TSchema, Type } from '@sinclair/typebox';

const idPattern = (prefix: string) => `^${prefix}_[0-9A-HJKMNP-TV-Z]{30}$`;
const ScopeList = Type.Array(Type.String({ pattern: '^[a-z][a-z0-9:-]{0,63}$' }), {
  minItems: 1,
  maxItems: 64,
  description: 'Scopes the credential may use; each must be one a hosted module defines.',
});

/** `POST /v1/api-clients` and `POST /v1/api-keys`. */
export const CreateCredentialBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200, description: 'What it is for, for people.' }),
    scopes: ScopeList,
  },
  { $id: 'CreateCredential', additionalProperties: false },
);

const recordFields = {
  name: Type.String(),
  scopes: Type.Array(Type.String()),
  createdAt: Type.String({ format: 'date-time' }),
  revokedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
};

export const ApiClientSchema = Type.Object(
  { id: Type.String({ pattern: idPattern('cli') }), ...recordFields },
  { $id: 'ApiClient', additionalProperties: false },
);

export const CreatedApiClientSchema = Type.Object(
  {
    id: Type.String({ pattern: idPattern('cli') }),
    ...recordFields,
    clientSecret: Type.String({
      description: 'Send with the id to POST /oauth/token (HTTP Basic). Keep it secret.',
    }),
  },
  { $id: 'CreatedApiClient', additionalProperties: false },
);

export const ApiKeySchema = Type.Object(
  {
    id: Type.String({ pattern: idPattern('key') }),
    ...recordFields,
    lastUsedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
      description: 'When a request last used it (recorded at most once a minute per process).',
    }),
  },
  { $id: 'ApiKey', additionalProperties: false },
);

export const CreatedApiKeySchema = Type.Object(
  {
    id: Type.String({ pattern: idPattern('key') }),
    ...recordFields,
    lastUsedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    apiKey: Type.Union([Type.String({ pattern: '^mainstay_ak_' }), Type.Null()], {
      description:
        'The key, shown in this answer only (it is stored as a hash): `null` in a replay.',
    }),
  },
  { $id: 'CreatedApiKey', additionalProperties: false },
);

const page = (item: TSchema, id: string) =>
  Type.Object(
    {
      data: Type.Array(Type.Ref(item)),
      hasMore: Type.Boolean(),
      nextCursor: Type.Union([Type.String(), Type.Null()]),
    },
    { $id: id, additionalProperties: false },
  );

export const ApiClientPageSchema = page(ApiClientSchema, 'ApiClientPage');
export const ApiKeyPageSchema = page(ApiKeySchema, 'ApiKeyPage');

export const ListQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
    startingAfter: Type.Optional(Type.String({ maxLength: 64 })),
  },
  { additionalProperties: false },
);

export const ClientIdParams = Type.Object(
  { clientId: Type.String({ maxLength: 64 }) },
  { additionalProperties: false },
);
export const KeyIdParams = Type.Object(
  { keyId: Type.String({ maxLength: 64 }) },
  { additionalProperties: false },
);
