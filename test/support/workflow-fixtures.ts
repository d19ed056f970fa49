/**
 * Step modules and workflows for the workflow engine's tests and benchmark: each records what it
 * did in a table of the same database (`effects`), so a test reads what ran, how often and what
 * was undone.
 */
import { Type } from '@sinclair/typebox';
import type pg from 'pg';
import { MainstayError } from '../../src/errors/mainstay-error.ts';
import { migrate } from '../../src/migrations/migration.ts';
import { WORKFLOW_MIGRATIONS } from '../../src/workflow/workflow-store.ts';
import type { StepModule, WorkflowDefinition } from '../../src/workflow/workflow-types.ts';

export async function prepareWorkflowDatabase(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await migrate(client, [WORKFLOW_MIGRATIONS]);
  } finally {
    client.release();
  }
  await pool.query(
    `CREATE TABLE IF NOT EXISTS effects (
       run_id text NOT NULL, step text NOT NULL, what text NOT NULL, at timestamptz DEFAULT clock_timestamp())`,
  );
}

type Db = Pick<pg.Pool, 'query'>;

const StepInput = Type.Object({ label: Type.String(), holdMs: Type.Optional(Type.Integer()) });
type Input = { label: string; holdMs?: number };

async function record(db: Db, runId: string, step: string, what: string) {
  await db.query('INSERT INTO effects (run_id, step, what) VALUES ($1, $2, $3)', [
    runId,
    step,
    what,
  ]);
}

/** Waits `ms` or until the signal aborts (then throws, as a module's long work should). */
function hold(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(new Error('stopped'));
    });
  });
}

/** Test modules: `mark` records, holds on its first attempt when asked, and can be undone; `hold` waits; `flaky` fails its first attempts; `broken` always fails. */
export function testModules(db: Db): StepModule[] {
  const mark: StepModule<Input, { marked: string }> = {
    name: 'mark',
    summary: 'records that it ran',
    inputSchema: StepInput,
    async execute(input, context) {
      await record(db, context.runId, input.label, 'executed');
      if (input.holdMs && context.attempt === 1) await hold(input.holdMs, context.signal);
      await record(db, context.runId, input.label, 'finished');
      return { marked: input.label };
    },
    async verify(input, output, context) {
      if (output.marked !== input.label) throw new Error('output does not match');
      await record(db, context.runId, input.label, 'verified');
    },
    async compensate(input, _output, context) {
      await record(db, context.runId, input.label, 'compensated');
    },
  };
  const flaky: StepModule<Input, null> = {
    name: 'flaky',
    summary: 'fails its first two attempts',
    inputSchema: StepInput,
    attemptsMax: 3,
    async execute(input, context) {
      await record(db, context.runId, input.label, `attempt ${context.attempt}`);
      if (context.attempt < 3) throw new Error(`attempt ${context.attempt} fails`);
      return null;
    },
  };
  const broken: StepModule<Input, null> = {
    name: 'broken',
    summary: 'always fails',
    inputSchema: StepInput,
    attemptsMax: 2,
    async execute(input, context) {
      await record(db, context.runId, input.label, `attempt ${context.attempt}`);
      throw new Error('the device is on fire');
    },
    async compensate(input, _output, context) {
      await record(db, context.runId, input.label, 'compensated');
    },
  };
  const refusing: StepModule<Input, null> = {
    name: 'refusing',
    summary: 'refuses in preflight',
    inputSchema: StepInput,
    async preflight() {
      throw new MainstayError('preflight_refused', 'the candidate is not streaming');
    },
    async execute() {
      return null;
    },
  };
  const noop: StepModule<Input, null> = {
    name: 'noop',
    summary: 'does nothing (for counting steps per second)',
    inputSchema: StepInput,
    async execute() {
      return null;
    },
  };
  const once: StepModule<Input, null> = {
    name: 'once',
    summary: 'holds, and must never run twice',
    inputSchema: StepInput,
    attemptsMax: 1,
    async execute(input, context) {
      await record(db, context.runId, input.label, 'executed');
      await hold(60_000, context.signal);
      return null;
    },
  };
  const counting: StepModule<Input, null> = {
    name: 'counting',
    summary: 'reports its progress on every one of 5,000 units, over about a second',
    inputSchema: StepInput,
    async execute(_input, context) {
      for (let unit = 1; unit <= 5_000; unit += 1) {
        if (unit % 500 === 0) await new Promise((resolve) => setTimeout(resolve, 120));
        await context.progress(unit, 5_000, 'units counted');
      }
      return null;
    },
  };
  return [mark, flaky, broken, refusing, noop, once, counting];
}

const RunInput = Type.Object(
  { holdMs: Type.Optional(Type.Integer({ minimum: 0 })) },
  { additionalProperties: false },
);

const step = (name: string, module: string, approverRoles?: string[]) => ({
  name,
  module,
  input: (run: unknown) => ({
    label: name,
    ...((run as { holdMs?: number }).holdMs && module === 'mark' && name === 'second'
      ? { holdMs: (run as { holdMs: number }).holdMs }
      : {}),
  }),
  ...(approverRoles ? { approverRoles } : {}),
});

export const TEST_WORKFLOWS: WorkflowDefinition[] = [
  {
    name: 'held-once',
    summary: 'a step that must not run twice, after one that can be undone',
    inputSchema: RunInput,
    steps: [step('first', 'mark'), step('only-once', 'once')],
  },
  {
    name: 'ten-noops',
    summary: 'ten steps that do nothing',
    inputSchema: RunInput,
    steps: Array.from({ length: 10 }, (_, index) => step(`noop-${index}`, 'noop')),
  },
  {
    name: 'counted',
    summary: 'one long step that reports its progress',
    inputSchema: RunInput,
    steps: [step('count', 'counting')],
  },
  {
    name: 'three-marks',
    summary: 'three steps that succeed',
    inputSchema: RunInput,
    steps: [step('first', 'mark'), step('second', 'mark'), step('third', 'mark')],
  },
  {
    name: 'retried',
    summary: 'a step that succeeds on its third attempt',
    inputSchema: RunInput,
    steps: [step('first', 'mark'), step('shaky', 'flaky')],
  },
  {
    name: 'fails-late',
    summary: 'two steps then one that fails',
    inputSchema: RunInput,
    steps: [step('first', 'mark'), step('second', 'mark'), step('last', 'broken')],
  },
  {
    name: 'refused',
    summary: 'a step refused by its preflight',
    inputSchema: RunInput,
    steps: [step('first', 'mark'), step('check', 'refusing')],
  },
  {
    name: 'approved',
    summary: 'a step behind an approval',
    inputSchema: RunInput,
    steps: [step('first', 'mark'), step('second', 'mark', ['approver', 'admin'])],
  },
];
