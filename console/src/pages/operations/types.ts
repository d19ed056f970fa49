/** The shapes of the ops API (`/v1/ops/...`), the re-seed's approval requests and the topics. */

export interface Failure {
  readonly code: string | null;
  readonly message: string;
}

export interface Step {
  readonly position: number;
  readonly name: string;
  readonly module: string;
  readonly status: string;
  readonly phase: string | null;
  readonly attempts: number;
  readonly attemptsMax: number;
  readonly approverRoles: readonly string[] | null;
  readonly decidedBy: string | null;
  readonly decidedAt: string | null;
  readonly decisionReason: string | null;
  readonly error: Failure | null;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
}

export interface Run {
  readonly id: string;
  readonly workflow: string;
  readonly input: unknown;
  readonly status: string;
  readonly startedBy: string;
  readonly error: Failure | null;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly finishedAt: string | null;
  readonly steps: readonly Step[];
}

export interface RunEvent {
  readonly seq: number;
  readonly at: string;
  readonly position: number | null;
  readonly kind: string;
  readonly detail: string;
}

/** A sensitive request held for a second person (`/v1/approvals`). */
export interface ApprovalRequest {
  readonly id: string;
  readonly action: string;
  readonly body: unknown;
  readonly requestedBy: string;
  readonly requestedAt: string;
  readonly expiresAt: string;
  readonly status: string;
  readonly decidedBy: string | null;
  readonly reason: string | null;
  readonly result: { readonly status: number; readonly body: unknown } | null;
}

/** The part of the topology snapshot the forms need. */
export interface Topology {
  readonly dataCentres: readonly { readonly id: string; readonly primary: string }[];
  readonly shards: readonly { readonly id: number; readonly homeDc: string }[];
}

/** The stream topics this page reads. */
export type OpsTopics = {
  'ops-runs': {
    readonly runs: readonly Run[];
    /** The cursor of the runs after `runs`, `null` when there are none. */
    readonly nextCursor: string | null;
    readonly waiting: readonly Run[];
  };
  reseeds: { readonly data: readonly ApprovalRequest[] };
  topology: Topology;
};

/** Statuses of a run that is over. */
export const FINISHED = ['succeeded', 'compensated', 'compensation_failed', 'rejected'];

/** The badge class of a run's or step's status. */
export function tone(status: string): string {
  if (status === 'succeeded' || status === 'executed' || status === 'approved') return 'badge ok';
  if (status === 'waiting_approval' || status === 'pending' || status === 'running')
    return 'badge warn';
  if (status === 'compensated' || status === 'skipped') return 'badge';
  return 'badge bad';
}

/** Steps finished well, of all steps. */
export function progressOf(run: Run): { done: number; total: number } {
  return {
    done: run.steps.filter((step) => step.status === 'succeeded').length,
    total: run.steps.length,
  };
}
