/**
 * Staff roles and what each may do. A role grants scopes by rule rather than by list, so a module
 * added later (a ledger with `ledger:read`) is covered without a change here: a viewer reads
 * everything, an operator also manages, an admin holds every scope. Which role may approve
 * which sensitive action is the approvals' business (decision 47), keyed by these names.
 */
export const STAFF_ROLES = [
  'viewer',
  'operator',
  'approver',
  'risk_officer',
  'compliance',
  'admin',
] as const;

export type StaffRole = (typeof STAFF_ROLES)[number];

export function isStaffRole(value: string): value is StaffRole {
  return (STAFF_ROLES as readonly string[]).includes(value);
}

const READS = (scope: string) => scope.endsWith(':read') || scope === 'platform:metrics';
const MANAGES = (scope: string) => scope.endsWith(':manage');

/** Which of `known` scopes each role grants. */
const RULES: Readonly<Record<StaffRole, (scope: string) => boolean>> = {
  viewer: READS,
  operator: (scope) => READS(scope) || MANAGES(scope),
  approver: (scope) => READS(scope) || scope === 'approvals:decide',
  risk_officer: (scope) => READS(scope) || MANAGES(scope) || scope === 'approvals:decide',
  compliance: (scope) =>
    READS(scope) || scope === 'identity:review' || scope === 'approvals:decide',
  admin: () => true,
};

/** The scopes a staff member with `roles` holds, out of the scopes the process knows. */
export function scopesOfRoles(roles: readonly string[], known: Iterable<string>): Set<string> {
  const rules = roles.filter(isStaffRole).map((role) => RULES[role]);
  // Every member of staff may see and end their own session.
  if (rules.length > 0) rules.push((scope) => scope === 'identity:self');
  return new Set([...known].filter((scope) => rules.some((rule) => rule(scope))));
}
