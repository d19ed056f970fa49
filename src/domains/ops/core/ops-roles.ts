/** Who approves a sensitive ops step (a repair, a failover drill): as for a re-seed (decision 47). */
export const OPS_APPROVER_ROLES: readonly string[] = ['approver', 'admin'];
