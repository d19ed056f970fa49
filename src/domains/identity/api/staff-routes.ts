/**
 * Staff over HTTP: accounts (created by an admin), login with password and TOTP, the current
 * session, logout. The login answers a session token once; it takes no `Idempotency-Key`
 * (like the token endpoint, a retry opens another session, and the token is never stored for a
 * replay) and is rate-limited per address and per username on top of the per-account lockout.
 *
 * Every login is in the audit trail (`audit: 'always'`): a success under the staff member who
 * logged in, with the session's id; a failure under `anonymous@<address>` (the hook's default),
 * with the account's id when the username is known and why it failed. A failure is not
 * recorded under the account itself because the entry is written, and waited for, on its
 * actor's shard: a known username's entry on its shard and an unknown one's elsewhere could
 * answer in measurably different times. The username itself is never recorded (a password
 * typed into the wrong field would be).
 */
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import { MainstayError } from '../../../errors/mainstay-error.ts';
import { PUBLIC, requires } from '../../../http/access-control.ts';
import { problemResponses } from '../../../http/routes/problem-responses.ts';
import {
  answered,
  IDEMPOTENCY_HEADER,
  json,
  ref,
  writeContextOf,
} from '../../../http/routes/route-helpers.ts';
import type { AccountTrace } from '../core/login-trace.ts';
import type { SessionService } from '../core/sessions/session-service.ts';
import type { StaffRole } from '../core/staff/staff-roles.ts';
import type { StaffService } from '../core/staff/staff-service.ts';
import { ACCOUNT_WINDOW_MS, accountLimiter, normalisedUsername } from './account-limits.ts';
import {
  CreatedStaffSchema,
  CreateStaffBody,
  LoginBody,
  RoleGrantBody,
  SessionSchema,
  StaffIdParams,
  StaffListQuery,
  StaffPageSchema,
  StaffSchema,
  WhoAmISchema,
} from './staff-schemas.ts';

/** Login attempts one address may make per minute (each also counts toward the lockout). */
export const LOGIN_ATTEMPTS_PER_MINUTE = 20;
/** Login attempts naming one username, from any address, per {@link ACCOUNT_WINDOW_MS}. */
export const LOGIN_ATTEMPTS_PER_USERNAME = 10;

type CreateBody = { username: string; displayName: string; password: string; roles?: string[] };
type Login = { username: string; password: string; code: string };

/** Registers the staff routes (the rate limiter in this plugin's scope only). */
export async function registerStaffRoutes(
  app: FastifyInstance,
  staff: StaffService,
  sessions: SessionService,
): Promise<void> {
  for (const schema of [
    CreateStaffBody,
    StaffSchema,
    StaffPageSchema,
    CreatedStaffSchema,
    LoginBody,
    RoleGrantBody,
    SessionSchema,
    WhoAmISchema,
  ])
    app.addSchema(schema);
  await app.register(rateLimit, {
    global: false,
    errorResponseBuilder: (_request, context) =>
      new MainstayError(
        'rate_limited',
        `at most ${context.max} attempts a minute from one address; retry after ${context.after}`,
      ),
  });
  registerCreateStaff(app, staff);
  registerLogin(app, staff);
  registerCurrentSession(app, sessions);
  registerRoleGrant(app, staff);
  registerListStaff(app, staff);
  app.get<{ Params: { staffId: string } }>(
    '/v1/staff/:staffId',
    {
      schema: {
        security: requires('identity:read'),
        summary: 'A staff member',
        tags: ['identity'],
        params: StaffIdParams,
        response: { 200: json(StaffSchema, 'The staff member.'), ...problemResponses },
      },
    },
    async (request) => staff.get(request.params.staffId),
  );
}

function registerListStaff(app: FastifyInstance, staff: StaffService): void {
  app.get<{ Querystring: { limit?: number; startingAfter?: string } }>(
    '/v1/staff',
    {
      schema: {
        security: requires('identity:read'),
        summary: 'List staff members, in order of id, with their roles',
        tags: ['identity'],
        querystring: StaffListQuery,
        response: { 200: json(StaffPageSchema, 'A page of staff members.'), ...problemResponses },
      },
    },
    async (request) => staff.list(request.query.limit ?? 20, request.query.startingAfter ?? null),
  );
}

function registerCreateStaff(app: FastifyInstance, staff: StaffService): void {
  app.post<{ Body: CreateBody }>(
    '/v1/staff',
    {
      schema: {
        security: requires('identity:admin'),
        summary: 'Create a staff account',
        description:
          'A new account is a viewer; other roles come by a role grant another admin approves. The answer holds the TOTP enrolment URI once.',
        tags: ['identity'],
        headers: IDEMPOTENCY_HEADER,
        body: ref(CreateStaffBody),
        response: { 201: json(CreatedStaffSchema, 'The account.'), ...problemResponses },
      },
    },
    async (request, reply) =>
      answered(reply, await staff.create(request.body, writeContextOf(request)), 201),
  );
}

