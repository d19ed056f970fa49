/**
 * The {@link AccessControl} the identity module gives the HTTP layer: an API key or a session is
 * looked up on its shard (the answer kept for a few seconds, so a revocation counts within
 * {@link KEY_CACHE_MS}; a logout at once in the process that ended the session); an access token is verified locally against the fleet's signing keys,
 * with no round trip, and the verdict kept until the token expires, so a client that reuses its
 * token pays for one signature check, not one per request.
 */
import { createLocalJWKSet, errors as joseErrors, jwtVerify } from 'jose';
import type { AccessControl, Principal } from '../../../access/principal.ts';
import { MainstayError } from '../../../errors/mainstay-error.ts';
import { customerAccess } from '../customers/core/kyc-levels.ts';
import type { CredentialService } from './credential-service.ts';
import { parseApiKey, secretMatches } from './credentials.ts';
import { parseSessionToken, type SessionService } from './sessions/session-service.ts';
import { SIGNING_ALG } from './signing-keys.ts';
import { scopesOfRoles } from './staff/staff-roles.ts';

/** How long an API key's row is trusted before it is read again (a revocation's delay). */
export const KEY_CACHE_MS = 5_000;
/** How often a key's last-used time is written, at most, per key and process. */
const TOUCH_INTERVAL_MS = 60_000;
/** Verdicts kept at most; the oldest go first. */
const CACHE_ENTRIES_MAX = 10_000;

/** The audience every Mainstay access token names. */
export const ACCESS_TOKEN_AUDIENCE = 'mainstay-api';

interface Verdict {
  readonly principal: Principal;
  readonly validUntil: number;
}

export class BearerAccess implements AccessControl {
  readonly #credentials: CredentialService;
  readonly #sessions: SessionService;
  readonly #sessionCache = new Map<string, Cached<ReturnType<SessionService['find']>>>();
  readonly #keySet: ReturnType<typeof createLocalJWKSet>;
  readonly #issuer: string;
  readonly #tokens = new Map<string, Verdict>();
  readonly #keys = new Map<string, Cached<ReturnType<CredentialService['findApiKey']>>>();
  readonly #touched = new Map<string, number>();

  constructor(options: {
    readonly credentials: CredentialService;
    readonly sessions: SessionService;
    readonly jwks: Parameters<typeof createLocalJWKSet>[0];
    readonly issuer: string;
  }) {
    this.#credentials = options.credentials;
    this.#sessions = options.sessions;
    // A session this process ends (a logout) is refused here at once; elsewhere within
    // KEY_CACHE_MS, when the other processes read its row again.
    this.#sessions.onEnd((sessionId) => this.#sessionCache.delete(sessionId));
    this.#keySet = createLocalJWKSet(options.jwks);
    this.#issuer = options.issuer;
  }

  async authenticate(credential: string): Promise<Principal> {
    const apiKey = parseApiKey(credential);
    if (apiKey) return this.#apiKey(apiKey.keyId, apiKey.secret);
    const session = parseSessionToken(credential);
    if (session) return this.#session(session.sessionId, session.secret);
    if (credential.startsWith('mainstay_')) throw invalid('The API key is malformed.');
    return this.#accessToken(credential);
  }

