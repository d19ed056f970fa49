/**
 * The OAuth2 authorization server: `oidc-provider` (OpenID Certified), configured for the client
 * credentials grant only, issuing short-lived JWT access tokens (RFC 9068, `typ: at+jwt`)
 * signed with the fleet's Ed25519 keys for one audience, `mainstay-api`. Clients are read from
 * the shards through {@link CredentialService}; nothing it issues is stored, so every API process
 * of a fleet is an equal token endpoint.
 */
import type { JsonWebKey } from 'node:crypto';
import Provider, { type Adapter, type AdapterPayload } from 'oidc-provider';
import { ACCESS_TOKEN_AUDIENCE } from './bearer-access.ts';
import type { CredentialService } from './credential-service.ts';
import { SIGNING_ALG } from './signing-keys.ts';

/** The resource indicator every token is for (one API, one audience). */
const RESOURCE = 'urn:mainstay:api';

/** What the authorization server is built from. */
export interface AuthorizationServerOptions {
  /** The issuer URL (`identity.issuer`): the same for every process of a fleet. */
  readonly issuer: string;
  /** Private signing keys, the current one first. */
  readonly jwks: { keys: JsonWebKey[] };
  readonly credentials: CredentialService;
  /** Access-token lifetime in seconds. */
  readonly accessTokenTtlSeconds: number;
}

/**
 * The adapter oidc-provider asks for its models. Only `Client` is ever read: a client found on
 * its shard, not revoked, with its secret derived again. Nothing else is kept, because JWT
 * access tokens need no storage.
 */
function clientAdapter(credentials: CredentialService) {
  return class ClientAdapter implements Adapter {
    readonly #model: string;

    constructor(model: string) {
      this.#model = model;
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (this.#model !== 'Client') return undefined;
      const row = await credentials.findClient(id);
      if (!row || row.revoked_at !== null) return undefined;
      const secret = await credentials.clientSecretOf(row);
      if (secret === null) return undefined;
      return {
        client_id: row.client_id,
        client_secret: secret,
        client_name: row.name,
        scope: row.scopes.join(' '),
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
        id_token_signed_response_alg: SIGNING_ALG,
      } as AdapterPayload;
    }

    async upsert(): Promise<void> {}
    async findByUid(): Promise<undefined> {
      return undefined;
    }
    async findByUserCode(): Promise<undefined> {
      return undefined;
    }
    async consume(): Promise<void> {}
    async destroy(): Promise<void> {}
    async revokeByGrantId(): Promise<void> {}
  };
}

/** A ready authorization server; mount its `callback()` under the issuer's path. */
export function createAuthorizationServer(options: AuthorizationServerOptions): Provider {
  const scopes = [...options.credentials.scopes];
  const provider = new Provider(options.issuer, {
    adapter: clientAdapter(options.credentials),
    jwks: options.jwks as never,
    scopes,
    clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
    enabledJWA: { idTokenSigningAlgValues: [SIGNING_ALG] } as never,
    features: {
      clientCredentials: { enabled: true },
      devInteractions: { enabled: false },
      introspection: { enabled: false },
      revocation: { enabled: false },
      userinfo: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, _resource, client) => ({
          // A client is granted the scopes it asks for (`scope=`), within its own; none when
          // it asks for none (RFC 6749 leaves the default to the server; none is the safe one).
          scope: client.scope ?? '',
          audience: ACCESS_TOKEN_AUDIENCE,
          accessTokenFormat: 'jwt',
          accessTokenTTL: options.accessTokenTtlSeconds,
          jwt: { sign: { alg: SIGNING_ALG } },
        }),
      },
    },
    ttl: { ClientCredentials: options.accessTokenTtlSeconds },
  });
  return provider;
}
