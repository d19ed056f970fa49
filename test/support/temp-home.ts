import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A fresh MAINSTAY_HOME under the system temp directory. */
export function tempHome(label: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `mainstay-${label}-`));
}

/** Deletes a test home (after its servers are stopped). */
export function removeHome(home: string): void {
  rmSync(home, { recursive: true, force: true });
}

/**
 * Pids of every live `postgres` process whose command line names a data directory under
 * `home`: a clean shutdown must leave none.
 */
export function postgresProcessesUnder(home: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      const isPostgres = cmdline[0]?.endsWith('postgres') === true;
      if (isPostgres && cmdline.some((arg) => arg.startsWith(home))) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}
