/**
 * The maker-checker record (decision 47): sensitive requests kept in the catalog database until
 * a different person with an allowed role approves or rejects them. Every change of state is one
 * conditional UPDATE, so an approval wins once: two checkers approving at the same moment, or
 * one approving twice, run the request once.
 */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import type { Principal } from '../access/principal.ts';
import type { Page } from '../data/write-contract.ts';
import { MainstayError } from '../errors/mainstay-error.ts';

export const APPROVAL_STATUSES = ['pending', 'approved', 'rejected', 'executed', 'failed'] as const;
export type ApprovalStatus = (typeof APPROVAL_STATUSES)[number];

/** How long a request waits for its checker when the route does not say. */
export const APPROVAL_TTL_MINUTES_DEFAULT = 24 * 60;

/** A sensitive request and what became of it. */
export interface ApprovalRequest {
  readonly id: string;
  readonly action: string;
  readonly approverRoles: readonly string[];
  readonly method: string;
  readonly path: string;
  readonly body: unknown;
  readonly requestedBy: string;
  readonly requestedAt: string;
  readonly expiresAt: string;
  /** `pending` past `expiresAt` reads as `expired`: nobody can approve it any more. */
  readonly status: ApprovalStatus | 'expired';
  readonly decidedBy: string | null;
  readonly decidedAt: string | null;
  readonly reason: string | null;
  /** The HTTP status and body the request answered when it ran. */
  readonly result: { readonly status: number; readonly body: unknown } | null;
  readonly finishedAt: string | null;
}

/** What the gate stores when a sensitive request arrives. */
export interface NewApproval {
  readonly action: string;
  readonly approverRoles: readonly string[];
  readonly method: string;
  readonly path: string;
  readonly body: unknown;
  readonly idempotencyKey: string | null;
  readonly fingerprint: string;
  readonly ttlMinutes: number;
}

/** The stored request, with what is needed to run it (never shown to clients). */
export interface StoredApproval extends ApprovalRequest {
  readonly idempotencyKey: string | null;
  readonly requesterKind: Principal['kind'];
  readonly requestedScopes: readonly string[];
}

interface Row {
  id: string;
  action: string;
  approver_roles: string[];
  method: string;
  path: string;
  body: unknown;
  idempotency_key: string | null;
  fingerprint: string;
  requested_by: string;
  requester_kind: Principal['kind'];
  requested_scopes: string[];
  requested_at: Date;
  expires_at: Date;
  status: ApprovalStatus;
  decided_by: string | null;
  decided_at: Date | null;
  reason: string | null;
  result_status: number | null;
  result: unknown;
  finished_at: Date | null;
}

