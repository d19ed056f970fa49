import { existsSync, rmSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { loadConfig } from '../../config/load-config.ts';
import { destroyEnvironment, listEnvironments } from '../../environments/environments.ts';
import { MainstayError } from '../../errors/mainstay-error.ts';
import { readLiveLock } from '../../fleet/fleet-lock.ts';
import { CONFIG_SECTIONS } from '../../modules.ts';
import { stopOrphans } from './down.ts';

/**
 * `mainstay destroy [--yes]`: deletes the whole home (every server's data, logs and state), its
 * environments stopped first.
 * Refuses while a supervisor runs; asks for confirmation unless `--yes`.
 */
export async function destroyCommand(options: { yes?: boolean }): Promise<number> {
  const { home } = loadConfig(undefined, CONFIG_SECTIONS);
  if (!existsSync(home)) {
    process.stdout.write(`nothing to destroy: ${home} does not exist\n`);
    return 0;
  }
  const lock = readLiveLock(home);
  if (lock) {
    throw new MainstayError(
      'fleet_running',
      `Mainstay (process ${lock.pid}) is running in ${home}; run "mainstay down" first`,
    );
  }
  if (!options.yes) {
    if (!process.stdin.isTTY) {
      throw new MainstayError(
        'invalid_request',
        'destroy needs confirmation: pass --yes when not on a terminal',
      );
    }
    const prompt = createInterface({ input: process.stdin, output: process.stdout });
    const answer = await prompt.question(`Delete ${home} with every server's data? Type "yes": `);
    prompt.close();
    if (answer.trim() !== 'yes') {
      process.stdout.write('not destroyed\n');
      return 1;
    }
  }
  // Environments run on their own: stop each (and its servers) before their files go.
  for (const environment of listEnvironments(home))
    await destroyEnvironment(home, environment.name);
  await stopOrphans(home);
  rmSync(home, { recursive: true, force: true });
  process.stdout.write(`destroyed ${home}\n`);
  return 0;
}
