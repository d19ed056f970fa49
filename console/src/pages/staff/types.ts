/** What the staff page reads from the API, as the API answers it. */

export interface StaffMember {
  readonly id: string;
  readonly username: string;
  readonly displayName: string;
  readonly roles: readonly string[];
  readonly createdAt: string;
  readonly lockedUntil: string | null;
}

export interface Approval {
  readonly id: string;
  readonly action: string;
  readonly approverRoles: readonly string[];
  readonly method: string;
  readonly path: string;
  readonly body: unknown;
  readonly requestedBy: string;
  readonly requestedAt: string;
  readonly expiresAt: string;
  readonly status: 'pending' | 'approved' | 'rejected' | 'executed' | 'failed' | 'expired';
  readonly decidedBy: string | null;
  readonly decidedAt: string | null;
  readonly reason: string | null;
  readonly result: { readonly status: number; readonly body: unknown } | null;
  readonly finishedAt: string | null;
}

/** The stream's `approvals` topic: the requests waiting for a checker, and the last decided. */
export interface ApprovalsTopic {
  readonly count: number;
  readonly data: readonly Approval[];
  readonly decided: readonly Approval[];
}

export interface Credential {
  readonly id: string;
  readonly name: string;
  readonly scopes: readonly string[];
  readonly createdAt: string;
  readonly revokedAt: string | null;
  readonly lastUsedAt?: string | null;
}

/** The roles a staff member may hold (the API's `RoleGrant` schema lists the same). */
export const STAFF_ROLES = [
  'viewer',
  'operator',
  'approver',
  'risk_officer',
  'compliance',
  'admin',
] as const;

/** A staff id as a username when the list knows it, else the id itself. */
export type NameOf = (id: string) => string;