  async #apiKey(keyId: string, secret: string): Promise<Principal> {
    const now = Date.now();
    const row = await fresh(this.#keys, keyId, () => this.#credentials.findApiKey(keyId));
    // The same answer for an unknown key and a wrong secret: no key ids are given away.
    if (!row || !secretMatches(secret, row.secret_sha256))
      throw invalid('The API key is not valid.');
    if (row.revoked_at !== null) throw invalid('The API key was revoked.');
    if (now - (this.#touched.get(keyId) ?? 0) > TOUCH_INTERVAL_MS) {
      remember(this.#touched, keyId, now);
      this.#credentials.touchApiKey(keyId).catch(() => undefined);
    }
    return { kind: 'api_key', subject: keyId, scopes: new Set(row.scopes), roles: new Set() };
  }

  async #session(sessionId: string, secret: string): Promise<Principal> {
    const now = Date.now();
    const row = await fresh(this.#sessionCache, sessionId, () => this.#sessions.find(sessionId));
    if (!row || !secretMatches(secret, row.secret_sha256))
      throw invalid('The session is not valid.');
    if (row.revoked_at !== null) throw invalid('The session was ended; log in again.');
    if (new Date(row.expires_at).getTime() <= now)
      throw invalid('The session expired; log in again.');
    if (row.disabled_at !== null) throw invalid('The account is disabled.');
    if (row.person_kind === 'customer') {
      if (row.kyc_level === null) throw invalid('The session is not valid.');
      // A customer holds the scopes of its KYC level and acts only on what it owns.
      const access = customerAccess(
        row.person_id,
        row.kyc_level,
        row.payment_user_id,
        this.#credentials.scopes,
      );
      const principal = {
        kind: 'customer' as const,
        subject: row.person_id,
        roles: new Set<string>(),
        sessionId,
        ...access,
      };
      return principal;
    }
    const roles = row.roles ?? [];
    return {
      kind: row.person_kind,
      subject: row.person_id,
      scopes: scopesOfRoles(roles, this.#credentials.scopes),
      roles: new Set(roles),
      sessionId,
    };
  }

  async #accessToken(token: string): Promise<Principal> {
    const now = Date.now();
    const cached = this.#tokens.get(token);
    if (cached && cached.validUntil > now) return cached.principal;
    let payload: Awaited<ReturnType<typeof jwtVerify>>['payload'];
    try {
      ({ payload } = await jwtVerify(token, this.#keySet, {
        issuer: this.#issuer,
        audience: ACCESS_TOKEN_AUDIENCE,
        algorithms: [SIGNING_ALG],
        typ: 'at+jwt',
        requiredClaims: ['exp', 'client_id'],
      }));
    } catch (error) {
      throw invalid(reasonOf(error), error);
    }
    const scopes = typeof payload.scope === 'string' ? payload.scope.split(' ') : [];
    const principal: Principal = {
      kind: 'access_token',
      subject: String(payload.client_id),
      scopes: new Set(scopes.filter((scope) => scope !== '')),
      roles: new Set(),
    };
    remember(this.#tokens, token, { principal, validUntil: (payload.exp as number) * 1000 });
    return principal;
  }
}

/** A look-up in flight or done, and when it started. */
interface Cached<T> {
  readonly row: T;
  readonly at: number;
}

/**
 * The row of `id`, read again when older than {@link KEY_CACHE_MS}. Requests arriving while a
 * read is in flight share it, so an expiring entry costs one read, not one per request; a failed
 * read is not kept.
 */
function fresh<T>(map: Map<string, Cached<Promise<T>>>, id: string, load: () => Promise<T>) {
  const now = Date.now();
  const cached = map.get(id);
  if (cached && now - cached.at <= KEY_CACHE_MS) return cached.row;
  const row = load();
  const entry = { row, at: now };
  remember(map, id, entry);
  row.catch(() => {
    if (map.get(id) === entry) map.delete(id);
  });
  return row;
}

/** Keeps `value` under `key`, dropping the oldest entry past the bound. */
function remember<K, V>(map: Map<K, V>, key: K, value: V): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > CACHE_ENTRIES_MAX) {
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
}

function invalid(detail: string, cause?: unknown): MainstayError {
  return new MainstayError('invalid_token', detail, cause === undefined ? {} : { cause });
}

/** What a client can act on, from jose's verdict; never the token itself. */
function reasonOf(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'The access token expired; get a new one.';
  if (error instanceof joseErrors.JWTClaimValidationFailed)
    return `The access token's ${error.claim} claim is not accepted here (${error.reason}).`;
  if (
    error instanceof joseErrors.JWSSignatureVerificationFailed ||
    error instanceof joseErrors.JWKSNoMatchingKey
  )
    return 'The access token is not signed by a key this fleet accepts.';
  return 'The credential is neither a Mainstay API key nor a well-formed access token.';
}
