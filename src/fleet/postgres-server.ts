import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import {
  closeSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
} from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { MainstayError } from '../errors/mainstay-error.ts';
import type { ConnectionInfo } from '../postgres/connection-pools.ts';
import type { ServerState } from '../topology/server-state.ts';
import type { OsIdentity } from './os-user.ts';
import { type PostgresBinaries, postgresEnv } from './postgres-binaries.ts';

export type { ConnectionInfo };

export interface PostgresServerOptions {
  readonly id: string;
  readonly dataDir: string;
  readonly logFile: string;
  readonly connection: ConnectionInfo;
  readonly binaries: PostgresBinaries;
  readonly identity: OsIdentity;
}

export const START_TIMEOUT_MS = 60_000;
export const STOP_TIMEOUT_MS = 15_000;
const READY_POLL_INTERVAL_MS = 50;
const LOG_TAIL_LINES = 15;

/**
 * One PostgreSQL server that Mainstay runs and supervises: `postgres` started directly (no
 * pg_ctl), in its own process group so that a Ctrl-C reaches Mainstay only and Mainstay decides
 * the shutdown order. Emits `exit` with `(code, signal, expected)` when the postmaster ends;
 * `expected` is false for a death Mainstay did not ask for.
 */
export class PostgresServer extends EventEmitter<{
  exit: [
    code: number | null,
    signal: NodeJS.Signals | null,
    expected: boolean,
    /** Processes of the server still running when the postmaster ended, killed at once. */
    leftoverCount: number,
  ];
}> {
  readonly id: string;
  readonly dataDir: string;
  readonly logFile: string;
  readonly connection: ConnectionInfo;
  #state: ServerState = 'stopped';
  #child: ChildProcess | null = null;
  #stopping = false;
  #exited: Promise<void> = Promise.resolve();
  #lastExit: string | null = null;
  readonly #options: PostgresServerOptions;

  constructor(options: PostgresServerOptions) {
    super();
    this.#options = options;
    this.id = options.id;
    this.dataDir = options.dataDir;
    this.logFile = options.logFile;
    this.connection = options.connection;
  }

  get state(): ServerState {
    return this.#state;
  }

  get pid(): number | null {
    return this.#child?.pid ?? null;
  }

  /** Why the server last stopped without being asked to, if it did. */
  get lastExit(): string | null {
    return this.#lastExit;
  }

  /**
   * Starts the postmaster and waits until it accepts connections. A server left running by an
   * earlier Mainstay process that died is stopped first, so that this process supervises it.
   */
  async start(timeoutMs = START_TIMEOUT_MS): Promise<void> {
    if (this.#child) return;
    this.#checkDataDirVersion();
    await stopOrphan(this.dataDir);
    const { binaries, identity } = this.#options;
    const logFd = openSync(this.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(binaries.postgres, ['-D', this.dataDir], {
        detached: true,
        stdio: ['ignore', logFd, logFd],
        env: postgresEnv(binaries.libDir),
        ...(identity.uid === null ? {} : { uid: identity.uid, gid: identity.gid ?? undefined }),
      });
    } finally {
      closeSync(logFd);
    }
    this.#child = child;
    this.#stopping = false;
    this.#state = 'starting';
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        const expected = this.#stopping;
        // Fence first: a backend of a dead postmaster keeps running until it next waits, and
        // can acknowledge a commit meanwhile. Every process left in the data directory is shot
        // before anyone is told of the exit (decision 32).
        const leftoverCount = this.#killLeftovers();
        this.#child = null;
        this.#state = expected ? 'stopped' : 'down';
        if (!expected) this.#lastExit = `exited unexpectedly (${signal ?? `code ${code}`})`;
        this.emit('exit', code, signal, expected, leftoverCount);
        resolve();
      });
    });
    child.once('error', () => undefined);
    await this.#waitReady(timeoutMs);
    this.#state = 'up';
    this.#lastExit = null;
  }

  async #waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let lastError: unknown = null;
    while (Date.now() < deadline) {
      if (this.#child === null) {
        throw new MainstayError(
          'server_start_failed',
          `PostgreSQL server ${this.id} exited while starting; see ${this.logFile}:\n${this.logTail()}`,
        );
      }
      try {
        await ping(this.connection);
        return;
      } catch (error) {
        lastError = error;
        await sleep(READY_POLL_INTERVAL_MS);
      }
    }
    await this.stop();
    throw new MainstayError(
      'server_start_failed',
      `PostgreSQL server ${this.id} did not accept connections within ${timeoutMs} ms; see ${this.logFile}`,
      { cause: lastError },
    );
  }

  /**
   * Stops the server: fast shutdown (SIGINT: roll back open transactions, checkpoint), then
   * immediate shutdown (SIGQUIT) and SIGKILL if it does not end in time.
   */
  async stop(timeoutMs = STOP_TIMEOUT_MS): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#stopping = true;
    const steps: [NodeJS.Signals, number][] = [
      ['SIGINT', timeoutMs],
      ['SIGQUIT', timeoutMs / 3],
      ['SIGKILL', timeoutMs],
    ];
    for (const [signal, waitMs] of steps) {
      signalProcess(child.pid, signal);
      if (await settlesWithin(this.#exited, waitMs)) return;
    }
  }

  /** Sends a signal to the postmaster, as a failure test or an operator would. */
  signal(signal: NodeJS.Signals): void {
    signalProcess(this.#child?.pid, signal);
  }

  /**
   * Sends a signal to the postmaster and every process it forked (each PostgreSQL child makes
   * itself a process-group leader, so signalling the postmaster's group is not enough). This is
   * how a hang is simulated (SIGSTOP) and how a fenced server is shot (SIGKILL): killing the
   * postmaster alone would leave its backends running for a while.
   */
  signalAll(signal: NodeJS.Signals): void {
    const pid = this.#child?.pid;
    // Children first, found while they are still the postmaster's; then whatever else runs in
    // the data directory (forked meanwhile, or left behind by a postmaster already dead).
    const children = pid === undefined ? [] : childPids(pid);
    for (const child of children) signalProcess(child, signal);
    if (pid !== undefined) signalProcess(pid, signal);
    for (const other of processesInDataDir(this.dataDir)) {
      if (other !== pid && !children.includes(other)) signalProcess(other, signal);
    }
  }

  /** SIGKILL to every process still running in the data directory; returns how many. */
  #killLeftovers(): number {
    const leftovers = processesInDataDir(this.dataDir);
    for (const pid of leftovers) signalProcess(pid, 'SIGKILL');
    return leftovers.length;
  }

  /** Marks the coming exit as intended (a fence), so it is not reported as a crash. */
  expectExit(): void {
    this.#stopping = true;
  }

  /** The last lines of the server's log, for error messages. */
  logTail(lineCount = LOG_TAIL_LINES): string {
    if (!existsSync(this.logFile)) return '';
    const lines = readFileSync(this.logFile, 'utf8').trimEnd().split('\n');
    return lines.slice(-lineCount).join('\n');
  }

  #checkDataDirVersion(): void {
    const versionFile = path.join(this.dataDir, 'PG_VERSION');
    if (!existsSync(versionFile)) {
      throw new MainstayError(
        'server_start_failed',
        `${this.dataDir} is not a PostgreSQL data directory (no PG_VERSION)`,
      );
    }
    const dataMajor = Number(readFileSync(versionFile, 'utf8').trim());
    const binaryMajor = this.#options.binaries.majorVersion;
    if (dataMajor !== binaryMajor) {
      throw new MainstayError(
        'postgres_version_mismatch',
        `data directory ${this.dataDir} (server ${this.id}) was created by PostgreSQL ${dataMajor}, ` +
          `but the binaries in ${this.#options.binaries.binDir} are PostgreSQL ${binaryMajor}; ` +
          `use PostgreSQL ${dataMajor} binaries (MAINSTAY_PG_BIN) or a new MAINSTAY_HOME`,
      );
    }
  }
}

