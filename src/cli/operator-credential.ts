import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../config/load-config.ts';
import { DEMO_CREDENTIALS_FILE } from '../domains/identity/index.ts';
import { readLiveLock } from '../fleet/fleet-lock.ts';
import { CONFIG_SECTIONS } from '../modules.ts';

/** Exit status when Mainstay is not running (as `systemctl status` uses 3). */
export const NOT_RUNNING_EXIT = 3;

/**
 * The running platform's URL (from the fleet lock) and the credential to call it with; else
 * prints why not and answers the exit status. `scope` names what the credential must hold.
 */
export function runningPlatform(scope: string): { url: string; credential: string } | number {
  const { home } = loadConfig(undefined, CONFIG_SECTIONS);
  const lock = readLiveLock(home);
  if (!lock?.httpUrl) {
    process.stderr.write(`mainstay: Mainstay is not running in ${home}; start it first\n`);
    return NOT_RUNNING_EXIT;
  }
  const credential = operatorCredential(home);
  if (credential === null) {
    process.stderr.write(
      `mainstay: set MAINSTAY_API_KEY to an API key (or access token) with the ${scope} scope\n`,
    );
    return 1;
  }
  return { url: lock.httpUrl, credential };
}

/**
 * The credential CLI commands send to the running platform: `MAINSTAY_API_KEY`, else the demo
 * API key of this home (`demo-credentials.json`, readable only by the home's owner).
 */
export function operatorCredential(home: string): string | null {
  const fromEnv = process.env.MAINSTAY_API_KEY;
  if (fromEnv) return fromEnv;
  const file = path.join(home, DEMO_CREDENTIALS_FILE);
  if (!existsSync(file)) return null;
  return (JSON.parse(readFileSync(file, 'utf8')) as { apiKey?: string }).apiKey ?? null;
}
