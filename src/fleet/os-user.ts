import { execFile } from 'node:child_process';
import { chmodSync, chownSync, statSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { MainstayError } from '../errors/mainstay-error.ts';

const execFileAsync = promisify(execFile);

/** The OS identity PostgreSQL runs as; `null` ids mean "as this process". */
export interface OsIdentity {
  readonly uid: number | null;
  readonly gid: number | null;
  readonly name: string;
}

export const POSTGRES_OS_USER = 'mainstay-pg';

/**
 * PostgreSQL refuses to run as root. As root, Mainstay runs every server as the unprivileged
 * user `mainstay-pg`, creating it (no login shell, no home) when it does not exist. As anyone
 * else it runs servers as itself.
 */
export async function postgresIdentity(): Promise<OsIdentity> {
  if (process.getuid?.() !== 0) {
    return { uid: null, gid: null, name: process.env.USER ?? 'current user' };
  }
  let ids = await lookupUser(POSTGRES_OS_USER);
  if (ids === null) {
    try {
      await execFileAsync('useradd', [
        '--system',
        '--no-create-home',
        '--shell',
        '/usr/sbin/nologin',
        '--user-group',
        POSTGRES_OS_USER,
      ]);
    } catch (error) {
      ids = await lookupUser(POSTGRES_OS_USER);
      if (ids === null) {
        throw new MainstayError(
          'os_user_unavailable',
          `running as root: could not create the OS user "${POSTGRES_OS_USER}" with useradd`,
          { cause: error },
        );
      }
    }
    ids ??= await lookupUser(POSTGRES_OS_USER);
  }
  if (ids === null) {
    throw new MainstayError('os_user_unavailable', `OS user "${POSTGRES_OS_USER}" not found`);
  }
  return { ...ids, name: POSTGRES_OS_USER };
}

async function lookupUser(name: string): Promise<{ uid: number; gid: number } | null> {
  try {
    const { stdout } = await execFileAsync('getent', ['passwd', name]);
    const fields = stdout.trim().split(':');
    return { uid: Number(fields[2]), gid: Number(fields[3]) };
  } catch {
    return null;
  }
}

/** Hands a directory to the PostgreSQL identity (no-op when not running as root). */
export function giveTo(dir: string, identity: OsIdentity): void {
  if (identity.uid === null || identity.gid === null) return;
  chownSync(dir, identity.uid, identity.gid);
}

/**
 * Makes sure the PostgreSQL identity can reach `dir`: every ancestor needs the search bit for
 * "others" when PostgreSQL runs as another user. Adds only that bit (never read), and only
 * where it is missing; returns the directories it changed so the caller can say so.
 */
export function ensureTraversable(dir: string, identity: OsIdentity): string[] {
  if (identity.uid === null) return [];
  const changed: string[] = [];
  let current = path.resolve(dir);
  for (;;) {
    const mode = statSync(current).mode;
    if ((mode & 0o001) === 0) {
      chmodSync(current, (mode & 0o7777) | 0o001);
      changed.push(current);
    }
    const parent = path.dirname(current);
    if (parent === current) return changed;
    current = parent;
  }
}
