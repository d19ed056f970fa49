/**
 * Records every authenticated write request in the audit trail, and every request of a staff
 * member: who (the principal), what (method and route pattern), to what (the path), from where
 * (the client address), with what outcome (the status), under which `Idempotency-Key`. Never a
 * body, a query string or a header's secret.
 *
 * Also every refused request (401 or 403, whatever its method: a 403 names who was refused, a
 * 401 `anonymous@<address>`, which spreads the entries of many addresses over the shards), and
 * every call of a public route that declares `config.audit: 'always'` (a login: its handler names
 * the account in `request.auditActor` once it knows it, and adds masked facts in
 * `request.auditDetail`). A rate-limited answer (429) is not recorded: under a flood the limit,
 * not the trail, is the defence, and the trail must not become the flood's amplifier.
 *
 * It runs as `onSend`, before the answer leaves, and waits (up to `waitMs`) for the entry to
 * commit, so that a client is not told a write happened before its audit entry exists. When
 * the audit shard cannot be written in time, the answer goes out anyway (the write itself is
 * done and cannot be taken back) and the entry stays queued and is retried (see AuditLog).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../http/access-control.ts';
import type { AuditRecord } from './audit-entry.ts';
import type { AppendOutcome } from './audit-lane.ts';

/** Who acted on a public route, as its handler established (a login's account). */
export interface AuditActor {
  readonly kind: string;
  readonly subject: string;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** `always`: record every call, even of a public route without a principal. */
    audit?: 'always';
  }
  interface FastifyRequest {
    /** Set by a public route's handler once it knows who acts (see the module comment). */
    auditActor: AuditActor | null;
    /** Further facts for the entry, text only, masked: never a secret or personal data. */
    auditDetail: Record<string, string> | null;
  }
}

/** Refusals of access control, recorded whatever the method. */
const REFUSED_STATUSES: ReadonlySet<number> = new Set([401, 403]);

/** What the hook needs of the log ({@link AuditLog} is one). */
export interface AuditAppender {
  appendWithin(record: AuditRecord, waitMs: number): Promise<AppendOutcome | 'pending'>;
}

/** How long an answer waits for its entry to commit by default. */
export const AUDIT_WAIT_MS_DEFAULT = 1_000;

/** Methods that change nothing: recorded only for principals `recordsReads` names. */
const READ_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Options of {@link registerAuditHook}. */
export interface AuditHookOptions {
  /** How long an answer waits for its entry (default {@link AUDIT_WAIT_MS_DEFAULT}); 0: not at all. */
  readonly waitMs?: number;
  /** Whose reads are recorded too (default: staff, {@link isStaffPrincipal}). */
  readonly recordsReads?: (principal: Principal) => boolean;
}

/** A staff member's principal: its subject is a staff id (`stf_...`). */
export function isStaffPrincipal(principal: Principal): boolean {
  return principal.subject.startsWith('stf_');
}

/**
 * Adds the hook to `app`. Register it before the routes it must see: as the first entry of
 * `buildHttpServer`'s `routes`, so every module's plugin inherits it.
 */
export function registerAuditHook(
  app: FastifyInstance,
  log: AuditAppender,
  options: AuditHookOptions = {},
): void {
  const waitMs = options.waitMs ?? AUDIT_WAIT_MS_DEFAULT;
  if (!Number.isSafeInteger(waitMs) || waitMs < 0)
    throw new RangeError(`waitMs must be a non-negative integer, got ${waitMs}`);
  const recordsReads = options.recordsReads ?? isStaffPrincipal;
  app.decorateRequest('auditActor', null);
  app.decorateRequest('auditDetail', null);
  app.addHook('onSend', async (request, reply, payload) => {
    const record = auditRecordOf(request, reply, recordsReads);
    if (record === null) return payload;
    try {
      const outcome = await log.appendWithin(record, waitMs);
      if (outcome === 'refused' || outcome === 'dropped')
        request.log.error({ audit: record, outcome }, 'audit entry not recorded');
    } catch (error) {
      // A record the log refuses outright is a bug here; the answer still goes out.
      request.log.error({ err: error, audit: record }, 'audit entry not recorded');
    }
    return payload;
  });
}

/** What the trail records of `request` and its answer, or `null` when it records nothing. */
export function auditRecordOf(
  request: FastifyRequest,
  reply: FastifyReply,
  recordsReads: (principal: Principal) => boolean,
): AuditRecord | null {
  const actor = actorOf(request, reply, recordsReads);
  if (actor === null) return null;
  const path = request.url.split('?', 1)[0] ?? request.url;
  const key = request.headers['idempotency-key'];
  const replayed = String(reply.getHeader('idempotent-replayed') ?? '') === 'true';
  const detail = { ...request.auditDetail, ...(replayed ? { replayed: 'true' } : {}) };
  return {
    actorKind: actor.kind,
    actor: actor.subject,
    action: `${request.method} ${request.routeOptions.url ?? path}`,
    target: path,
    sourceIp: request.ip ?? null,
    outcome: reply.statusCode,
    requestId: typeof key === 'string' && key.length > 0 ? key : null,
    detail: Object.keys(detail).length > 0 ? detail : null,
  };
}

/** Who the entry names, or `null` when the request is not recorded. */
function actorOf(
  request: FastifyRequest,
  reply: FastifyReply,
  recordsReads: (principal: Principal) => boolean,
): AuditActor | null {
  // A rate-limited call is not recorded (see the module comment), even on an `always` route.
  if (reply.statusCode === 429) return null;
  const refused = REFUSED_STATUSES.has(reply.statusCode);
  const principal = request.principal ?? request.refusedPrincipal;
  if (principal) {
    if (READ_METHODS.has(request.method) && !refused && !recordsReads(principal)) return null;
    return { kind: principal.kind, subject: principal.subject };
  }
  if (request.auditActor) return request.auditActor;
  if (!refused && request.routeOptions.config?.audit !== 'always') return null;
  return { kind: 'anonymous', subject: `anonymous@${request.ip ?? 'unknown'}` };
}
