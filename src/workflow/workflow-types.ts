/**
 * The vocabulary of durable workflows (decision 54): an atomic step module with its four phases,
 * a workflow as steps in order, and what a run and its steps look like when read back.
 */
import type { TSchema } from '@sinclair/typebox';

/** What a step's phases are given besides their input. */
export interface StepContext {
  readonly runId: string;
  /** The step's position in its run, from 0. */
  readonly position: number;
  /** This attempt's number, from 1 (a run resumed after a crash counts a new attempt). */
  readonly attempt: number;
  /** The person who started the run. */
  readonly startedBy: string;
  /** Aborted when the worker stops or loses the run; long work should give up on it. */
  readonly signal: AbortSignal;
  /** Adds a line to the run's event log (shown live by the API and the CLI). */
  log(detail: string): Promise<void>;
  /**
   * Reports how far a long step is (`done` of `total` units of `what`), shown as a bar by the
   * CLI; throttled, so a step may call it for every unit (step-progress.ts).
   */
  progress(done: number, total: number, what: string): Promise<void>;
}

/**
 * One atomic operation. Every phase must be safe to run again: a worker that dies mid-step
 * leaves the step to the next worker, which starts it over from `preflight`.
 */
export interface StepModule<I = unknown, O = unknown> {
  readonly name: string;
  /** One line for people: what the module does. */
  readonly summary: string;
  /** The step input's JSON schema, checked when a run starts. */
  readonly inputSchema: TSchema;
  /** Checks that the step can run now; throws (nothing changed) when it cannot. */
  preflight?(input: I, context: StepContext): Promise<void>;
  /** Does the work; what it returns is kept as the step's output (JSON). */
  execute(input: I, context: StepContext): Promise<O>;
  /** Checks that the work took effect; throws when it did not. */
  verify?(input: I, output: O, context: StepContext): Promise<void>;
  /**
   * Undoes the step, after a later step (or this one) failed for good. `output` is null when
   * the step failed before it produced one.
   */
  compensate?(input: I, output: O | null, context: StepContext): Promise<void>;
  /**
   * Attempts at most, a first attempt included (3 by default). A step cut off (its worker
   * stopped) in its last attempt fails instead of running again: a module that must never act
   * twice (a drill that kills a server) allows one.
   */
  readonly attemptsMax?: number;
  /**
   * A sensitive module (a failover drill, a repair): wherever it runs, its step waits until a
   * person holding one of these roles, not the run's starter, approves.
   */
  readonly approverRoles?: readonly string[];
}

/** A step of a workflow: which module, with what input, behind whose approval. */
export interface StepDefinition {
  readonly name: string;
  readonly module: string;
  /** The module's input from the run's input (computed once, when the run starts). */
  input(runInput: unknown): unknown;
  /** When set, the step waits until a person holding one of the roles, not the starter, approves. */
  readonly approverRoles?: readonly string[];
}

export interface WorkflowDefinition {
  readonly name: string;
  readonly summary: string;
  /** The run input's JSON schema. */
  readonly inputSchema: TSchema;
  readonly steps: readonly StepDefinition[];
}

export const RUN_STATUSES = [
  'running',
  'waiting_approval',
  'compensating',
  'succeeded',
  'compensated',
  'compensation_failed',
  'rejected',
] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** A run that is over: nothing more will happen to it. */
export const FINISHED_RUN_STATUSES: readonly RunStatus[] = [
  'succeeded',
  'compensated',
  'compensation_failed',
  'rejected',
];

export const STEP_STATUSES = [
  'pending',
  'waiting_approval',
  'running',
  'succeeded',
  'failed',
  'compensating',
  'compensated',
  'compensation_failed',
  'rejected',
] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];

/** A failure as kept on a run or a step: the error's code (when it has one) and message. */
export interface FailureRecord {
  readonly code: string | null;
  readonly message: string;
}

export interface StepView {
  readonly position: number;
  readonly name: string;
  readonly module: string;
  readonly input: unknown;
  readonly status: StepStatus;
  readonly phase: string | null;
  readonly attempts: number;
  readonly attemptsMax: number;
  readonly approverRoles: readonly string[] | null;
  readonly decidedBy: string | null;
  readonly decidedAt: string | null;
  readonly decisionReason: string | null;
  readonly output: unknown;
  readonly error: FailureRecord | null;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
}

export interface RunView {
  readonly id: string;
  readonly workflow: string;
  readonly input: unknown;
  readonly status: RunStatus;
  readonly startedBy: string;
  readonly error: FailureRecord | null;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly finishedAt: string | null;
  readonly steps: readonly StepView[];
}

export interface RunEvent {
  readonly seq: number;
  readonly at: string;
  readonly position: number | null;
  readonly kind: string;
  readonly detail: string;
}

/** Who decides on a step waiting for approval: a person and the roles they hold. */
export interface Decider {
  readonly id: string;
  readonly roles: readonly string[];
}

/** Told of every action on a run (the ops module sends them to the audit trail). */
export interface WorkflowAction {
  readonly runId: string;
  readonly workflow: string;
  /** Who acted: a person for start and decisions, the run's starter for the steps. */
  readonly actor: string;
  readonly kind: string;
  readonly position: number | null;
  readonly detail: string;
  /** Status-like outcome: 200 done, 202 waiting, 409 refused, 500 failed. */
  readonly outcome: number;
}
