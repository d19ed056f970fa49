/**
 * API clients and API keys: created with the scopes they may use, listed without their
 * secrets, revoked. Each lives on the shard its id names (minted in the bucket of the request's
 * idempotency key, so a retry finds its first answer). A client's secret is derived again on a
 * retry; an API key's secret exists only in the first answer (a retry answers `apiKey: null`).
 */

import { newEntityId, taggedBucket } from '../../../data/entity-id.ts';
import { fingerprintOf, onceInTransaction } from '../../../data/idempotency.ts';
import type { Router } from '../../../data/router.ts';
import type { Page, WriteAnswer, WriteContext } from '../../../data/write-contract.ts';
import { MainstayError } from '../../../errors/mainstay-error.ts';
import type { SecretsPort } from '../../../secrets/secrets-port.ts';
import { identityError } from '../errors.ts';
import {
  API_KEY_ID_TYPE,
  CLIENT_ID_TYPE,
  clientSecret,
  formatApiKey,
  newKeySecret,
  newSalt,
  secretDigest,
} from './credentials.ts';

/** What a client or a key is, without its secret. */
export interface CredentialRecord {
  readonly id: string;
  readonly name: string;
  readonly scopes: readonly string[];
  readonly createdAt: string;
  readonly revokedAt: string | null;
  /** API keys only: when a request last used it (recorded at most once a minute per process). */
  readonly lastUsedAt?: string | null;
}

/** A client as created: its secret is in the answer (derived again on a retry). */
export interface CreatedClient extends CredentialRecord {
  readonly clientSecret: string;
}

/** A key as created: the key itself only in the first answer, `null` in a replay. */
export interface CreatedApiKey extends CredentialRecord {
  readonly apiKey: string | null;
}

/** The stored rows a look-up needs (the client's secret inputs, the key's digest). */
export interface ClientRow {
  readonly client_id: string;
  readonly name: string;
  readonly scopes: string[];
  readonly secret_key_id: string;
  readonly secret_salt: string;
  readonly created_at: Date;
  readonly revoked_at: Date | null;
}

export interface ApiKeyRow {
  readonly key_id: string;
  readonly name: string;
  readonly scopes: string[];
  readonly secret_sha256: Buffer;
  readonly created_at: Date;
  readonly revoked_at: Date | null;
  readonly last_used_at: Date | null;
}

const CLIENT_COLUMNS =
  'client_id, name, scopes, secret_key_id, secret_salt, created_at, revoked_at';
const KEY_COLUMNS = 'key_id, name, scopes, secret_sha256, created_at, revoked_at, last_used_at';

/** Issues, lists and revokes the credentials API callers present. */
export class CredentialService {
  readonly #router: Router;
  readonly #secrets: SecretsPort;
  /** Every scope a credential may hold: the hosted modules' and the platform's. */
  readonly #scopes: ReadonlySet<string>;

  constructor(router: Router, secrets: SecretsPort, scopes: Iterable<string>) {
    this.#router = router;
    this.#secrets = secrets;
    this.#scopes = new Set(scopes);
  }

  /** The scopes a credential may be given. */
  get scopes(): ReadonlySet<string> {
    return this.#scopes;
  }

