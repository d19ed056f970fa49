import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../config/load-config.ts';
import { MainstayError } from '../errors/mainstay-error.ts';
import { Fleet } from '../fleet/fleet.ts';
import { isAlive } from '../fleet/postgres-server.ts';
import { passFilePath } from '../fleet/server-files.ts';
import type { MigrationSet } from '../migrations/migration.ts';
import { environmentsDir } from './environment-record.ts';

/** The schema every environment's databases get: the hosting platform's. */
export interface EnvironmentSchema {
  readonly shardMigrations: readonly MigrationSet[];
  readonly catalogMigrations: readonly MigrationSet[];
}

/** The template's folder (hidden: never taken for an environment) and its description file. */
export const TEMPLATE_DIR = '.template';
const TEMPLATE_FILE = 'template.json';
const BUILD_LOCK = '.template.lock';
/** How long a creator waits for another one building the template; a build takes ~20 s. */
export const TEMPLATE_WAIT_MS = 180_000;
const TEMPLATE_POLL_MS = 200;
/** No WAL kept for replicas beyond their slots, none recycled ahead: the copies get less. */
const TEMPLATE_WAL_SETTINGS = { wal_keep_size: '0', min_wal_size: '32MB', wal_recycle: 'off' };

/** What `template.json` says of a template. */
interface TemplateInfo {
  readonly fingerprint: string;
  readonly builtAt: string;
  readonly buildMs: number;
}

/** A template ready to be copied. */
export interface Template {
  readonly home: string;
  /** Whether this call built it (the first environment of a home, or after a schema change). */
  readonly built: boolean;
  readonly buildMs: number;
}

/**
 * Identifies what a template holds: every migration (set, version, text) and the binaries'
 * folder. A template made for another schema or other binaries is built again.
 */
export function templateFingerprint(schema: EnvironmentSchema, binDir: string | null): string {
  const hash = createHash('sha256');
  for (const [kind, sets] of [
    ['shard', schema.shardMigrations],
    ['catalog', schema.catalogMigrations],
  ] as const) {
    for (const set of sets) {
      for (const migration of set.migrations) {
        hash.update(`${kind}\0${set.name}\0${migration.version}\0${migration.sql}\0`);
      }
    }
  }
  hash.update(`bin\0${binDir ?? 'embedded'}`);
  return hash.digest('hex').slice(0, 32);
}

/** Where a parent home keeps its environments' template. */
export function templateHome(parentHome: string): string {
  return path.join(environmentsDir(parentHome), TEMPLATE_DIR);
}

/**
 * The environments' template under a parent home: a whole two-DC fleet provisioned once with the
 * platform's schema (initdb, primaries, shard databases migrated and published, streaming
 * replicas, logical copies in their first sync) and then stopped cleanly. An environment is a
 * copy of its data directories, restarted on ports of its own, which skips every provisioning
 * step. Built when missing or stale (fingerprint), by one creator at a time; the others wait.
 */
export async function ensureTemplate(
  parentHome: string,
  schema: EnvironmentSchema,
  childEnv: Readonly<Record<string, string>>,
  onProgress: (step: string) => void,
): Promise<Template> {
  const home = templateHome(parentHome);
  const fingerprint = templateFingerprint(schema, childEnv.MAINSTAY_PG_BIN ?? null);
  const current = readTemplateInfo(home);
  if (current?.fingerprint === fingerprint) return { home, built: false, buildMs: current.buildMs };
  await withBuildLock(parentHome, async () => {
    if (readTemplateInfo(home)?.fingerprint === fingerprint) return;
    onProgress('building the environment template (once per home and schema)');
    await buildTemplate(home, schema, childEnv, fingerprint, onProgress);
  });
  const built = readTemplateInfo(home);
  if (built?.fingerprint !== fingerprint)
    throw new MainstayError(
      'server_start_failed',
      `the environment template in ${home} is missing`,
    );
  return { home, built: true, buildMs: built.buildMs };
}

async function buildTemplate(
  home: string,
  schema: EnvironmentSchema,
  childEnv: Readonly<Record<string, string>>,
  fingerprint: string,
  onProgress: (step: string) => void,
): Promise<void> {
  const started = Date.now();
  const building = `${home}.building`;
  rmSync(building, { recursive: true, force: true });
  mkdirSync(building, { recursive: true, mode: 0o755 });
  // The template is configured as its copies' `mainstay up` will be, but keeps no more WAL than
  // its slots need: every copy of it is that much smaller (its copies run with the defaults).
  const loaded = loadConfig({ cwd: building, env: { ...childEnv, MAINSTAY_HOME: building } });
  const settings = { ...loaded.postgres.settings, ...TEMPLATE_WAL_SETTINGS };
  const config = { ...loaded, postgres: { ...loaded.postgres, settings } };
  const fleet = new Fleet({
    config,
    shardMigrations: schema.shardMigrations,
    catalogMigrations: schema.catalogMigrations,
    onProgress: (step) => onProgress(`template: ${step}`),
  });
  try {
    await fleet.up();
  } finally {
    await fleet.down();
  }
  // Subscriptions copied from the template name this password file until their environment's
  // fleet re-points them: without it, a copy started on its own cannot log in anywhere.
  rmSync(passFilePath(building), { force: true });
  rmSync(path.join(building, 'logs'), { recursive: true, force: true });
  const info: TemplateInfo = {
    fingerprint,
    builtAt: new Date().toISOString(),
    buildMs: Date.now() - started,
  };
  writeFileSync(path.join(building, TEMPLATE_FILE), `${JSON.stringify(info, null, 2)}\n`);
  rmSync(home, { recursive: true, force: true });
  renameSync(building, home);
}

function readTemplateInfo(home: string): TemplateInfo | null {
  try {
    return JSON.parse(readFileSync(path.join(home, TEMPLATE_FILE), 'utf8')) as TemplateInfo;
  } catch {
    return null;
  }
}

/** Runs `build` holding the template's build lock (a file naming the live builder's pid). */
async function withBuildLock(parentHome: string, build: () => Promise<void>): Promise<void> {
  const dir = environmentsDir(parentHome);
  mkdirSync(dir, { recursive: true });
  const lock = path.join(dir, BUILD_LOCK);
  const deadline = Date.now() + TEMPLATE_WAIT_MS;
  for (;;) {
    try {
      writeFileSync(lock, String(process.pid), { flag: 'wx' });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = lockHolder(lock);
    if (holder === null || !isAlive(holder)) {
      rmSync(lock, { force: true });
      continue;
    }
    if (Date.now() > deadline)
      throw new MainstayError(
        'service_unavailable',
        `process ${holder} is still building the environment template after ${TEMPLATE_WAIT_MS} ms`,
      );
    await sleep(TEMPLATE_POLL_MS);
  }
  try {
    await build();
  } finally {
    rmSync(lock, { force: true });
  }
}

/** The pid a build lock names, or `null` when it is gone or unreadable (a crash mid-write). */
function lockHolder(lock: string): number | null {
  try {
    const pid = Number(readFileSync(lock, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}
