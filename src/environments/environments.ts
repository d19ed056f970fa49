import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { MainstayConfig } from '../config/load-config.ts';
import { MainstayError } from '../errors/mainstay-error.ts';
import { readLiveLock } from '../fleet/fleet-lock.ts';
import { readFleetState, writeFleetState } from '../fleet/fleet-state.ts';
import { pickFreePorts } from '../fleet/ports.ts';
import { stopOrphan } from '../fleet/postgres-server.ts';
import {
  SUPERVISOR_LOG,
  spawnSupervisor,
  stopSupervisor,
  waitUntilServing,
} from './environment-process.ts';
import {
  checkEnvironmentName,
  type EnvironmentRecord,
  environmentHome,
  environmentNames,
  environmentsDir,
  readRecord,
  writeRecord,
} from './environment-record.ts';
import { copyServers, refillSpares, SPARES_MAX, takeSpare } from './environment-spares.ts';
import { type EnvironmentSchema, ensureTemplate, templateHome } from './environment-template.ts';

/** Where an environment is in its life; see {@link Environment.status}. */
export const ENVIRONMENT_STATUSES = ['creating', 'running', 'stopped'] as const;
export type EnvironmentStatus = (typeof ENVIRONMENT_STATUSES)[number];

/** An environment as `list` and `create` describe it. */
export interface Environment {
  readonly name: string;
  /** Its own Mainstay home (fleet state, servers, logs, demo credentials). */
  readonly home: string;
  /** `running` once its API serves; `creating` before; `stopped` when its supervisor is gone. */
  readonly status: EnvironmentStatus;
  /** Where its API listens, while it runs. */
  readonly url: string | null;
  /** Its supervising `mainstay up` process, while it runs. */
  readonly pid: number | null;
  readonly demo: boolean;
  readonly createdAt: string;
  /** How long its creation took, in milliseconds (`null` while it is being created). */
  readonly createMs: number | null;
  /** Its API key and bootstrap admins (`demo-credentials.json`, mode 0600). */
  readonly credentialsFile: string;
}

/** What {@link createEnvironment} needs. */
export interface CreateEnvironmentOptions {
  /** The parent's configuration: its home holds the environments and their template. */
  readonly parent: MainstayConfig;
  readonly name: string;
  /** Load the demo data set (customers, card accounts); credentials are always made. */
  readonly demo: boolean;
  /** The schema of the platform that will run in it. */
  readonly schema: EnvironmentSchema;
  readonly onProgress?: (step: string) => void;
}

/**
 * Creates environment `name`: an isolated Mainstay home under the parent's
 * (`<home>/environments/<name>`) with its own two-DC fleet on ports of its own, migrated, and
 * its own platform (`mainstay up`, detached) serving HTTP, ready when this returns. Its data
 * directories are a copy of the template (built once per parent home, decision 56), so the fleet
 * only restarts. `invalid_request` for a bad name, `environment_exists` for a taken one.
 */
export async function createEnvironment(options: CreateEnvironmentOptions): Promise<Environment> {
  const started = Date.now();
  const { parent, demo } = options;
  const progress = options.onProgress ?? (() => undefined);
  const name = checkEnvironmentName(options.name);
  if (parent.postgres.source === 'external')
    throw new MainstayError(
      'config_invalid',
      'environments need PostgreSQL run by Mainstay (postgres.source "embedded" or "system")',
    );
  const home = reserveHome(parent.home, name);
  const record: EnvironmentRecord = {
    name,
    createdAt: new Date().toISOString(),
    demo,
    createMs: null,
  };
  writeRecord(home, record);
  try {
    const env = childEnvironment(parent, demo);
    const template = await ensureTemplate(parent.home, options.schema, env, progress);
    const starting = spawnSupervisor(home, env);
    progress('copying the template data directories');
    await copyTemplate(template.home, home).catch(async (error: unknown) => {
      await stopSupervisor(starting.pid);
      throw error;
    });
    progress('starting the environment (fleet and API)');
    const supervisor = await waitUntilServing(starting);
    const done = { ...record, createMs: Date.now() - started };
    writeRecord(home, done);
    return describe(home, done, { pid: supervisor.pid, httpUrl: supervisor.url });
  } catch (error) {
    await removeHome(home);
    throw error;
  }
}

/**
 * Prepares the next creation: copies the template's servers ahead of need (the warm pool of
 * {@link SPARES_MAX}), so that creation renames instead of copying. Called once a creation has
 * answered; a no-op before the first creation built the template. Returns the copies made.
 */
export async function prepareSpare(parentHome: string): Promise<number> {
  const template = templateHome(parentHome);
  if (!existsSync(path.join(template, 'servers'))) return 0;
  return refillSpares(template);
}

