/**
 * Drives one run that its worker holds (decision 54): each step through preflight, execute and
 * verify with retries and backoff, a step with approvers parked until someone decides, and on a
 * failure for good the steps done so far compensated, last first. Every state change goes
 * through the holder's own session, so a worker that lost its session (and with it the run's
 * lock) cannot record anything more for the run.
 */
import { isMainstayError } from '../errors/mainstay-error.ts';
import { PROGRESS_EVENT, progressReporter } from './step-progress.ts';
import {
  addEvent,
  type Queryable,
  type StepChange,
  setRunStatus,
  updateStep,
} from './workflow-store.ts';
import type {
  FailureRecord,
  RunView,
  StepContext,
  StepModule,
  StepView,
  WorkflowAction,
} from './workflow-types.ts';

/**
 * Whether no retry can cure the error: a refusal of the request itself (a 4xx code of the
 * catalogue: invalid input, not found, a conflict, a preflight's refusal), except a timeout or
 * a rate limit, which another attempt may get past.
 */
function isPermanent(error: unknown): boolean {
  if (!isMainstayError(error)) return false;
  const status = error.status;
  return status >= 400 && status < 500 && status !== 408 && status !== 429;
}

export interface RetryDelays {
  /** The wait after a first failed attempt, doubled per further failure. */
  readonly minMs: number;
  readonly maxMs: number;
}

export interface DriverDeps {
  /** The holder's session: every write of the run goes through it. */
  readonly session: Queryable;
  readonly modules: ReadonlyMap<string, StepModule>;
  readonly delays: RetryDelays;
  readonly signal: AbortSignal;
  readonly onAction: (action: WorkflowAction) => void;
  /** Loads the run afresh through the session. */
  load(runId: string): Promise<RunView>;
}

/** Why a drive ended: the run is over, waits for a person, or the worker let go of it. */
export type DriveEnd = 'finished' | 'waiting' | 'released';

export function failureOf(error: unknown): FailureRecord {
  if (isMainstayError(error)) return { code: error.code, message: error.message };
  return { code: null, message: error instanceof Error ? error.message : String(error) };
}

