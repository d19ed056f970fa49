/**
 * Credentials for the benches that talk HTTP to a server checking them: the demo credentials a
 * fleet's first start writes to `<home>/demo-credentials.json`, and OAuth2 access tokens from
 * the token endpoint with them (client credentials grant, HTTP Basic).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  DEMO_CREDENTIALS_FILE,
  type DemoCredentials,
} from '../../src/domains/identity/demo/demo-credentials.ts';

/** The card scopes a load generator needs: authorize, and create accounts and cards. */
export const CARD_LOAD_SCOPES = ['cards:authorize', 'cards:manage', 'cards:read'] as const;

/** The parsed `<home>/demo-credentials.json`. */
export function readDemoCredentials(home: string): DemoCredentials {
  return JSON.parse(
    readFileSync(path.join(home, DEMO_CREDENTIALS_FILE), 'utf8'),
  ) as DemoCredentials;
}

/** `POST <tokenPath>` with the demo client: a fresh JWT access token for `scopes`. */
export async function fetchAccessToken(
  baseUrl: string,
  demo: DemoCredentials,
  scopes: readonly string[] = CARD_LOAD_SCOPES,
): Promise<string> {
  const basic = Buffer.from(`${demo.clientId}:${demo.clientSecret}`).toString('base64');
  const response = await fetch(`${baseUrl}${demo.tokenPath}`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${basic}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      scope: scopes.join(' '),
    }).toString(),
  });
  const text = await response.text();
  if (response.status !== 200) {
    throw new Error(`the token endpoint answered ${response.status}: ${text}`);
  }
  const token = (JSON.parse(text) as { access_token?: unknown }).access_token;
  if (typeof token !== 'string')
    throw new Error(`the token endpoint sent no access token: ${text}`);
  return token;
}

/** `Bearer <credential>`, the `Authorization` value the load generator sends. */
export const bearer = (credential: string): string => `Bearer ${credential}`;

/** Throws when a load run was refused for its credential (401 or 403): its figures are void. */
export function assertAuthenticated(
  label: string,
  result: { readonly statuses: Readonly<Record<string, number>> },
): void {
  const refused = (result.statuses['401'] ?? 0) + (result.statuses['403'] ?? 0);
  if (refused > 0) {
    throw new Error(
      `${label}: ${refused} requests refused for their credential (${JSON.stringify(result.statuses)})`,
    );
  }
}