/** Every environment under a parent home, by name. */
export function listEnvironments(parentHome: string): Environment[] {
  return environmentNames(parentHome).flatMap((name) => {
    const home = path.join(environmentsDir(parentHome), name);
    const record = readRecord(home);
    return record ? [describe(home, record, readLiveLock(home))] : [];
  });
}

/** One environment; `environment_not_found` when there is none of that name. */
export function getEnvironment(parentHome: string, name: string): Environment {
  const home = environmentHome(parentHome, name);
  const record = readRecord(home);
  if (!record) throw notFound(parentHome, name);
  return describe(home, record, readLiveLock(home));
}

/**
 * Stops environment `name` (its supervisor stops the API and every server cleanly; a server
 * left behind is stopped too) and deletes its home. `environment_not_found` for an unknown name.
 */
export async function destroyEnvironment(parentHome: string, name: string): Promise<void> {
  const home = environmentHome(parentHome, name);
  if (!existsSync(home)) throw notFound(parentHome, name);
  await removeHome(home);
}

function reserveHome(parentHome: string, name: string): string {
  mkdirSync(environmentsDir(parentHome), { recursive: true, mode: 0o755 });
  const home = environmentHome(parentHome, name);
  try {
    mkdirSync(home, { mode: 0o755 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    throw new MainstayError(
      'environment_exists',
      `an environment named "${name}" already exists in ${environmentsDir(parentHome)}`,
    );
  }
  mkdirSync(path.join(home, path.dirname(SUPERVISOR_LOG)), { recursive: true });
  return home;
}

/** What the environment's `mainstay up` is told: any free HTTP port, the parent's binaries. */
function childEnvironment(parent: MainstayConfig, demo: boolean): Record<string, string> {
  return {
    MAINSTAY_PORT: '0',
    MAINSTAY_DEMO_DATA: demo ? 'on' : 'off',
    ...(parent.postgres.source === 'system' && parent.postgres.binDir
      ? { MAINSTAY_PG_BIN: parent.postgres.binDir }
      : {}),
  };
}

/**
 * Gives the environment the template's stopped servers: a ready spare copy when there is one
 * (a rename), else a copy made now. Then a fleet state of its own: the template's, with free
 * ports, written last and atomically, as the waiting supervisor starts when it appears. The
 * template's superuser password stays: it is in the copied data directories (see the runbook).
 */
async function copyTemplate(templateHome: string, home: string): Promise<void> {
  const servers = path.join(home, 'servers');
  if (!takeSpare(templateHome, servers))
    await copyServers(path.join(templateHome, 'servers'), servers);
  const state = readFleetState(templateHome);
  if (!state?.provisionedAt)
    throw new MainstayError('server_start_failed', `the template in ${templateHome} is unfinished`);
  const ids = Object.keys(state.ports);
  const free = await pickFreePorts(ids.length);
  const ports = Object.fromEntries(ids.map((id, index) => [id, free[index] as number]));
  writeFleetState(home, { ...state, ports, createdAt: new Date().toISOString() });
}

/**
 * Stops whatever runs in an environment's home (its own environments first: its API offers
 * them too) and deletes it.
 */
async function removeHome(home: string): Promise<void> {
  for (const name of environmentNames(home))
    await removeHome(path.join(environmentsDir(home), name));
  const lock = readLiveLock(home);
  if (lock) await stopSupervisor(lock.pid);
  const servers = path.join(home, 'servers');
  const ids = existsSync(servers)
    ? readdirSync(servers, { withFileTypes: true }).filter((entry) => entry.isDirectory())
    : [];
  await Promise.all(ids.map((entry) => stopOrphan(path.join(servers, entry.name, 'data'))));
  rmSync(home, { recursive: true, force: true, maxRetries: 3 });
}

function describe(
  home: string,
  record: EnvironmentRecord,
  lock: { readonly pid: number; readonly httpUrl: string | null } | null,
): Environment {
  const running = lock !== null && lock.httpUrl !== null && record.createMs !== null;
  return {
    name: record.name,
    home,
    status: running ? 'running' : record.createMs === null ? 'creating' : 'stopped',
    url: lock?.httpUrl ?? null,
    pid: lock?.pid ?? null,
    demo: record.demo,
    createdAt: record.createdAt,
    createMs: record.createMs,
    credentialsFile: path.join(home, 'demo-credentials.json'),
  };
}

function notFound(parentHome: string, name: string): MainstayError {
  return new MainstayError(
    'environment_not_found',
    `no environment named "${name}" in ${environmentsDir(parentHome)}`,
  );
}
