/**
 * The demo credentials a fleet's first start writes to `demo-credentials.json` in
 * MAINSTAY_HOME: tests that talk HTTP to a server checking credentials (`startPlatform`,
 * `startApiProcess`, `mainstay up`, `mainstay api`) send its API key.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  DEMO_CREDENTIALS_FILE,
  type DemoCredentials,
} from '../../src/domains/identity/demo/demo-credentials.ts';

/** The parsed `<home>/demo-credentials.json`. */
export function demoCredentials(home: string): DemoCredentials {
  return JSON.parse(
    readFileSync(path.join(home, DEMO_CREDENTIALS_FILE), 'utf8'),
  ) as DemoCredentials;
}

/** `Authorization: Bearer <demo API key>` for the fleet of `home`. */
export function authHeaders(home: string): { authorization: string } {
  return { authorization: `Bearer ${demoCredentials(home).apiKey}` };
}
