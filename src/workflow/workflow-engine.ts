/**
 * The durable workflow engine (decision 54). Runs live in the catalog database; any process may
 * start one, list them or decide on an approval. A process that is a worker holds a session on
 * the catalog database and picks up active runs of the workflows it can run: it takes a run with
 * a session-level advisory lock, so exactly one worker drives a run, and a worker that dies (or
 * whose session drops) frees its runs at once for the next worker, which resumes each from its
 * last completed step. New and approved runs are announced with NOTIFY; a poll catches the rest
 * (a run freed by a dead worker announces nothing).
 */
import { createHash } from 'node:crypto';
import { Value } from '@sinclair/typebox/value';
import pg from 'pg';
import { MainstayError } from '../errors/mainstay-error.ts';
import { type DriveEnd, type RetryDelays, RunDriver } from './run-driver.ts';
import {
  activeRunIds,
  decideStep,
  insertRun,
  listRuns,
  loadRun,
  RUN_CHANNEL,
  readEvents,
} from './workflow-store.ts';
import type {
  Decider,
  RunEvent,
  RunStatus,
  RunView,
  StepModule,
  WorkflowAction,
  WorkflowDefinition,
} from './workflow-types.ts';

export interface WorkflowEngineOptions {
  /** The catalog database, for starting, listing and deciding. */
  readonly pool: pg.Pool;
  /** The catalog database again, for the worker's own session (locks, state, LISTEN). */
  readonly connection: pg.ClientConfig;
  readonly workflows: readonly WorkflowDefinition[];
  readonly modules: readonly StepModule[];
  /** Pick up runs (default true); false only starts, lists and decides. */
  readonly worker?: boolean;
  /** How often a worker looks for runs nobody holds (250 ms). */
  readonly pollMs?: number;
  /** Runs one worker drives at once (8). */
  readonly concurrency?: number;
  readonly retryDelays?: RetryDelays;
  /** Told of every action on a run, for the audit trail. */
  readonly onAction?: (action: WorkflowAction) => void;
}

export interface StartRequest {
  readonly workflow: string;
  readonly input: unknown;
  readonly startedBy: string;
  readonly idempotencyKey: string;
  /** The new run's id (the caller mints it). */
  readonly id: string;
}

const DEFAULT_DELAYS: RetryDelays = { minMs: 200, maxMs: 30_000 };

/** The advisory lock key of a run: a 64-bit prefix of SHA-256, as the jobs' leases do. */
function runLockKey(runId: string): string {
  return createHash('sha256')
    .update(`mainstay.workflow:${runId}`)
    .digest()
    .readBigInt64BE(0)
    .toString();
}

export class WorkflowEngine {
  readonly #options: WorkflowEngineOptions;
  readonly #workflows = new Map<string, WorkflowDefinition>();
  readonly #modules = new Map<string, StepModule>();
  /** The runs this worker drives, with the controller that lets go of each. */
  readonly #held = new Map<string, AbortController>();
  #session: pg.Client | null = null;
  #timer: NodeJS.Timeout | null = null;
  #polling: Promise<void> | null = null;
  #stopped = false;
  readonly #drives = new Set<Promise<void>>();

