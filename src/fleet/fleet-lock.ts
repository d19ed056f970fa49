import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { MainstayError } from '../errors/mainstay-error.ts';
import { isAlive } from './postgres-server.ts';

export const LOCK_FILE = 'mainstay.pid';

/** Contents of the lock file: who supervises the fleet, and where its HTTP server listens. */
export interface FleetLock {
  readonly pid: number;
  readonly startedAt: string;
  readonly httpUrl: string | null;
}

/** Reads the lock of a live supervisor, or `null` when none holds it (a stale lock is ignored). */
export function readLiveLock(home: string): FleetLock | null {
  const file = path.join(home, LOCK_FILE);
  if (!existsSync(file)) return null;
  let lock: FleetLock;
  try {
    lock = JSON.parse(readFileSync(file, 'utf8')) as FleetLock;
  } catch {
    return null;
  }
  return isAlive(lock.pid) ? lock : null;
}

/** Takes the lock for this process; `fleet_running` when a live process holds it. */
export function acquireLock(home: string): void {
  const holder = readLiveLock(home);
  if (holder && holder.pid !== process.pid) {
    throw new MainstayError(
      'fleet_running',
      `the fleet in ${home} is already supervised by process ${holder.pid}; stop it with "mainstay down"`,
    );
  }
  writeLock(home, { pid: process.pid, startedAt: new Date().toISOString(), httpUrl: null });
}

/** Records where the HTTP server listens, for `mainstay status`. */
export function recordHttpUrl(home: string, httpUrl: string): void {
  const current = readLiveLock(home);
  if (current?.pid !== process.pid) return;
  writeLock(home, { ...current, httpUrl });
}

export function releaseLock(home: string): void {
  const current = readLiveLock(home);
  if (current === null || current.pid === process.pid) {
    rmSync(path.join(home, LOCK_FILE), { force: true });
  }
}

function writeLock(home: string, lock: FleetLock): void {
  writeFileSync(path.join(home, LOCK_FILE), `${JSON.stringify(lock)}\n`);
}