/** Whether `promise` settles within `timeoutMs`; the timer is cleared either way. */
async function settlesWithin(promise: Promise<unknown>, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Pids whose parent is `parent`, read from /proc (Linux). */
export function childPids(parent: number): number[] {
  const children: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return children;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Field 4 (ppid) follows the command name, which is in parentheses and may hold spaces.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent) children.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return children;
}

/**
 * Pids of the live `postgres` processes whose working directory is `dataDir` (Linux `/proc`).
 * The postmaster changes into its data directory and every process it forks inherits that, so
 * this finds a server's backends, walsenders and workers even after the postmaster died and they
 * were re-parented, when nothing else ties them to it. Another server's processes never match:
 * no two servers share a data directory. Needs the same user as the server, or root.
 */
export function processesInDataDir(dataDir: string): number[] {
  let target: string;
  let entries: string[];
  try {
    target = realpathSync(dataDir);
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const pids: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readlinkSync(`/proc/${entry}/cwd`) !== target) continue;
      // The command name stays `postgres` whatever title a backend sets (a shell an operator
      // left in the directory is not shot).
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (name === 'postgres' && state !== 'Z') pids.push(Number(entry));
    } catch {
      // Ended while we looked, or not ours to inspect.
    }
  }
  return pids;
}

function signalProcess(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone: nothing to signal.
  }
}

/** Opens one connection, runs `SELECT 1`, closes it. Throws when the server does not answer. */
export async function ping(connection: ConnectionInfo, timeoutMs = 2_000): Promise<void> {
  const client = new pg.Client({
    ...connection,
    database: 'postgres',
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Stops a postmaster still running on `dataDir` from an earlier Mainstay process (its pid is the
 * first line of `postmaster.pid`). Returns whether there was one.
 */
export async function stopOrphan(dataDir: string, timeoutMs = STOP_TIMEOUT_MS): Promise<boolean> {
  const pid = runningPostmasterPid(dataDir);
  if (pid === null) return false;
  for (const signal of ['SIGINT', 'SIGQUIT', 'SIGKILL'] as const) {
    signalProcess(pid, signal);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!isAlive(pid)) return true;
      await sleep(READY_POLL_INTERVAL_MS);
    }
  }
  return true;
}

/** The pid in `postmaster.pid` when that process is alive and is a postgres process. */
export function runningPostmasterPid(dataDir: string): number | null {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return null;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return null;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes('postgres') ? pid : null;
  } catch {
    return pid;
  }
}

/** Whether a process exists (EPERM: it does, owned by another user). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