function registerLogin(app: FastifyInstance, staff: StaffService): void {
  const perUsername = accountLimiter(
    app,
    { max: LOGIN_ATTEMPTS_PER_USERNAME, windowMs: ACCOUNT_WINDOW_MS, per: 'username' },
    (request) => normalisedUsername((request.body as Partial<Login> | undefined)?.username),
  );
  app.post<{ Body: Login }>(
    '/v1/staff/sessions',
    {
      config: {
        audit: 'always',
        rateLimit: { max: LOGIN_ATTEMPTS_PER_MINUTE, timeWindow: 60_000 },
      },
      preHandler: perUsername,
      schema: {
        security: PUBLIC,
        summary: 'Log in (password and TOTP code)',
        description: `Every failure is \`401 login_failed\`, whatever was wrong. Five failures in a row lock the account for 15 minutes. More than ${LOGIN_ATTEMPTS_PER_MINUTE} attempts a minute from one address, or ${LOGIN_ATTEMPTS_PER_USERNAME} in ${ACCOUNT_WINDOW_MS / 60_000} minutes naming one username (known or not), are \`429 rate_limited\` with \`Retry-After\`.`,
        tags: ['identity'],
        body: ref(LoginBody),
        response: { 201: json(SessionSchema, 'The session.'), ...problemResponses },
      },
    },
    async (request, reply) => {
      const trace: AccountTrace = {};
      try {
        const { sessionId, ...session } = await staff.login(request.body, request.ip, trace);
        request.auditActor = { kind: 'staff', subject: session.staff.id };
        request.auditDetail = { session: sessionId };
        reply.code(201);
        return session;
      } catch (error) {
        request.auditDetail = failureDetail(trace);
        throw error;
      }
    },
  );
}

/** What the audit entry of a failed login says: the account when known, and why. */
function failureDetail(trace: AccountTrace): Record<string, string> | null {
  const detail: Record<string, string> = {};
  if (trace.account !== undefined) detail.account = trace.account;
  if (trace.reason !== undefined) detail.reason = trace.reason;
  return Object.keys(detail).length > 0 ? detail : null;
}

function registerCurrentSession(app: FastifyInstance, sessions: SessionService): void {
  app.get(
    '/v1/staff/sessions/current',
    {
      schema: {
        security: requires('identity:self'),
        summary: 'Who the session is, with its roles and scopes',
        tags: ['identity'],
        response: { 200: json(WhoAmISchema, 'The principal.'), ...problemResponses },
      },
    },
    async (request) => {
      const principal = request.principal;
      if (!principal) throw new MainstayError('unauthenticated', 'no session');
      return {
        kind: principal.kind,
        subject: principal.subject,
        roles: [...principal.roles].sort(),
        scopes: [...principal.scopes].sort(),
      };
    },
  );
  app.delete(
    '/v1/staff/sessions/current',
    {
      schema: {
        security: requires('identity:self'),
        summary: 'Log out: end this session',
        description:
          'The token is refused (`401 invalid_token`) from this answer on by the process that answered, and by every other within 5 seconds.',
        tags: ['identity'],
        response: { 204: { description: 'Ended.', type: 'null' }, ...problemResponses },
      },
    },
    async (request, reply) => {
      const sessionId = request.principal?.sessionId;
      if (sessionId) {
        await sessions.end(sessionId);
        request.auditDetail = { session: sessionId };
      }
      reply.code(204);
    },
  );
}

/** Who may approve a role grant: another admin. */
export const ROLE_GRANT_APPROVAL = { action: 'role_grant', approverRoles: ['admin'] } as const;

function registerRoleGrant(app: FastifyInstance, staff: StaffService): void {
  app.post<{ Params: { staffId: string }; Body: { roles: StaffRole[] } }>(
    '/v1/staff/:staffId/roles',
    {
      config: { approval: ROLE_GRANT_APPROVAL },
      schema: {
        security: requires('identity:admin'),
        summary: "Set a staff member's roles (maker-checker)",
        description:
          'Answers `202` with an approval request; the roles change once another admin approves it. The roles given replace the current ones.',
        tags: ['identity'],
        headers: IDEMPOTENCY_HEADER,
        params: StaffIdParams,
        body: ref(RoleGrantBody),
        response: {
          200: json(StaffSchema, 'The staff member, with the new roles.'),
          ...problemResponses,
        },
      },
    },
    async (request) => staff.setRoles(request.params.staffId, request.body.roles),
  );
}
