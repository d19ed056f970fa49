import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DEMO_CREDENTIALS_FILE } from '../domains/identity/index.ts';

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
