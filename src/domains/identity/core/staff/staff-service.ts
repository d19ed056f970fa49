/**
 * Staff accounts: created by an admin (the roles beyond `viewer` come by an approved role
 * grant), logged in with a password and a TOTP code, locked after repeated failures. Each
 * account lives on the shard its username hashes to, so a login is one keyed look-up; its
 * sessions live beside it (see {@link SessionService}).
 *
 * Failed logins all answer the same `login_failed`, with the same work done (an unknown
 * username still costs one argon2 verification), so an attacker learns nothing about which
 * usernames exist or which factor was wrong.
 */
import { hash, verify } from '@node-rs/argon2';
import * as OTPAuth from 'otpauth';
import { newEntityId } from '../../../../data/entity-id.ts';
import { fingerprintOf, onceInTransaction } from '../../../../data/idempotency.ts';
import type { Router } from '../../../../data/router.ts';
import type { Page, WriteAnswer, WriteContext } from '../../../../data/write-contract.ts';
import { MainstayError } from '../../../../errors/mainstay-error.ts';
import { open, seal } from '../../../../secrets/sealed-box.ts';
import type { SecretsPort } from '../../../../secrets/secrets-port.ts';
import { identityError } from '../../errors.ts';
import type { AccountTrace } from '../login-trace.ts';
import type { SessionService } from '../sessions/session-service.ts';
import { checkPassword, PASSWORD_HASH_OPTIONS } from './passwords.ts';
import { isStaffRole, type StaffRole } from './staff-roles.ts';

/** Failed logins in a row that lock an account, and for how long. */
export const LOCKOUT_FAILURES = 5;
export const LOCKOUT_MINUTES = 15;
/** TOTP: RFC 6238 defaults every authenticator app supports; one step of clock drift allowed. */
const TOTP_PERIOD_SECONDS = 30;
const TOTP_WINDOW = 1;

export interface StaffRecord {
  readonly id: string;
  readonly username: string;
  readonly displayName: string;
  readonly roles: readonly string[];
  readonly createdAt: string;
  readonly lockedUntil: string | null;
}

interface StaffRow {
  readonly staff_id: string;
  readonly username: string;
  readonly display_name: string;
  readonly roles: string[];
  readonly password_hash: string;
  readonly totp_sealed: string;
  readonly totp_last_step: string;
  readonly failed_logins: number;
  readonly locked_until: Date | null;
  readonly created_at: Date;
  readonly disabled_at: Date | null;
}

const COLUMNS = `staff_id, username, display_name, roles, password_hash, totp_sealed,
  totp_last_step, failed_logins, locked_until, created_at, disabled_at`;

/** A hash to verify against when the username is unknown, so both cost the same. */
const DUMMY_HASH = hash('mainstay-no-such-user', PASSWORD_HASH_OPTIONS);

export class StaffService {
  readonly #router: Router;
  readonly #secrets: SecretsPort;
  readonly #sessions: SessionService;

  constructor(router: Router, secrets: SecretsPort, sessions: SessionService) {
    this.#router = router;
    this.#secrets = secrets;
    this.#sessions = sessions;
  }

