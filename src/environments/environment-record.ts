import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { MainstayError } from '../errors/mainstay-error.ts';

/** Where a parent home keeps its environments, one folder each. */
export const ENVIRONMENTS_DIR = 'environments';
/** The record of one environment, in its own home. */
export const RECORD_FILE = 'environment.json';

/**
 * An environment's name: a lower-case letter, then up to 39 lower-case letters, digits or
 * hyphens, not ending in a hyphen. It names a folder and appears in URLs, so nothing else.
 */
export const ENVIRONMENT_NAME_PATTERN = '^[a-z](?:[a-z0-9-]{0,38}[a-z0-9])?$';
const NAME_REGEXP = new RegExp(ENVIRONMENT_NAME_PATTERN);

/** What an environment's home records about it (written by its creator). */
export interface EnvironmentRecord {
  readonly name: string;
  readonly createdAt: string;
  /** Whether the demo data set (customers, card accounts) was asked for. */
  readonly demo: boolean;
  /** How long its creation took, once it finished; `null` while it is being created. */
  readonly createMs: number | null;
}

/** Throws `invalid_request` (pointer `/name`) unless `name` is a valid environment name. */
export function checkEnvironmentName(name: unknown): string {
  if (typeof name === 'string' && NAME_REGEXP.test(name)) return name;
  const detail =
    'an environment name is 1 to 40 lower-case letters, digits and hyphens, starting with a ' +
    `letter and not ending with a hyphen; got ${JSON.stringify(name)}`;
  throw new MainstayError('invalid_request', detail, { errors: [{ pointer: '/name', detail }] });
}

/** The folder holding every environment of a parent home. */
export function environmentsDir(parentHome: string): string {
  return path.join(parentHome, ENVIRONMENTS_DIR);
}

/** The home of environment `name` under a parent home (the name is checked first). */
export function environmentHome(parentHome: string, name: string): string {
  return path.join(environmentsDir(parentHome), checkEnvironmentName(name));
}

/** Reads an environment's record; `null` when its home has none (yet). */
export function readRecord(home: string): EnvironmentRecord | null {
  const file = path.join(home, RECORD_FILE);
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as EnvironmentRecord;
  } catch {
    return null;
  }
}

/** Writes an environment's record atomically (temp file, then rename). */
export function writeRecord(home: string, record: EnvironmentRecord): void {
  const file = path.join(home, RECORD_FILE);
  writeFileSync(`${file}.tmp`, `${JSON.stringify(record, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}

/** The names of the environments under a parent home, sorted (hidden folders are not ones). */
export function environmentNames(parentHome: string): string[] {
  const dir = environmentsDir(parentHome);
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && NAME_REGEXP.test(entry.name))
    .map((entry) => entry.name)
    .sort();
}
