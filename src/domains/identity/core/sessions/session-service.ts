/**
 * Sessions of people: a token `mainstay_ss_<session id>_<secret>` given at login, kept as the
 * secret's SHA-256 on the person's shard, valid until it expires or is ended. Sessions are
 * absolute (no sliding renewal): a request never writes to keep a session alive.
 */
import { randomBytes } from 'node:crypto';
import { isEntityId, newEntityId, taggedBucket } from '../../../../data/entity-id.ts';
import type { Router } from '../../../../data/router.ts';
import { secretDigest } from '../credentials.ts';

export const SESSION_PREFIX = 'mainstay_ss_';
const SESSION_ID_TYPE = 'ses';
const SECRET_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export type PersonKind = 'staff' | 'customer';

/** A session as stored, with what the person it belongs to may do. */
export interface SessionRow {
  readonly session_id: string;
  readonly person_id: string;
  readonly person_kind: PersonKind;
  readonly secret_sha256: Buffer;
  readonly expires_at: Date;
  readonly revoked_at: Date | null;
  /** The person's roles (staff), joined in; `null` for a customer. */
  readonly roles: string[] | null;
  /** A customer's KYC level and own payment user, joined in; `null` for staff. */
  readonly kyc_level: number | null;
  readonly payment_user_id: string | null;
  readonly disabled_at: Date | null;
}

export class SessionService {
  readonly #router: Router;
  readonly #lifetimeMinutes: number;
  readonly #endListeners: ((sessionId: string) => void)[] = [];

  constructor(router: Router, lifetimeMinutes: number) {
    this.#router = router;
    this.#lifetimeMinutes = lifetimeMinutes;
  }

  /** Opens a session for a person; the token is in this answer only. */
  async open(
    kind: PersonKind,
    personId: string,
    sourceIp: string | null,
  ): Promise<{ token: string; expiresAt: string; sessionId: string }> {
    const bucket = taggedBucket(personId);
    if (bucket === null) throw new RangeError(`${personId} is not an entity id`);
    const sessionId = newEntityId(SESSION_ID_TYPE, bucket);
    const secret = randomBytes(32).toString('base64url');
    const { value } = await this.#router.write(sessionId, (tx) =>
      tx.query<{ expires_at: Date }>(
        `INSERT INTO public.identity_sessions
           (session_id, person_id, person_kind, secret_sha256, expires_at, source_ip)
         VALUES ($1, $2, $3, $4, now() + make_interval(mins => $5), $6) RETURNING expires_at`,
        [sessionId, personId, kind, secretDigest(secret), this.#lifetimeMinutes, sourceIp],
      ),
    );
    return {
      token: `${SESSION_PREFIX}${sessionId}_${secret}`,
      expiresAt: new Date(value.rows[0]?.expires_at as Date).toISOString(),
      sessionId,
    };
  }

  /** Ends a session (logout); ending it twice is harmless. */
  async end(sessionId: string): Promise<void> {
    await this.#router.writeStatement(
      sessionId,
      'UPDATE public.identity_sessions SET revoked_at = coalesce(revoked_at, now()) WHERE session_id = $1',
      [sessionId],
    );
    for (const listener of this.#endListeners) listener(sessionId);
  }

  /**
   * Calls `listener` with every session this process ends, once the end has committed: a cache
   * of sessions forgets it, so this process refuses its token at once.
   */
  onEnd(listener: (sessionId: string) => void): void {
    this.#endListeners.push(listener);
  }

  /**
   * A session with its person's roles (staff) or KYC level and payment user (customers), from
   * the home primary; `null` when there is none.
   */
  async find(sessionId: string): Promise<SessionRow | null> {
    const { value } = await this.#router.read(
      sessionId,
      (db) =>
        db.query<SessionRow>(
          `SELECT s.session_id, s.person_id, s.person_kind, s.secret_sha256, s.expires_at,
                  s.revoked_at, st.roles, c.kyc_level, c.payment_user_id,
                  CASE s.person_kind WHEN 'staff' THEN st.disabled_at ELSE c.disabled_at END
                    AS disabled_at
           FROM public.identity_sessions s
           LEFT JOIN public.identity_staff st
             ON s.person_kind = 'staff' AND st.staff_id = s.person_id
           LEFT JOIN public.identity_customers c
             ON s.person_kind = 'customer' AND c.customer_id = s.person_id
           WHERE s.session_id = $1`,
          [sessionId],
        ),
      { consistency: 'primary' },
    );
    return value.rows[0] ?? null;
  }
}

/** The session id and secret of a credential shaped like a session token, else `null`. */
export function parseSessionToken(
  credential: string,
): { sessionId: string; secret: string } | null {
  if (!credential.startsWith(SESSION_PREFIX)) return null;
  const rest = credential.slice(SESSION_PREFIX.length);
  const sessionId = rest.slice(0, 34);
  const secret = rest.slice(35);
  if (rest[34] !== '_' || !isEntityId(sessionId, SESSION_ID_TYPE) || !SECRET_PATTERN.test(secret))
    return null;
  return { sessionId, secret };
}