  /**
   * Creates an account. `roles` may only be `viewer` here unless `bootstrap` (the first
   * admins, made before anyone could approve a grant); other roles come by a role grant.
   * The answer holds the TOTP enrolment URI once (`null` in a replay).
   */
  async create(
    input: {
      readonly username: string;
      readonly displayName: string;
      readonly password: string;
      readonly roles?: readonly string[];
    },
    context: WriteContext,
    options: { readonly bootstrap?: boolean } = {},
  ): Promise<WriteAnswer<StaffRecord & { readonly totpUri: string | null }>> {
    const roles = [...new Set(input.roles ?? ['viewer'])].sort();
    const unknown = roles.filter((role) => !isStaffRole(role));
    if (unknown.length > 0)
      throw identityError('role_unknown', `unknown role ${unknown.join(', ')}`);
    if (!options.bootstrap && roles.some((role) => role !== 'viewer')) {
      throw identityError(
        'role_grant_needs_approval',
        'a new account starts as viewer; other roles come by a role grant request (POST /v1/approvals)',
      );
    }
    checkPassword(input.password);
    const passwordHash = await hash(input.password, PASSWORD_HASH_OPTIONS);
    const totp = new OTPAuth.Secret({ size: 20 });
    const id = newEntityId('stf', this.#router.map.bucketOf(staffKey(input.username)));
    const { current } = await this.#secrets.keysFor('identity-data-encryption');
    const claim = {
      scope: 'staff_create',
      key: context.idempotencyKey,
      fingerprint: fingerprintOf({
        username: input.username,
        displayName: input.displayName,
        roles,
      }),
    };
    const result = await this.#router.write(
      staffKey(input.username),
      (tx) =>
        onceInTransaction(tx, claim, async () => {
          const taken = await tx.query('SELECT 1 FROM public.identity_staff WHERE username = $1', [
            input.username,
          ]);
          if (taken.rowCount)
            throw identityError('username_taken', `username ${input.username} is taken`);
          const { rows } = await tx.query<StaffRow>(
            `INSERT INTO public.identity_staff
               (staff_id, username, display_name, roles, password_hash, totp_sealed)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${COLUMNS}`,
            [
              id,
              input.username,
              input.displayName,
              roles,
              passwordHash,
              seal(current, totp.base32, `staff-totp:${id}`),
            ],
          );
          return { statusCode: 201, body: recordOf(rows[0] as StaffRow) };
        }),
      { token: context.token ?? null },
    );
    const { body, replayed } = result.value;
    const totpUri = replayed ? null : totpOf(body.username, totp.base32).toString();
    return { value: { ...body, totpUri }, token: result.token, replayed };
  }

