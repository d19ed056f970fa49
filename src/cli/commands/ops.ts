/**
 * `mainstay ops …` and `mainstay compare …`: start workflows and modules on the running
 * platform, follow a run live (its event stream, with a bar of the steps done), list runs, and
 * approve or reject a step as a member of staff (`MAINSTAY_SESSION`, a staff session token).
 */

import { PROGRESS_EVENT, parseProgress } from '../../workflow/step-progress.ts';
import { runningPlatform } from '../operator-credential.ts';

interface Step {
  readonly name: string;
  readonly status: string;
  readonly attempts: number;
  readonly output: unknown;
}

interface Run {
  readonly id: string;
  readonly workflow: string;
  readonly status: string;
  readonly startedBy: string;
  readonly createdAt: string;
  readonly error: { code: string | null; message: string } | null;
  readonly steps: readonly Step[];
}

interface Problem {
  readonly code?: string;
  readonly detail?: string;
}

type Platform = { url: string; credential: string };

const BAR_WIDTH = 20;

function failed(problem: Problem): number {
  process.stderr.write(
    `mainstay: error [${problem.code ?? 'ops'}]: ${problem.detail ?? 'failed'}\n`,
  );
  return 1;
}

async function api(
  platform: Platform,
  method: string,
  route: string,
  body?: unknown,
  credential?: string,
) {
  const response = await fetch(`${platform.url}${route}`, {
    method,
    headers: {
      authorization: `Bearer ${credential ?? platform.credential}`,
      ...(body === undefined
        ? {}
        : { 'content-type': 'application/json', 'idempotency-key': crypto.randomUUID() }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { ok: response.ok, body: (await response.json()) as unknown };
}

function bar(done: number, total: number): string {
  const filled = total === 0 ? BAR_WIDTH : Math.round((done / total) * BAR_WIDTH);
  return `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${done}/${total}`;
}

/** One line of a run's event log; a step's progress as a bar of its units done. */
export function renderEvent(event: { at?: string; kind?: string; detail?: string }): string {
  const progress = event.kind === PROGRESS_EVENT ? parseProgress(event.detail ?? '') : null;
  const detail = progress
    ? `${bar(progress.done, progress.total)} ${progress.what}`
    : (event.detail ?? '');
  return `[${event.at?.slice(11, 23) ?? ''}] ${(event.kind ?? '').padEnd(20)} ${detail}\n`;
}

/** One line per step: its status, attempts, and a short output. */
export function renderRun(run: Run): string {
  const done = run.steps.filter((step) =>
    ['succeeded', 'compensated'].includes(step.status),
  ).length;
  const lines = [
    `${run.id} ${run.workflow}: ${run.status} ${bar(done, run.steps.length)} (started by ${run.startedBy})`,
  ];
  run.steps.forEach((step, position) => {
    const output = step.output === null ? '' : ` ${JSON.stringify(step.output).slice(0, 160)}`;
    lines.push(
      `  ${position + 1}. ${step.name.padEnd(20)} ${step.status.padEnd(19)} attempts ${step.attempts}${output}`,
    );
  });
  if (run.error) lines.push(`  error [${run.error.code ?? 'step'}]: ${run.error.message}`);
  return `${lines.join('\n')}\n`;
}

/** Follows the run's event stream until it is over or waits for a decision; answers the run. */
async function follow(platform: Platform, runId: string): Promise<Run> {
  const response = await fetch(`${platform.url}/v1/ops/runs/${runId}/events`, {
    headers: { authorization: `Bearer ${platform.credential}`, accept: 'text/event-stream' },
  });
  if (!response.body) throw new Error('no event stream');
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of response.body) {
    buffer += decoder.decode(chunk, { stream: true });
    let end = buffer.indexOf('\n\n');
    while (end >= 0) {
      const data = /^data: (.*)$/m.exec(buffer.slice(0, end))?.[1];
      buffer = buffer.slice(end + 2);
      const event = data
        ? (JSON.parse(data) as { at?: string; kind?: string; detail?: string })
        : null;
      if (event?.kind) process.stderr.write(renderEvent(event));
      end = buffer.indexOf('\n\n');
    }
  }
  return (await api(platform, 'GET', `/v1/ops/runs/${runId}`)).body as Run;
}

async function startAndFollow(platform: Platform, body: unknown, json: boolean): Promise<number> {
  const started = await api(platform, 'POST', '/v1/ops/runs', body);
  if (!started.ok) return failed(started.body as Problem);
  const run = await follow(platform, (started.body as Run).id);
  process.stdout.write(json ? `${JSON.stringify(run, null, 2)}\n` : renderRun(run));
  if (run.status === 'waiting_approval') {
    process.stdout.write(`waiting for another person to approve: mainstay ops approve ${run.id}\n`);
    return 0;
  }
  return run.status === 'succeeded' ? 0 : 1;
}

function parseInput(text: string | undefined): Record<string, unknown> | null {
  try {
    const value = JSON.parse(text ?? '{}') as unknown;
    return value && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

/** `mainstay ops run <workflow> [--input JSON] [--module] [--json]`. */
export async function opsRunCommand(
  name: string,
  options: { input?: string; module?: boolean; json?: boolean },
) {
  const platform = runningPlatform('ops:manage');
  if (typeof platform === 'number') return platform;
  const input = parseInput(options.input);
  if (!input) return failed({ code: 'invalid_request', detail: '--input must be a JSON object' });
  return startAndFollow(
    platform,
    { [options.module ? 'module' : 'workflow']: name, input },
    options.json === true,
  );
}

/** `mainstay compare <shard> <table> [--against copy|replica]`: the compare-table module. */
export async function compareCommand(
  shard: string,
  table: string,
  options: { against?: string; json?: boolean },
) {
  const platform = runningPlatform('ops:manage');
  if (typeof platform === 'number') return platform;
  const input = { shard: Number(shard), table, against: options.against ?? 'copy' };
  return startAndFollow(platform, { module: 'compare-table', input }, options.json === true);
}

/** `mainstay ops list [--status S]`, `mainstay ops show <id>`, `mainstay ops watch <id>`. */
export async function opsListCommand(options: { status?: string; json?: boolean }) {
  const platform = runningPlatform('ops:read');
  if (typeof platform === 'number') return platform;
  const answer = await api(
    platform,
    'GET',
    `/v1/ops/runs?limit=50${options.status ? `&status=${encodeURIComponent(options.status)}` : ''}`,
  );
  if (!answer.ok) return failed(answer.body as Problem);
  const runs = (answer.body as { data: Run[] }).data;
  if (options.json) process.stdout.write(`${JSON.stringify(runs, null, 2)}\n`);
  else
    for (const run of runs)
      process.stdout.write(
        `${run.id}  ${run.createdAt}  ${run.status.padEnd(19)} ${run.workflow}\n`,
      );
  return 0;
}

export async function opsShowCommand(runId: string, options: { watch?: boolean; json?: boolean }) {
  const platform = runningPlatform('ops:read');
  if (typeof platform === 'number') return platform;
  const answer = options.watch
    ? { ok: true, body: await follow(platform, runId) }
    : await api(platform, 'GET', `/v1/ops/runs/${encodeURIComponent(runId)}`);
  if (!answer.ok) return failed(answer.body as Problem);
  process.stdout.write(
    options.json ? `${JSON.stringify(answer.body, null, 2)}\n` : renderRun(answer.body as Run),
  );
  return 0;
}

/** `mainstay ops approve|reject <id> [--reason R]`, as the staff session in `MAINSTAY_SESSION`. */
export async function opsDecideCommand(
  verb: 'approve' | 'reject',
  runId: string,
  options: { reason?: string },
) {
  const platform = runningPlatform('approvals:decide');
  if (typeof platform === 'number') return platform;
  const session = process.env.MAINSTAY_SESSION;
  if (!session)
    return failed({
      code: 'unauthenticated',
      detail:
        'set MAINSTAY_SESSION to your staff session token (POST /v1/staff/sessions): only a person decides',
    });
  const body = options.reason ? { reason: options.reason } : {};
  const answer = await api(
    platform,
    'POST',
    `/v1/ops/runs/${encodeURIComponent(runId)}/${verb}`,
    body,
    session,
  );
  if (!answer.ok) return failed(answer.body as Problem);
  process.stdout.write(renderRun(answer.body as Run));
  return 0;
}
