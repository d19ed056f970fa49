import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { isAlive } from '../fleet/postgres-server.ts';

const execFileAsync = promisify(execFile);

/**
 * Copies of the template's servers made ahead of need (the warm pool), inside the template's
 * folder so that a rebuilt template takes its stale copies with it. A creation renames one into
 * its home (instant, same file system) instead of copying some 350 MB while it waits.
 */
const SPARES_DIR = 'spares';
/** How many ready copies a home keeps; each is the size of a whole fleet's data. */
export const SPARES_MAX = 1;
const COPYING_PREFIX = '.copying-';

/** Copies a folder of servers (`servers/`), one `cp -a` per server at once, owners and modes kept. */
export async function copyServers(from: string, to: string): Promise<void> {
  mkdirSync(to, { mode: 0o755 });
  const servers = readdirSync(from).map((entry) => path.join(from, entry));
  await Promise.all(servers.map((server) => execFileAsync('cp', ['-a', server, to])));
}

/**
 * Moves a ready copy of the template's servers to `target` (which must not exist); `false` when
 * none is ready. Two creations racing for one copy: the rename lets only one have it.
 */
export function takeSpare(templateHome: string, target: string): boolean {
  for (const name of readySpares(templateHome)) {
    try {
      renameSync(path.join(templateHome, SPARES_DIR, name), target);
      return true;
    } catch {
      // Taken by another creation meanwhile: try the next.
    }
  }
  return false;
}

/**
 * Makes copies until {@link SPARES_MAX} are ready: copied under a temporary name, renamed when
 * whole, so a copy cut short is never taken (and is removed by the next refill once its maker
 * is gone).
 */
export async function refillSpares(templateHome: string): Promise<number> {
  const dir = path.join(templateHome, SPARES_DIR);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  removeAbandonedCopies(dir);
  let made = 0;
  while (readySpares(templateHome).length < SPARES_MAX) {
    const temp = path.join(
      dir,
      `${COPYING_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`,
    );
    try {
      await copyServers(path.join(templateHome, 'servers'), temp);
      if (readySpares(templateHome).length >= SPARES_MAX) break;
      renameSync(temp, path.join(dir, randomBytes(8).toString('hex')));
      made += 1;
    } finally {
      rmSync(temp, { recursive: true, force: true });
    }
  }
  return made;
}

function readySpares(templateHome: string): string[] {
  try {
    return readdirSync(path.join(templateHome, SPARES_DIR)).filter((name) => !name.startsWith('.'));
  } catch {
    return [];
  }
}

function removeAbandonedCopies(dir: string): void {
  for (const name of readdirSync(dir)) {
    if (!name.startsWith(COPYING_PREFIX)) continue;
    const pid = Number(name.slice(COPYING_PREFIX.length).split('-')[0]);
    if (!isAlive(pid)) rmSync(path.join(dir, name), { recursive: true, force: true });
  }
}
