import { type Static, Type } from '@sinclair/typebox';

/** Access-token lifetime when the file sets none: five minutes. */
export const ACCESS_TOKEN_TTL_SECONDS_DEFAULT = 300;
/** How long a staff session lasts (absolute, from login). */
export const STAFF_SESSION_MINUTES_DEFAULT = 60;
/** The issuer when the file sets none; set `identity.issuer` to the URL clients use. */
export const ISSUER_DEFAULT = 'http://localhost/oauth';

/**
 * The `identity` section of the config file. Every API process of a fleet reads the same file,
 * so they agree on the issuer every token names.
 */
export const IdentityConfigSchema = Type.Object(
  {
    issuer: Type.Optional(
      Type.String({
        pattern: '^https?://[^\\s]+$',
        maxLength: 200,
        description: 'The OAuth issuer: the base URL of the API followed by /oauth.',
      }),
    ),
    accessTokenTtlSeconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 3600 })),
    staffSessionMinutes: Type.Optional(Type.Integer({ minimum: 5, maximum: 720 })),
  },
  { additionalProperties: false },
);

export type IdentityConfig = Static<typeof IdentityConfigSchema>;