  /** Creates an API client for OAuth2 client credentials. */
  async createClient(
    input: { readonly name: string; readonly scopes: readonly string[] },
    context: WriteContext,
  ): Promise<WriteAnswer<CreatedClient>> {
    const scopes = this.#checkScopes(input.scopes);
    const { current } = await this.#secrets.keysFor('api-credentials');
    const bucket = this.#router.map.bucketOf(`api_client_create:${context.idempotencyKey}`);
    const id = newEntityId(CLIENT_ID_TYPE, bucket);
    const claim = {
      scope: 'api_client_create',
      key: context.idempotencyKey,
      fingerprint: fingerprintOf({ name: input.name, scopes }),
    };
    const result = await this.#router.write(
      id,
      (tx) =>
        onceInTransaction(tx, claim, async () => {
          const { rows } = await tx.query<ClientRow>(
            `INSERT INTO public.identity_api_clients
               (client_id, name, scopes, secret_key_id, secret_salt)
             VALUES ($1, $2, $3, $4, $5) RETURNING ${CLIENT_COLUMNS}`,
            [id, input.name, scopes, current.keyId, newSalt()],
          );
          return { statusCode: 201, body: rows[0] as ClientRow };
        }),
      { token: context.token ?? null },
    );
    const row = result.value.body;
    const secret = await this.clientSecretOf(row);
    if (secret === null) throw new MainstayError('internal_error', 'client secret key retired');
    return {
      value: { ...clientRecord(row), clientSecret: secret },
      token: result.token,
      replayed: result.value.replayed,
    };
  }

  /** Creates an API key; the key itself is in this answer only. */
  async createApiKey(
    input: { readonly name: string; readonly scopes: readonly string[] },
    context: WriteContext,
  ): Promise<WriteAnswer<CreatedApiKey>> {
    const scopes = this.#checkScopes(input.scopes);
    const bucket = this.#router.map.bucketOf(`api_key_create:${context.idempotencyKey}`);
    const id = newEntityId(API_KEY_ID_TYPE, bucket);
    const secret = newKeySecret();
    const claim = {
      scope: 'api_key_create',
      key: context.idempotencyKey,
      fingerprint: fingerprintOf({ name: input.name, scopes }),
    };
    const result = await this.#router.write(
      id,
      (tx) =>
        onceInTransaction(tx, claim, async () => {
          const { rows } = await tx.query<ApiKeyRow>(
            `INSERT INTO public.identity_api_keys (key_id, name, scopes, secret_sha256)
             VALUES ($1, $2, $3, $4) RETURNING ${KEY_COLUMNS}`,
            [id, input.name, scopes, secretDigest(secret)],
          );
          return { statusCode: 201, body: apiKeyRecord(rows[0] as ApiKeyRow) };
        }),
      { token: context.token ?? null },
    );
    const { body, replayed } = result.value;
    return {
      value: { ...body, apiKey: replayed ? null : formatApiKey(body.id, secret) },
      token: result.token,
      replayed,
    };
  }

  /** Revokes a client (its tokens already issued live out their minutes) or an API key (at once). */
  async revoke(
    kind: 'client' | 'api_key',
    id: string,
    context: WriteContext,
  ): Promise<WriteAnswer<CredentialRecord>> {
    const table = kind === 'client' ? 'identity_api_clients' : 'identity_api_keys';
    const column = kind === 'client' ? 'client_id' : 'key_id';
    const columns = kind === 'client' ? CLIENT_COLUMNS : KEY_COLUMNS;
    this.#assertCanExist(kind, id);
    const result = await this.#router.write(
      id,
      async (tx) => {
        const { rows } = await tx.query<ClientRow & ApiKeyRow>(
          `UPDATE public.${table} SET revoked_at = coalesce(revoked_at, now())
           WHERE ${column} = $1 RETURNING ${columns}`,
          [id],
        );
        return rows[0];
      },
      { token: context.token ?? null },
    );
    const row = result.value;
    if (!row) throw notFound(kind, id);
    return {
      value: kind === 'client' ? clientRecord(row) : apiKeyRecord(row),
      token: result.token,
      replayed: false,
    };
  }

  /** A client as stored, from its home primary (a revocation counts at once); `null` if none. */
  async findClient(clientId: string): Promise<ClientRow | null> {
    if (!this.#canExist(CLIENT_ID_TYPE, clientId)) return null;
    const { value } = await this.#router.read(
      clientId,
      (db) =>
        db.query<ClientRow>(
          `SELECT ${CLIENT_COLUMNS} FROM public.identity_api_clients WHERE client_id = $1`,
          [clientId],
        ),
      { consistency: 'primary' },
    );
    return value.rows[0] ?? null;
  }

  /** An API key as stored, from its home primary; `null` if none. */
  async findApiKey(keyId: string): Promise<ApiKeyRow | null> {
    if (!this.#canExist(API_KEY_ID_TYPE, keyId)) return null;
    const { value } = await this.#router.read(
      keyId,
      (db) =>
        db.query<ApiKeyRow>(
          `SELECT ${KEY_COLUMNS} FROM public.identity_api_keys WHERE key_id = $1`,
          [keyId],
        ),
      { consistency: 'primary' },
    );
    return value.rows[0] ?? null;
  }

  /** Records that a key was used now (best effort: a failure costs only the timestamp). */
  async touchApiKey(keyId: string): Promise<void> {
    await this.#router.writeStatement(
      keyId,
      'UPDATE public.identity_api_keys SET last_used_at = now() WHERE key_id = $1',
      [keyId],
    );
  }

  /** The secret of a stored client, or `null` when the key it was derived under is retired. */
  async clientSecretOf(row: ClientRow): Promise<string | null> {
    const { accepted } = await this.#secrets.keysFor('api-credentials');
    const key = accepted.find((candidate) => candidate.keyId === row.secret_key_id);
    return key ? clientSecret(key, row.client_id, row.secret_salt) : null;
  }

  /** One page of clients or keys, oldest first, across every shard. */
  async list(
    kind: 'client' | 'api_key',
    limit: number,
    startingAfter: string | null,
  ): Promise<Page<CredentialRecord>> {
    const table = kind === 'client' ? 'identity_api_clients' : 'identity_api_keys';
    const column = kind === 'client' ? 'client_id' : 'key_id';
    const columns = kind === 'client' ? CLIENT_COLUMNS : KEY_COLUMNS;
    const perShard = await Promise.all(
      [...this.#router.map.shardIds].map(async (shardId) => {
        const { value } = await this.#router.readShard(
          shardId,
          (db) =>
            db.query<ClientRow & ApiKeyRow>(
              `SELECT ${columns} FROM public.${table}
               WHERE $1::text IS NULL OR ${column} > $1 ORDER BY ${column} LIMIT $2`,
              [startingAfter, limit + 1],
            ),
          { consistency: 'primary' },
        );
        return value.rows;
      }),
    );
    const records = perShard
      .flat()
      .map((row) => (kind === 'client' ? clientRecord(row) : apiKeyRecord(row)))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const data = records.slice(0, limit);
    const hasMore = records.length > limit;
    return { data, hasMore, nextCursor: hasMore ? (data.at(-1)?.id ?? null) : null };
  }

  #checkScopes(scopes: readonly string[]): string[] {
    const unknown = scopes.filter((scope) => !this.#scopes.has(scope));
    if (unknown.length > 0) {
      throw identityError(
        'scope_unknown',
        `unknown scope ${unknown.join(', ')}; known: ${[...this.#scopes].sort().join(' ')}`,
      );
    }
    return [...new Set(scopes)].sort();
  }

  #canExist(type: string, id: string): boolean {
    if (!id.startsWith(`${type}_`)) return false;
    const bucket = taggedBucket(id);
    return bucket !== null && bucket < this.#router.map.snapshot.bucketCount;
  }

  #assertCanExist(kind: 'client' | 'api_key', id: string): void {
    if (!this.#canExist(kind === 'client' ? CLIENT_ID_TYPE : API_KEY_ID_TYPE, id))
      throw notFound(kind, id);
  }
}

function notFound(kind: 'client' | 'api_key', id: string): MainstayError {
  const what = kind === 'client' ? 'API client' : 'API key';
  return new MainstayError('resource_not_found', `no ${what} ${id}`);
}

function clientRecord(row: ClientRow): CredentialRecord {
  return {
    id: row.client_id,
    name: row.name,
    scopes: row.scopes,
    createdAt: new Date(row.created_at).toISOString(),
    revokedAt: row.revoked_at === null ? null : new Date(row.revoked_at).toISOString(),
  };
}

function apiKeyRecord(row: ApiKeyRow): CredentialRecord {
  return {
    id: row.key_id,
    name: row.name,
    scopes: row.scopes,
    createdAt: new Date(row.created_at).toISOString(),
    revokedAt: row.revoked_at === null ? null : new Date(row.revoked_at).toISOString(),
    lastUsedAt: row.last_used_at === null ? null : new Date(row.last_used_at).toISOString(),
  };
}
