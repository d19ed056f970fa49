import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'bin',
  'mainstay.js',
);
const UP_TIMEOUT_MS = 120_000;

/** Runs a short `mainstay` command to completion. */
export function mainstay(args: readonly string[], env: Record<string, string>) {
  const result = spawnSync(process.execPath, [BIN, ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: UP_TIMEOUT_MS,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A `mainstay up` running in the background, with everything it printed so far. */
export interface RunningUp {
  readonly child: ChildProcess;
  output(): string;
  /** Resolves with the exit code once the process ends. */
  readonly exited: Promise<number | null>;
}

export function startUp(env: Record<string, string>): RunningUp {
  const child = spawn(process.execPath, [BIN, 'up'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return { child, output: () => text, exited };
}

/** Waits until the output shows the platform is up, or the process ends. */
export async function waitUntilUp(run: RunningUp): Promise<string> {
  const deadline = Date.now() + UP_TIMEOUT_MS;
  let ended = false;
  void run.exited.then(() => {
    ended = true;
  });
  while (Date.now() < deadline && !ended) {
    const match = /Mainstay is up at (http:\/\/\S+) in/.exec(run.output());
    if (match?.[1]) return match[1];
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`mainstay up did not come up:\n${run.output()}`);
}
