/**
 * The SQL of durable runs (decision 54), on the catalog database: a run and its steps written in
 * one transaction, state changes as single-row updates, the event log, and the conditional
 * update that decides an approval.
 */

import type pg from 'pg';
import { MainstayError } from '../errors/mainstay-error.ts';
import type { MigrationSet } from '../migrations/migration.ts';
import { loadMigrationSet } from '../migrations/migration-files.ts';
import type {
  Decider,
  FailureRecord,
  RunEvent,
  RunStatus,
  RunView,
  StepStatus,
  StepView,
} from './workflow-types.ts';

export const WORKFLOW_MIGRATIONS: MigrationSet = loadMigrationSet(
  'workflow',
  new URL('./sql/', import.meta.url),
);

/** Anything that runs a query: a pool, or the client of a transaction or of a held run. */
export type Queryable = Pick<pg.ClientBase, 'query'>;

/** Runs `work` in one transaction on a client of `pool`. */
export async function inTransaction<T>(
  pool: pg.Pool,
  work: (tx: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const value = await work(client);
    await client.query('COMMIT');
    return value;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** The channel a new or approved run is announced on, so an idle worker starts it at once. */
export const RUN_CHANNEL = 'mainstay_workflow_runs';

/** A step as a new run lists it. */
export interface NewStep {
  readonly name: string;
  readonly module: string;
  readonly input: unknown;
  readonly attemptsMax: number;
  readonly approverRoles: readonly string[] | null;
}

export interface NewRun {
  readonly id: string;
  readonly workflow: string;
  readonly input: unknown;
  readonly startedBy: string;
  readonly idempotencyKey: string;
  /** A fingerprint of what was asked, to tell a retry from another request under the key. */
  readonly requestHash: string;
  readonly steps: readonly NewStep[];
}

/**
 * Inserts a run with its steps, or finds the run the same starter made under the same key.
 * Answers the run's id and whether this call made it.
 */
export async function insertRun(
  pool: pg.Pool,
  run: NewRun,
): Promise<{ id: string; created: boolean }> {
  const made = await inTransaction(pool, async (tx) => {
    const inserted = await tx.query(
      `INSERT INTO workflow_runs (id, workflow, input, status, started_by, idempotency_key, request_hash)
       VALUES ($1, $2, $3, 'running', $4, $5, $6)
       ON CONFLICT (started_by, idempotency_key) DO NOTHING RETURNING id`,
      [
        run.id,
        run.workflow,
        JSON.stringify(run.input),
        run.startedBy,
        run.idempotencyKey,
        run.requestHash,
      ],
    );
    if (inserted.rowCount === 0) return false;
    await tx.query(
      `INSERT INTO workflow_steps (run_id, position, name, module, input, status, attempts_max, approver_roles)
       SELECT $1, s.position, s.name, s.module, s.input, 'pending', s.attempts_max, s.approver_roles
       FROM jsonb_to_recordset($2::jsonb)
         AS s(name text, module text, input jsonb, attempts_max int, approver_roles text[], position int)`,
      [run.id, JSON.stringify(run.steps.map((step, position) => stepRow(step, position)))],
    );
    await addEvent(tx, run.id, null, 'run_started', `${run.workflow} started by ${run.startedBy}`);
    await tx.query('SELECT pg_notify($1, $2)', [RUN_CHANNEL, run.id]);
    return true;
  });
  return made
    ? { id: run.id, created: true }
    : { id: await existingRun(pool, run), created: false };
}

function stepRow(step: NewStep, position: number) {
  return {
    position,
    name: step.name,
    module: step.module,
    input: step.input ?? null,
    attempts_max: step.attemptsMax,
    approver_roles: step.approverRoles,
  };
}

async function existingRun(db: Queryable, run: NewRun): Promise<string> {
  const found = await db.query<{ id: string; request_hash: string }>(
    'SELECT id, request_hash FROM workflow_runs WHERE started_by = $1 AND idempotency_key = $2',
    [run.startedBy, run.idempotencyKey],
  );
  const row = found.rows[0];
  if (!row) throw new MainstayError('internal_error', 'a run reported as existing was not found');
  if (row.request_hash !== run.requestHash) {
    throw new MainstayError(
      'idempotency_key_reused',
      `idempotency key ${run.idempotencyKey} already started run ${row.id} with another request`,
    );
  }
  return row.id;
}

export async function addEvent(
  db: Queryable,
  runId: string,
  position: number | null,
  kind: string,
  detail: string,
): Promise<void> {
  await db.query(
    'INSERT INTO workflow_events (run_id, position, kind, detail) VALUES ($1, $2, $3, $4)',
    [runId, position, kind, detail],
  );
}

/** What a step update may set; `undefined` leaves a column as it is. */
export interface StepChange {
  readonly status?: StepStatus;
  readonly phase?: string | null;
  readonly attempts?: number;
  readonly output?: unknown;
  readonly error?: FailureRecord | null;
  readonly started?: boolean;
  readonly finished?: boolean;
}

export async function updateStep(
  db: Queryable,
  runId: string,
  position: number,
  change: StepChange,
  event?: { readonly kind: string; readonly detail: string },
): Promise<void> {
  const update = `UPDATE workflow_steps SET
       status = coalesce($3, status),
       phase = CASE WHEN $4 THEN $5 ELSE phase END,
       attempts = coalesce($6, attempts),
       output = CASE WHEN $7 THEN $8::jsonb ELSE output END,
       error = CASE WHEN $9 THEN $10::jsonb ELSE error END,
       started_at = CASE WHEN $11 THEN coalesce(started_at, now()) ELSE started_at END,
       finished_at = CASE WHEN $12 THEN now() ELSE finished_at END
     WHERE run_id = $1 AND position = $2`;
  const values = [
    runId,
    position,
    change.status ?? null,
    change.phase !== undefined,
    change.phase ?? null,
    change.attempts ?? null,
    change.output !== undefined,
    JSON.stringify(change.output ?? null),
    change.error !== undefined,
    change.error ? JSON.stringify(change.error) : null,
    change.started === true,
    change.finished === true,
  ];
  if (!event) {
    await db.query(update, values);
    return;
  }
  // One round trip: the change and its event, in one statement.
  await db.query(
    `WITH changed AS (${update} RETURNING 1)
     INSERT INTO workflow_events (run_id, position, kind, detail)
     SELECT $1, $2, $13, $14 FROM changed`,
    [...values, event.kind, event.detail],
  );
}

export async function setRunStatus(
  db: Queryable,
  runId: string,
  status: RunStatus,
  error?: FailureRecord | null,
): Promise<void> {
  const finished = ['succeeded', 'compensated', 'compensation_failed', 'rejected'].includes(status);
  await db.query(
    `UPDATE workflow_runs SET status = $2, updated_at = now(),
       error = CASE WHEN $3 THEN $4::jsonb ELSE error END,
       finished_at = CASE WHEN $5 THEN now() ELSE NULL END
     WHERE id = $1`,
    [runId, status, error !== undefined, error ? JSON.stringify(error) : null, finished],
  );
}

interface RunRow {
  id: string;
  workflow: string;
  input: unknown;
  status: RunStatus;
  started_by: string;
  error: FailureRecord | null;
  created_at: Date;
  updated_at: Date;
  finished_at: Date | null;
}

interface StepRow {
  position: number;
  name: string;
  module: string;
  input: unknown;
  status: StepStatus;
  phase: string | null;
  attempts: number;
  attempts_max: number;
  approver_roles: string[] | null;
  decided_by: string | null;
  decided_at: Date | null;
  decision_reason: string | null;
  output: unknown;
  error: FailureRecord | null;
  started_at: Date | null;
  finished_at: Date | null;
}

const iso = (at: Date | null) => (at ? at.toISOString() : null);

function stepView(row: StepRow): StepView {
  return {
    position: row.position,
    name: row.name,
    module: row.module,
    input: row.input,
    status: row.status,
    phase: row.phase,
    attempts: row.attempts,
    attemptsMax: row.attempts_max,
    approverRoles: row.approver_roles,
    decidedBy: row.decided_by,
    decidedAt: iso(row.decided_at),
    decisionReason: row.decision_reason,
    output: row.output,
    error: row.error,
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
  };
}

function runView(row: RunRow, steps: readonly StepView[]): RunView {
  return {
    id: row.id,
    workflow: row.workflow,
    input: row.input,
    status: row.status,
    startedBy: row.started_by,
    error: row.error,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    finishedAt: iso(row.finished_at),
    steps,
  };
}

/** A run with its steps (one query), or null when there is none with this id. */
export async function loadRun(
  db: Queryable,
  runId: string,
  forUpdate = false,
): Promise<RunView | null> {
  const runs = await db.query<RunRow & { steps: JsonStepRow[] }>(
    `SELECT r.*, (SELECT coalesce(json_agg(s ORDER BY s.position), '[]')
                  FROM workflow_steps s WHERE s.run_id = r.id) AS steps
     FROM workflow_runs r WHERE r.id = $1${forUpdate ? ' FOR UPDATE OF r' : ''}`,
    [runId],
  );
  const row = runs.rows[0];
  if (!row) return null;
  return runView(row, row.steps.map(fromJson).map(stepView));
}

/** A step row as `json_agg` gives it: timestamps as text. */
type JsonStepRow = Omit<StepRow, 'decided_at' | 'started_at' | 'finished_at'> & {
  decided_at: string | null;
  started_at: string | null;
  finished_at: string | null;
};

function fromJson(row: JsonStepRow): StepRow {
  const at = (text: string | null) => (text === null ? null : new Date(text));
  return {
    ...row,
    decided_at: at(row.decided_at),
    started_at: at(row.started_at),
    finished_at: at(row.finished_at),
  };
}

/** Runs newest first, after the cursor (the last run of the previous page), with their steps. */
export async function listRuns(
  db: Queryable,
  options: { limit: number; after?: { createdAt: string; id: string }; status?: RunStatus },
): Promise<RunView[]> {
  const runs = await db.query<RunRow>(
    `SELECT * FROM workflow_runs
     WHERE ($1::timestamptz IS NULL OR (created_at, id) < ($1::timestamptz, $2::text))
       AND ($3::text IS NULL OR status = $3)
     ORDER BY created_at DESC, id DESC LIMIT $4`,
    [
      options.after?.createdAt ?? null,
      options.after?.id ?? null,
      options.status ?? null,
      options.limit,
    ],
  );
  if (runs.rows.length === 0) return [];
  const steps = await db.query<StepRow & { run_id: string }>(
    'SELECT * FROM workflow_steps WHERE run_id = ANY($1) ORDER BY run_id, position',
    [runs.rows.map((run) => run.id)],
  );
  return runs.rows.map((run) =>
    runView(run, steps.rows.filter((step) => step.run_id === run.id).map(stepView)),
  );
}

/** The run's events after `afterSeq`, oldest first. */
export async function readEvents(
  db: Queryable,
  runId: string,
  afterSeq: number,
  limit: number,
): Promise<RunEvent[]> {
  const events = await db.query<{
    seq: string;
    at: Date;
    position: number | null;
    kind: string;
    detail: string;
  }>(
    `SELECT seq, at, position, kind, detail FROM workflow_events
     WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
    [runId, afterSeq, limit],
  );
  return events.rows.map((event) => ({
    seq: Number(event.seq),
    at: event.at.toISOString(),
    position: event.position,
    kind: event.kind,
    detail: event.detail,
  }));
}

/** Active runs of the given workflows, oldest first: what a worker may pick up. */
export async function activeRunIds(
  db: Queryable,
  workflows: readonly string[],
  limit: number,
): Promise<string[]> {
  const found = await db.query<{ id: string }>(
    `SELECT id FROM workflow_runs
     WHERE status IN ('running', 'compensating') AND workflow = ANY($1)
     ORDER BY created_at LIMIT $2`,
    [workflows, limit],
  );
  return found.rows.map((row) => row.id);
}

/**
 * Decides on the step waiting for approval: one conditional update, so two deciders cannot both
 * win. Refuses the starter, a person without an allowed role, and a step no longer waiting.
 */
export async function decideStep(
  pool: pg.Pool,
  runId: string,
  decider: Decider,
  approve: boolean,
  reason: string | null,
): Promise<{ position: number; workflow: string }> {
  return inTransaction(pool, (tx) => decideIn(tx, runId, decider, approve, reason));
}

async function decideIn(
  db: Queryable,
  runId: string,
  decider: Decider,
  approve: boolean,
  reason: string | null,
): Promise<{ position: number; workflow: string }> {
  const run = await loadRun(db, runId, true);
  if (!run) throw new MainstayError('resource_not_found', `no run ${runId}`);
  const waiting = run.steps.find((step) => step.status === 'waiting_approval');
  if (!waiting || run.status !== 'waiting_approval') {
    throw new MainstayError(
      'approval_decided',
      `run ${runId} is ${run.status}: no step waits for a decision`,
    );
  }
  if (run.startedBy === decider.id) {
    throw new MainstayError(
      'approval_self',
      `${decider.id} started run ${runId}; another person must decide`,
    );
  }
  const roles = waiting.approverRoles ?? [];
  if (!decider.roles.some((role) => roles.includes(role))) {
    throw new MainstayError(
      'approval_role_missing',
      `deciding step ${waiting.name} needs a staff session with one of the roles: ${roles.join(', ')}`,
    );
  }
  const decided = await db.query(
    `UPDATE workflow_steps SET status = $3, decided_by = $4, decided_at = now(), decision_reason = $5
     WHERE run_id = $1 AND position = $2 AND status = 'waiting_approval'`,
    [runId, waiting.position, approve ? 'pending' : 'rejected', decider.id, reason],
  );
  if (decided.rowCount !== 1) {
    throw new MainstayError(
      'approval_decided',
      `step ${waiting.name} of run ${runId} was decided meanwhile`,
    );
  }
  await setRunStatus(db, runId, approve ? 'running' : 'compensating');
  await addEvent(
    db,
    runId,
    waiting.position,
    approve ? 'step_approved' : 'step_rejected',
    `${waiting.name} ${approve ? 'approved' : 'rejected'} by ${decider.id}${reason ? `: ${reason}` : ''}`,
  );
  await db.query('SELECT pg_notify($1, $2)', [RUN_CHANNEL, runId]);
  return { position: waiting.position, workflow: run.workflow };
}