/** Waits `ms`, or less when the signal aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

export class RunDriver {
  readonly #deps: DriverDeps;

  constructor(deps: DriverDeps) {
    this.#deps = deps;
  }

  /** Drives the run until it is over, waits for a decision, or the signal aborts. */
  async drive(runId: string): Promise<DriveEnd> {
    for (;;) {
      if (this.#deps.signal.aborted) return 'released';
      const run = await this.#deps.load(runId);
      if (run.status === 'running') {
        const end = await this.#forward(run);
        if (end) return end;
      } else if (run.status === 'compensating') {
        await this.#compensate(run);
        return 'finished';
      } else {
        return run.status === 'waiting_approval' ? 'waiting' : 'finished';
      }
    }
  }

  /** One step forward; answers how the drive ends, or null to go on. */
  async #forward(run: RunView): Promise<DriveEnd | null> {
    const step = run.steps.find((candidate) => candidate.status !== 'succeeded');
    if (!step) {
      await setRunStatus(this.#deps.session, run.id, 'succeeded', null);
      await this.#event(run, null, 'run_succeeded', `${run.workflow} succeeded`, 200);
      return 'finished';
    }
    if (step.status === 'failed') {
      await setRunStatus(this.#deps.session, run.id, 'compensating', step.error);
      return null;
    }
    if (step.status === 'pending' && step.approverRoles && step.decidedBy === null) {
      await this.#change(run, step, { status: 'waiting_approval' });
      await setRunStatus(this.#deps.session, run.id, 'waiting_approval');
      const roles = step.approverRoles.join(' or ');
      await this.#event(
        run,
        step,
        'approval_requested',
        `${step.name} waits for a person with the role ${roles}, not ${run.startedBy}`,
        202,
      );
      return 'waiting';
    }
    const failure = await this.#attempt(run, step);
    if (this.#deps.signal.aborted) return 'released';
    if (failure) await setRunStatus(this.#deps.session, run.id, 'compensating', failure);
    return null;
  }

  /** Attempts the step until it succeeds (null) or fails for good (why). */
  async #attempt(run: RunView, step: StepView): Promise<FailureRecord | null> {
    const module = this.#module(step);
    let attempts = step.attempts;
    if (step.status === 'running' && step.attempts >= step.attemptsMax) {
      return this.#cutOff(run, step);
    }
    if (step.status === 'running') {
      await this.#event(
        run,
        step,
        'step_resumed',
        `${step.name} resumed in phase ${step.phase ?? 'preflight'}: the worker that ran it stopped; starting it over`,
        202,
      );
    }
    for (;;) {
      attempts += 1;
      const context = this.#context(run, step, attempts);
      const phase = module.preflight ? 'preflight' : 'execute';
      await this.#change(
        run,
        step,
        { status: 'running', attempts, phase, started: true, error: null },
        {
          kind: 'step_started',
          detail: `${step.name} (${module.name}) attempt ${attempts} of ${step.attemptsMax}`,
          outcome: 202,
        },
      );
      try {
        await this.#phases(run, step, module, context);
        return null;
      } catch (error) {
        const failure = failureOf(error);
        if (this.#deps.signal.aborted) return failure;
        if (attempts >= step.attemptsMax || isPermanent(error)) {
          await this.#change(
            run,
            step,
            { status: 'failed', error: failure, finished: true },
            {
              kind: 'step_failed',
              detail: `${step.name} failed for good: ${failure.message}`,
              outcome: 500,
            },
          );
          return failure;
        }
        const delay = Math.min(
          this.#deps.delays.maxMs,
          this.#deps.delays.minMs * 2 ** (attempts - 1),
        );
        await this.#change(
          run,
          step,
          { error: failure },
          {
            kind: 'step_retrying',
            detail: `${step.name} attempt ${attempts} failed: ${failure.message}; next attempt in ${delay} ms`,
            outcome: 500,
          },
        );
        await pause(delay, this.#deps.signal);
        if (this.#deps.signal.aborted) return failure;
      }
    }
  }

  /**
   * A step whose last attempt was cut off (its worker stopped): a module allowed one attempt (a
   * drill that kills a server) must not act twice, so the step fails and the run undoes what
   * was done.
   */
  async #cutOff(run: RunView, step: StepView): Promise<FailureRecord> {
    const failure = {
      code: 'state_conflict',
      message: `${step.name} was cut off in its last attempt (${step.attempts} of ${step.attemptsMax}, phase ${step.phase ?? 'preflight'}); not run again`,
    };
    await this.#change(
      run,
      step,
      { status: 'failed', error: failure, finished: true },
      { kind: 'step_failed', detail: failure.message, outcome: 500 },
    );
    return failure;
  }

  async #phases(run: RunView, step: StepView, module: StepModule, context: StepContext) {
    if (module.preflight) {
      await module.preflight(step.input, context);
      await this.#change(run, step, { phase: 'execute' });
    }
    const output = (await module.execute(step.input, context)) ?? null;
    const succeeded = {
      kind: 'step_succeeded',
      detail: `${step.name} done${module.verify ? ' and verified' : ''}`,
      outcome: 200,
    };
    if (!module.verify) {
      await this.#change(run, step, { status: 'succeeded', output, finished: true }, succeeded);
      return;
    }
    await this.#change(run, step, { phase: 'verify', output });
    await module.verify(step.input, output, context);
    await this.#change(run, step, { status: 'succeeded', finished: true }, succeeded);
  }

  /**
   * Undoes, last first, every step that did something (succeeded, failed after its preflight,
   * or stopped mid-way in an earlier compensation), then closes the run: `rejected` when a
   * person rejected a step, `compensated`, or `compensation_failed` (an operator must look).
   */
  async #compensate(run: RunView): Promise<void> {
    const undo = [...run.steps]
      .reverse()
      .filter((step) => ['succeeded', 'failed', 'compensating', 'running'].includes(step.status));
    for (const step of undo) {
      if (!(await this.#undo(run, step))) {
        if (this.#deps.signal.aborted) return;
        await setRunStatus(this.#deps.session, run.id, 'compensation_failed');
        await this.#event(
          run,
          null,
          'run_compensation_failed',
          `${run.workflow}: undoing ${step.name} failed; an operator must look`,
          500,
        );
        return;
      }
    }
    const rejected = run.steps.some((step) => step.status === 'rejected');
    await setRunStatus(this.#deps.session, run.id, rejected ? 'rejected' : 'compensated');
    await this.#event(
      run,
      null,
      rejected ? 'run_rejected' : 'run_compensated',
      `${run.workflow} ${rejected ? 'rejected' : 'failed'}; ${undo.length} step(s) undone`,
      rejected ? 409 : 500,
    );
  }

  async #undo(run: RunView, step: StepView): Promise<boolean> {
    const module = this.#module(step);
    if (!module.compensate || (step.status === 'failed' && step.phase === 'preflight')) {
      await this.#change(
        run,
        step,
        { status: 'compensated', phase: 'compensate' },
        { kind: 'step_compensated', detail: `${step.name}: nothing to undo`, outcome: 200 },
      );
      return true;
    }
    await this.#change(run, step, { status: 'compensating', phase: 'compensate' });
    for (let attempt = 1; attempt <= step.attemptsMax; attempt += 1) {
      try {
        await module.compensate(step.input, step.output, this.#context(run, step, attempt));
        await this.#change(
          run,
          step,
          { status: 'compensated', finished: true },
          { kind: 'step_compensated', detail: `${step.name} undone`, outcome: 200 },
        );
        return true;
      } catch (error) {
        if (this.#deps.signal.aborted) return false;
        await this.#event(
          run,
          step,
          'compensation_retrying',
          `undoing ${step.name} failed: ${failureOf(error).message}`,
          500,
        );
        await pause(this.#deps.delays.minMs * 2 ** (attempt - 1), this.#deps.signal);
      }
    }
    await this.#change(run, step, { status: 'compensation_failed' });
    return false;
  }

  #module(step: StepView): StepModule {
    const module = this.#deps.modules.get(step.module);
    if (!module) throw new Error(`the run names module ${step.module}, which this worker lacks`);
    return module;
  }

  #context(run: RunView, step: StepView, attempt: number): StepContext {
    return {
      runId: run.id,
      position: step.position,
      attempt,
      startedBy: run.startedBy,
      signal: this.#deps.signal,
      log: (detail) => addEvent(this.#deps.session, run.id, step.position, 'log', detail),
      progress: progressReporter((detail) =>
        addEvent(this.#deps.session, run.id, step.position, PROGRESS_EVENT, detail),
      ),
    };
  }

  /** Changes the step; with `event`, logs it in the same statement and tells the audit. */
  async #change(
    run: RunView,
    step: StepView,
    change: StepChange,
    event?: { kind: string; detail: string; outcome: number },
  ): Promise<void> {
    await updateStep(this.#deps.session, run.id, step.position, change, event);
    if (event) this.#tell(run, step.position, event.kind, event.detail, event.outcome);
  }

  async #event(
    run: RunView,
    step: StepView | null,
    kind: string,
    detail: string,
    outcome: number,
  ): Promise<void> {
    const position = step?.position ?? null;
    await addEvent(this.#deps.session, run.id, position, kind, detail);
    this.#tell(run, position, kind, detail, outcome);
  }

  #tell(run: RunView, position: number | null, kind: string, detail: string, outcome: number) {
    this.#deps.onAction({
      runId: run.id,
      workflow: run.workflow,
      actor: run.startedBy,
      kind,
      position,
      detail,
      outcome,
    });
  }
}
