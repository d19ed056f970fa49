import { readdirSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../../config/load-config.ts';
import { readLiveLock } from '../../fleet/fleet-lock.ts';
import { stopOrphan } from '../../fleet/postgres-server.ts';
import { CONFIG_SECTIONS } from '../../modules.ts';

export const DOWN_TIMEOUT_MS = 90_000;
const POLL_MS = 100;

/**
 * `mainstay down`: asks the supervising process to stop (SIGTERM) and waits for it; when no
 * supervisor is alive, stops any PostgreSQL server it left behind.
 */
export async function downCommand(): Promise<number> {
  const { home } = loadConfig(undefined, CONFIG_SECTIONS);
  const lock = readLiveLock(home);
  if (lock) {
    process.kill(lock.pid, 'SIGTERM');
    const deadline = Date.now() + DOWN_TIMEOUT_MS;
    while (readLiveLock(home)?.pid === lock.pid && Date.now() < deadline) await sleep(POLL_MS);
    if (readLiveLock(home)?.pid === lock.pid) {
      process.stderr.write(
        `mainstay: process ${lock.pid} did not stop within ${DOWN_TIMEOUT_MS} ms\n`,
      );
      return 1;
    }
    process.stdout.write(`stopped Mainstay (process ${lock.pid}) in ${home}\n`);
    return 0;
  }
  const stopped = await stopOrphans(home);
  process.stdout.write(
    stopped.length > 0
      ? `no supervisor was running; stopped servers left behind: ${stopped.join(', ')}\n`
      : `Mainstay is not running in ${home}\n`,
  );
  return 0;
}

/** Stops every postmaster still running on a data directory of this home; returns their ids. */
export async function stopOrphans(home: string): Promise<string[]> {
  const serversDir = path.join(home, 'servers');
  let ids: string[];
  try {
    ids = readdirSync(serversDir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name);
  } catch {
    return [];
  }
  const results = await Promise.all(
    ids.map(async (id) => ((await stopOrphan(path.join(serversDir, id, 'data'))) ? id : null)),
  );
  return results.filter((id): id is string => id !== null);
}
