import { existsSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../../config/load-config.ts';
import { MainstayError } from '../../errors/mainstay-error.ts';
import { STATE_FILE } from '../../fleet/fleet-state.ts';
import { CONFIG_SECTIONS } from '../../modules.ts';
import { upCommand } from './up.ts';

/** How long the supervisor of a new environment waits for its data directories to be copied. */
export const COPY_WAIT_MS = 120_000;
const COPY_POLL_MS = 20;

/**
 * `mainstay env serve` (internal; started by `mainstay env create`): loads the program while the
 * environment's data directories are being copied, waits for the fleet state the copy writes
 * last, then is `mainstay up` for the environment's home.
 */
export async function envServeCommand(): Promise<number> {
  const { home } = loadConfig(undefined, CONFIG_SECTIONS);
  const state = path.join(home, STATE_FILE);
  const deadline = Date.now() + COPY_WAIT_MS;
  while (!existsSync(state)) {
    if (Date.now() > deadline)
      throw new MainstayError('server_start_failed', `no ${state} after ${COPY_WAIT_MS} ms`);
    await sleep(COPY_POLL_MS);
  }
  return upCommand();
}