export class ApprovalStore {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /** Stores a new request; a retry with the maker's idempotency key answers the first one. */
  async create(
    maker: Principal,
    input: NewApproval,
  ): Promise<{ approval: StoredApproval; replayed: boolean }> {
    const id = `apr_${randomBytes(12).toString('hex')}`;
    const { rows } = await this.#pool.query<Row>(
      `INSERT INTO approval_requests (id, action, approver_roles, method, path, body,
         idempotency_key, fingerprint, requested_by, requester_kind, requested_scopes, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, now() + make_interval(mins => $12))
       ON CONFLICT (requested_by, idempotency_key) DO NOTHING RETURNING *`,
      [
        id,
        input.action,
        input.approverRoles,
        input.method,
        input.path,
        JSON.stringify(input.body ?? null),
        input.idempotencyKey,
        input.fingerprint,
        maker.subject,
        maker.kind,
        [...maker.scopes],
        input.ttlMinutes,
      ],
    );
    if (rows[0]) return { approval: approvalOf(rows[0]), replayed: false };
    const existing = await this.#pool.query<Row>(
      'SELECT * FROM approval_requests WHERE requested_by = $1 AND idempotency_key = $2',
      [maker.subject, input.idempotencyKey],
    );
    const first = existing.rows[0];
    if (!first || first.fingerprint !== input.fingerprint) {
      throw new MainstayError(
        'idempotency_key_reused',
        `idempotency key "${input.idempotencyKey}" was already used with a different request`,
      );
    }
    return { approval: approvalOf(first), replayed: true };
  }

  async get(id: string): Promise<StoredApproval> {
    const { rows } = await this.#pool.query<Row>('SELECT * FROM approval_requests WHERE id = $1', [
      id,
    ]);
    if (!rows[0]) throw new MainstayError('resource_not_found', `no approval request ${id}`);
    return approvalOf(rows[0]);
  }

  /** Requests newest first, optionally of one status (`expired`: pending past its time). */
  async list(
    status: ApprovalStatus | 'expired' | null,
    limit: number,
    startingAfter: string | null,
  ): Promise<Page<ApprovalRequest>> {
    const { rows } = await this.#pool.query<Row>(
      `SELECT * FROM approval_requests
       WHERE ($1::text IS NULL
              OR ($1 = 'expired' AND status = 'pending' AND expires_at <= now())
              OR ($1 = 'pending' AND status = 'pending' AND expires_at > now())
              OR ($1 NOT IN ('expired', 'pending') AND status = $1))
         AND ($2::text IS NULL OR id < $2)
       ORDER BY requested_at DESC, id DESC LIMIT $3`,
      [status, startingAfter, limit + 1],
    );
    const data = rows.slice(0, limit).map((row) => publicOf(approvalOf(row)));
    const hasMore = rows.length > limit;
    return { data, hasMore, nextCursor: hasMore ? (data.at(-1)?.id ?? null) : null };
  }

  /**
   * How many requests wait for a checker (pending, unexpired), the `limit` newest of them, and
   * the `limit` last decided (with what became of each), for a live view of the queue.
   */
  async waiting(limit: number): Promise<{
    count: number;
    data: readonly ApprovalRequest[];
    decided: readonly ApprovalRequest[];
  }> {
    const [counted, page, decided] = await Promise.all([
      this.#pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM approval_requests
         WHERE status = 'pending' AND expires_at > now()`,
      ),
      this.list('pending', limit, null),
      this.#pool.query<Row>(
        `SELECT * FROM approval_requests WHERE status <> 'pending'
         ORDER BY coalesce(finished_at, decided_at) DESC, id DESC LIMIT $1`,
        [limit],
      ),
    ]);
    return {
      count: counted.rows[0]?.n ?? 0,
      data: page.data,
      decided: decided.rows.map((row) => publicOf(approvalOf(row))),
    };
  }

  /**
   * Approves or rejects: wins only while the request is pending, unexpired, and the checker is
   * not its maker and holds an allowed role; otherwise says which of these failed. An approval
   * by the same checker that already approved answers the request as it stands.
   */
  async decide(
    checker: Principal,
    id: string,
    decision: 'approved' | 'rejected',
    reason: string | null,
  ): Promise<{ approval: StoredApproval; won: boolean }> {
    const { rows } = await this.#pool.query<Row>(
      `UPDATE approval_requests
       SET status = $2, decided_by = $3, decided_at = now(), reason = $4
       WHERE id = $1 AND status = 'pending' AND expires_at > now()
         AND requested_by <> $3 AND approver_roles && $5::text[]
       RETURNING *`,
      [id, decision, checker.subject, reason, [...checker.roles]],
    );
    if (rows[0]) return { approval: approvalOf(rows[0]), won: true };
    const current = await this.get(id);
    if (current.status !== 'pending' && current.decidedBy === checker.subject)
      return { approval: current, won: false };
    throw whyNot(current, checker);
  }

  /** Records what the request answered when it ran. */
  async finish(id: string, status: number, body: unknown): Promise<void> {
    await this.#pool.query(
      `UPDATE approval_requests SET status = $2, result_status = $3, result = $4, finished_at = now()
       WHERE id = $1 AND status = 'approved'`,
      [id, status < 400 ? 'executed' : 'failed', status, JSON.stringify(body ?? null)],
    );
  }
}

function whyNot(current: StoredApproval, checker: Principal): MainstayError {
  if (current.requestedBy === checker.subject)
    return new MainstayError('approval_self', 'the person who asked cannot approve or reject it');
  if (!current.approverRoles.some((role) => checker.roles.has(role)))
    return new MainstayError(
      'approval_role_missing',
      `deciding on ${current.action} needs one of the roles ${current.approverRoles.join(', ')}`,
    );
  if (current.status === 'expired')
    return new MainstayError('approval_expired', `the request expired at ${current.expiresAt}`);
  return new MainstayError('approval_decided', `the request is already ${current.status}`);
}

function iso(value: Date | null): string | null {
  return value === null ? null : new Date(value).toISOString();
}

function approvalOf(row: Row): StoredApproval {
  const expired = row.status === 'pending' && new Date(row.expires_at).getTime() <= Date.now();
  return {
    id: row.id,
    action: row.action,
    approverRoles: row.approver_roles,
    method: row.method,
    path: row.path,
    body: row.body,
    requestedBy: row.requested_by,
    requestedAt: new Date(row.requested_at).toISOString(),
    expiresAt: new Date(row.expires_at).toISOString(),
    status: expired ? 'expired' : row.status,
    decidedBy: row.decided_by,
    decidedAt: iso(row.decided_at),
    reason: row.reason,
    result: row.result_status === null ? null : { status: row.result_status, body: row.result },
    finishedAt: iso(row.finished_at),
    idempotencyKey: row.idempotency_key,
    requesterKind: row.requester_kind,
    requestedScopes: row.requested_scopes,
  };
}

/** What a client sees of a stored request. */
export function publicOf(approval: StoredApproval): ApprovalRequest {
  const {
    idempotencyKey: _key,
    requesterKind: _kind,
    requestedScopes: _scopes,
    ...visible
  } = approval;
  return visible;
}
