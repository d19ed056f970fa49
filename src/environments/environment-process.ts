import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { MainstayError } from '../errors/mainstay-error.ts';
import { readLiveLock } from '../fleet/fleet-lock.ts';
import { isAlive } from '../fleet/postgres-server.ts';

/** The `mainstay` executable of this installation (a checkout or the installed package). */
const MAINSTAY_BIN = fileURLToPath(new URL('../../bin/mainstay.js', import.meta.url));
/** The environment's supervisor writes everything it prints here, under its home. */
export const SUPERVISOR_LOG = path.join('logs', 'mainstay.log');
/** How long a new environment may take to serve HTTP before its creation fails. */
export const READY_WAIT_MS = 120_000;
/** How long a stopping supervisor gets before it is killed. */
export const STOP_WAIT_MS = 60_000;
const POLL_MS = 25;
const INHERITED_NOT = ['MAINSTAY_CONFIG', 'MAINSTAY_HOME', 'MAINSTAY_PORT', 'MAINSTAY_PG_BIN'];
const LOG_TAIL_CHARS_MAX = 2_000;

/** A started environment supervisor. */
export interface Supervisor {
  readonly pid: number;
  readonly url: string;
}

/** An environment's supervisor, started and not yet known to serve. */
export interface StartingSupervisor {
  readonly home: string;
  readonly pid: number;
  /** How it ended (`code 1`, `SIGKILL`), or `null` while it runs. */
  exited(): string | null;
}

/**
 * Starts the supervisor of an environment (`mainstay env serve`, which is `mainstay up` once the
 * home's fleet state exists) as a detached process of its own (its own session, output to its
 * log), so the environment outlives the command or request that made it. It is started before
 * the template is copied: loading the program takes seconds, which the copy overlaps.
 */
export function spawnSupervisor(
  home: string,
  env: Readonly<Record<string, string>>,
): StartingSupervisor {
  const inherited = { ...process.env };
  // The parent's settings describe the parent's fleet; the environment gets only `env`.
  for (const name of INHERITED_NOT) delete inherited[name];
  const log = openSync(path.join(home, SUPERVISOR_LOG), 'a');
  const child = spawn(process.execPath, [MAINSTAY_BIN, 'env', 'serve'], {
    cwd: home,
    env: { ...inherited, ...env, MAINSTAY_HOME: home },
    detached: true,
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  let exited: string | null = null;
  child.once('exit', (code, signal) => {
    exited = signal ?? `code ${code}`;
  });
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new MainstayError('server_start_failed', 'could not start mainstay');
  return { home, pid, exited: () => exited };
}

/**
 * Waits until the supervisor's fleet lock records the HTTP URL: the fleet is up, replication
 * streams, the modules run and the API listens. On failure it is stopped, and the error quotes
 * the end of its log.
 */
export async function waitUntilServing(supervisor: StartingSupervisor): Promise<Supervisor> {
  const { home, pid } = supervisor;
  const deadline = Date.now() + READY_WAIT_MS;
  while (Date.now() < deadline && supervisor.exited() === null) {
    const lock = readLiveLock(home);
    if (lock?.pid === pid && lock.httpUrl) return { pid, url: lock.httpUrl };
    await sleep(POLL_MS);
  }
  const exited = supervisor.exited();
  if (exited === null) await stopSupervisor(pid);
  const why = exited === null ? `not serving after ${READY_WAIT_MS} ms` : `it exited, ${exited}`;
  throw new MainstayError(
    'server_start_failed',
    `the environment in ${home} did not come up (${why}); its log ends:\n${logTail(home)}`,
  );
}

/**
 * SIGTERM (a clean stop of the API and every server), then SIGKILL past {@link STOP_WAIT_MS};
 * then SIGKILL to what is left of its process group (a spare copy it was making), so nothing
 * writes into the home about to be deleted. Its PostgreSQL servers run in groups of their own.
 */
export async function stopSupervisor(pid: number): Promise<void> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + STOP_WAIT_MS;
  while (isAlive(pid) && Date.now() < deadline) await sleep(POLL_MS * 4);
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // No process left in its group.
  }
}

/** The last lines the supervisor of `home` printed. */
export function logTail(home: string): string {
  try {
    return readFileSync(path.join(home, SUPERVISOR_LOG), 'utf8').slice(-LOG_TAIL_CHARS_MAX);
  } catch {
    return '(no log)';
  }
}