  /**
   * Logs in: a session token on success, `login_failed` for every kind of failure. `trace`
   * learns the account and why a login failed, for the audit trail; the answer does not.
   */
  async login(
    input: { readonly username: string; readonly password: string; readonly code: string },
    sourceIp: string | null,
    trace: AccountTrace = {},
  ): Promise<{ token: string; expiresAt: string; sessionId: string; staff: StaffRecord }> {
    checkPassword(input.password);
    const row = await this.#find(input.username);
    if (row) trace.account = row.staff_id;
    const passwordOk = await verify(row?.password_hash ?? (await DUMMY_HASH), input.password);
    const locked = row?.locked_until != null && new Date(row.locked_until).getTime() > Date.now();
    const step = row && passwordOk && !locked ? await this.#totpStep(row, input.code) : null;
    if (!row || locked || row.disabled_at !== null || step === null) {
      trace.reason = failureOf(row, locked, passwordOk);
      if (row && !locked) await this.#recordFailure(row);
      throw loginFailed();
    }
    const claimed = await this.#router.write(staffKey(row.username), async (tx) => {
      const { rowCount } = await tx.query(
        `UPDATE public.identity_staff SET totp_last_step = $2, failed_logins = 0, locked_until = NULL
         WHERE staff_id = $1 AND totp_last_step < $2`,
        [row.staff_id, step],
      );
      return rowCount === 1;
    });
    // A code already used (replayed, or raced by a second login) is refused.
    if (!claimed.value) {
      trace.reason = 'code_reused';
      throw loginFailed();
    }
    const session = await this.#sessions.open('staff', row.staff_id, sourceIp);
    return { ...session, staff: recordOf(row) };
  }

  /** Replaces a staff member's roles (the role grant's effect, after its approval). */
  async setRoles(staffId: string, roles: readonly StaffRole[]): Promise<StaffRecord> {
    const { value } = await this.#router.write(staffId, (tx) =>
      tx.query<StaffRow>(
        `UPDATE public.identity_staff SET roles = $2 WHERE staff_id = $1 RETURNING ${COLUMNS}`,
        [staffId, [...new Set(roles)].sort()],
      ),
    );
    const row = value.rows[0];
    if (!row) throw new MainstayError('resource_not_found', `no staff member ${staffId}`);
    return recordOf(row);
  }

  /** One staff member (`resource_not_found` when there is none). */
  async get(staffId: string): Promise<StaffRecord> {
    const { value } = await this.#router.read(
      staffId,
      (db) =>
        db.query<StaffRow>(`SELECT ${COLUMNS} FROM public.identity_staff WHERE staff_id = $1`, [
          staffId,
        ]),
      { consistency: 'primary' },
    );
    const row = value.rows[0];
    if (!row) throw new MainstayError('resource_not_found', `no staff member ${staffId}`);
    return recordOf(row);
  }

  /**
   * Staff members in order of id, `limit` at a time after `startingAfter`: each shard gives its
   * first `limit + 1` past the cursor, and the merge keeps the first `limit` of them all.
   */
  async list(limit: number, startingAfter: string | null): Promise<Page<StaffRecord>> {
    const perShard = await Promise.all(
      [...this.#router.map.shardIds].map(async (shardId) => {
        const { value } = await this.#router.readShard(
          shardId,
          (db) =>
            db.query<StaffRow>(
              `SELECT ${COLUMNS} FROM public.identity_staff
               WHERE $1::text IS NULL OR staff_id > $1 ORDER BY staff_id LIMIT $2`,
              [startingAfter, limit + 1],
            ),
          { consistency: 'primary' },
        );
        return value.rows;
      }),
    );
    const records = perShard
      .flat()
      .map(recordOf)
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const data = records.slice(0, limit);
    const hasMore = records.length > limit;
    return { data, hasMore, nextCursor: hasMore ? (data.at(-1)?.id ?? null) : null };
  }

  async #find(username: string): Promise<StaffRow | null> {
    const { value } = await this.#router.read(
      staffKey(username),
      (db) =>
        db.query<StaffRow>(`SELECT ${COLUMNS} FROM public.identity_staff WHERE username = $1`, [
          username,
        ]),
      { consistency: 'primary' },
    );
    return value.rows[0] ?? null;
  }

  /** The time step `code` is valid for, newer than the last one used; else `null`. */
  async #totpStep(row: StaffRow, code: string): Promise<number | null> {
    if (!/^[0-9]{6}$/.test(code)) return null;
    const keys = await this.#secrets.keysFor('identity-data-encryption');
    const secret = open(keys, row.totp_sealed, `staff-totp:${row.staff_id}`);
    const delta = totpOf(row.username, secret).validate({ token: code, window: TOTP_WINDOW });
    if (delta === null) return null;
    const step = Math.floor(Date.now() / 1000 / TOTP_PERIOD_SECONDS) + delta;
    return step > Number(row.totp_last_step) ? step : null;
  }

  async #recordFailure(row: StaffRow): Promise<void> {
    await this.#router.write(staffKey(row.username), (tx) =>
      tx.query(
        `UPDATE public.identity_staff SET failed_logins = failed_logins + 1,
           locked_until = CASE WHEN failed_logins + 1 >= $2
             THEN now() + make_interval(mins => $3) ELSE locked_until END
         WHERE staff_id = $1`,
        [row.staff_id, LOCKOUT_FAILURES, LOCKOUT_MINUTES],
      ),
    );
  }
}

/** The shard key of a username: the bucket a staff member's id is minted in. */
function staffKey(username: string): string {
  return `staff:${username}`;
}

/** The TOTP generator of an account (for enrolment URIs and for checking codes). */
export function totpOf(username: string, base32Secret: string): OTPAuth.TOTP {
  return new OTPAuth.TOTP({
    issuer: 'Mainstay',
    label: username,
    algorithm: 'SHA1',
    digits: 6,
    period: TOTP_PERIOD_SECONDS,
    secret: OTPAuth.Secret.fromBase32(base32Secret),
  });
}

/** Why a login failed, for the audit trail only. */
function failureOf(row: StaffRow | null, locked: boolean, passwordOk: boolean): string {
  if (!row) return 'unknown_account';
  if (locked) return 'account_locked';
  if (row.disabled_at !== null) return 'account_disabled';
  return passwordOk ? 'wrong_code' : 'wrong_password';
}

function loginFailed(): MainstayError {
  return identityError(
    'login_failed',
    'the username, password or one-time code is wrong, or the account is locked after repeated failures',
  );
}

function recordOf(row: StaffRow): StaffRecord {
  return {
    id: row.staff_id,
    username: row.username,
    displayName: row.display_name,
    roles: row.roles,
    createdAt: new Date(row.created_at).toISOString(),
    lockedUntil: row.locked_until === null ? null : new Date(row.locked_until).toISOString(),
  };
}
