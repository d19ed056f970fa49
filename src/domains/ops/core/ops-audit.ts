/**
 * Every action on a workflow run goes to the hash-chained audit trail (decision 48): starts and
 * decisions under the person who made them, each step's start, retry, success, failure and undo
 * under the run's starter, on whose behalf it runs.
 */
import type { AuditLog } from '../../../audit/audit-log.ts';
import type { WorkflowAction } from '../../../workflow/workflow-types.ts';

/** Detail text kept in an entry at most (the audit trail bounds its fields). */
const DETAIL_LENGTH_MAX = 500;

export function auditOpsAction(audit: AuditLog, action: WorkflowAction): void {
  void audit.append({
    actorKind: action.actor.startsWith('stf_') ? 'staff' : 'system',
    actor: action.actor,
    action: `ops ${action.kind}`,
    target: `/v1/ops/runs/${action.runId}`,
    sourceIp: null,
    outcome: action.outcome,
    requestId: null,
    detail: {
      workflow: action.workflow,
      ...(action.position !== null ? { step: String(action.position) } : {}),
      ...(action.detail ? { detail: action.detail.slice(0, DETAIL_LENGTH_MAX) } : {}),
    },
  });
}