  constructor(options: WorkflowEngineOptions) {
    this.#options = options;
    for (const module of options.modules) {
      this.#modules.set(module.name, module);
      this.#workflows.set(`module:${module.name}`, {
        name: `module:${module.name}`,
        summary: module.summary,
        inputSchema: module.inputSchema,
        steps: [{ name: module.name, module: module.name, input: (input) => input }],
      });
    }
    for (const workflow of options.workflows) {
      for (const step of workflow.steps) {
        if (!this.#modules.has(step.module))
          throw new Error(`workflow ${workflow.name} names unknown module ${step.module}`);
      }
      this.#workflows.set(workflow.name, workflow);
    }
  }

  get workflows(): readonly WorkflowDefinition[] {
    return [...this.#workflows.values()];
  }

  get modules(): readonly StepModule[] {
    return [...this.#modules.values()];
  }

  /** The runs this worker holds now. */
  get held(): readonly string[] {
    return [...this.#held.keys()];
  }

  /** Starts the worker (when it is one). */
  async start(): Promise<void> {
    if (this.#options.worker === false) return;
    this.#schedule(0);
  }

  /** Lets go of every run (each stays where it was, for the next worker) and closes the session. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    for (const controller of this.#held.values()) controller.abort();
    await this.#polling;
    await Promise.allSettled([...this.#drives]);
    await this.#session?.end().catch(() => undefined);
    this.#session = null;
  }

  /** Starts a run of a workflow (or answers the run the same key started). */
  async startRun(request: StartRequest): Promise<{ run: RunView; created: boolean }> {
    const workflow = this.#workflows.get(request.workflow);
    if (!workflow) {
      throw new MainstayError(
        'workflow_unknown',
        `no workflow ${request.workflow}; known: ${[...this.#workflows.keys()].join(', ')}`,
      );
    }
    const input = this.#checked(workflow, request.input);
    const steps = workflow.steps.map((step) => {
      const module = this.#modules.get(step.module);
      const roles = step.approverRoles ?? module?.approverRoles;
      return {
        name: step.name,
        module: step.module,
        input: step.input(input),
        attemptsMax: module?.attemptsMax ?? 3,
        approverRoles: roles ? [...roles] : null,
      };
    });
    const requestHash = createHash('sha256')
      .update(JSON.stringify([request.workflow, input]))
      .digest('hex');
    const made = await insertRun(this.#options.pool, {
      id: request.id,
      workflow: workflow.name,
      input,
      startedBy: request.startedBy,
      idempotencyKey: request.idempotencyKey,
      requestHash,
      steps,
    });
    if (made.created) {
      this.#action(
        made.id,
        workflow.name,
        request.startedBy,
        'run_started',
        null,
        `${workflow.name} started`,
        202,
      );
    }
    return { run: await this.run(made.id), created: made.created };
  }

  #checked(workflow: WorkflowDefinition, input: unknown): unknown {
    const errors = [...Value.Errors(workflow.inputSchema, input)].slice(0, 20);
    if (errors.length > 0) {
      throw new MainstayError('invalid_request', `the input of ${workflow.name} is invalid`, {
        errors: errors.map((error) => ({ pointer: `/input${error.path}`, detail: error.message })),
      });
    }
    return input;
  }

  /**
   * Runs one module alone, as a workflow of one step named after it (input checked against the
   * module's schema).
   */
  startModule(request: Omit<StartRequest, 'workflow'> & { module: string }) {
    const module = this.#modules.get(request.module);
    if (!module) {
      throw new MainstayError(
        'module_unknown',
        `no module ${request.module}; known: ${[...this.#modules.keys()].join(', ')}`,
      );
    }
    const { module: _module, ...rest } = request;
    return this.startRun({ ...rest, workflow: `module:${module.name}` });
  }

  async run(runId: string): Promise<RunView> {
    const run = await loadRun(this.#options.pool, runId);
    if (!run) throw new MainstayError('resource_not_found', `no run ${runId}`);
    return run;
  }

  list(options: {
    limit: number;
    after?: { createdAt: string; id: string };
    status?: RunStatus;
  }): Promise<RunView[]> {
    return listRuns(this.#options.pool, options);
  }

  async events(runId: string, afterSeq: number, limit = 500): Promise<RunEvent[]> {
    await this.run(runId);
    return readEvents(this.#options.pool, runId, afterSeq, limit);
  }

  /** Approves or rejects the step the run waits on; throws when the decider may not. */
  async decide(runId: string, decider: Decider, approve: boolean, reason: string | null) {
    const decided = await decideStep(this.#options.pool, runId, decider, approve, reason);
    this.#action(
      runId,
      decided.workflow,
      decider.id,
      approve ? 'step_approved' : 'step_rejected',
      decided.position,
      reason ?? '',
      approve ? 200 : 409,
    );
    return this.run(runId);
  }

  #action(
    runId: string,
    workflow: string,
    actor: string,
    kind: string,
    position: number | null,
    detail: string,
    outcome: number,
  ) {
    this.#options.onAction?.({ runId, workflow, actor, kind, position, detail, outcome });
  }

  #schedule(delayMs: number) {
    if (this.#stopped) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#polling ??= this.#poll().finally(() => {
        this.#polling = null;
        this.#schedule(this.#options.pollMs ?? 250);
      });
    }, delayMs);
  }

  /** Looks for active runs nobody holds and takes what it can. */
  async #poll(): Promise<void> {
    try {
      const session = await this.#sessionOrConnect();
      const room = (this.#options.concurrency ?? 8) - this.#held.size;
      if (room <= 0) return;
      const runnable = [...this.#workflows.keys()];
      const ids = await activeRunIds(session, runnable, room + this.#held.size);
      for (const id of ids) {
        if (this.#stopped || this.#held.size >= (this.#options.concurrency ?? 8)) break;
        if (!this.#held.has(id)) await this.#tryTake(session, id);
      }
    } catch {
      this.#dropSession();
    }
  }

  async #tryTake(session: pg.Client, runId: string): Promise<void> {
    const key = runLockKey(runId);
    const taken = await session.query<{ ok: boolean }>(
      'SELECT pg_try_advisory_lock($1::bigint) AS ok',
      [key],
    );
    if (!taken.rows[0]?.ok) return;
    const run = await loadRun(session, runId);
    if (!run || (run.status !== 'running' && run.status !== 'compensating')) {
      await session.query('SELECT pg_advisory_unlock($1::bigint)', [key]);
      return;
    }
    const controller = new AbortController();
    this.#held.set(runId, controller);
    const drive = this.#drive(session, runId, controller).finally(() => {
      this.#drives.delete(drive);
    });
    this.#drives.add(drive);
  }

  async #drive(session: pg.Client, runId: string, controller: AbortController): Promise<void> {
    const driver = new RunDriver({
      session,
      modules: this.#modules,
      delays: this.#options.retryDelays ?? DEFAULT_DELAYS,
      signal: controller.signal,
      onAction: (action) => this.#options.onAction?.(action),
      load: async (id) => {
        const run = await loadRun(session, id);
        if (!run) throw new Error(`run ${id} vanished`);
        return run;
      },
    });
    let end: DriveEnd = 'released';
    try {
      end = await driver.drive(runId);
    } catch {
      // The session failed (or a module broke the contract): let go; the run stays for a worker.
      if (this.#session === session) this.#dropSession();
    } finally {
      this.#held.delete(runId);
      if (this.#session === session) {
        await session
          .query('SELECT pg_advisory_unlock($1::bigint)', [runLockKey(runId)])
          .catch(() => this.#dropSession());
      }
    }
    if (end === 'finished' || end === 'waiting') this.#schedule(0);
  }

  async #sessionOrConnect(): Promise<pg.Client> {
    if (this.#session) return this.#session;
    const session = new pg.Client({
      ...this.#options.connection,
      application_name: this.#options.connection.application_name ?? 'mainstay-workflow-worker',
    });
    session.on('error', () => this.#dropSession());
    session.on('notification', () => this.#schedule(0));
    await session.connect();
    await session.query(`LISTEN ${RUN_CHANNEL}`);
    this.#session = session;
    return session;
  }

  /** Forgets a failed session: every run it held is let go (its locks went with it). */
  #dropSession() {
    const session = this.#session;
    this.#session = null;
    for (const controller of this.#held.values()) controller.abort();
    session?.end().catch(() => undefined);
  }
}
