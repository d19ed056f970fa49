/**
 * HTTP calls to a platform started by a test, as the demo's API client of its home: a JSON body
 * is sent as JSON (a string body as it is, for malformed input), and the answer is read whole.
 */
import { loadConfig } from '../../src/config/load-config.ts';
import { CONFIG_SECTIONS, MODULES } from '../../src/modules.ts';
import { startPlatform } from '../../src/platform/platform.ts';
import { authHeaders } from './demo-credentials.ts';
import { fleetFromTemplate, hasDefaultFleet } from './platform-template.ts';

/**
 * The platform this build hosts (every module of `src/modules.ts`), started in `home` with HTTP
 * on a free port and no failover controller; `env` adds variables (`MAINSTAY_CONFIG`...). With the
 * default fleet, it is a copy of the platform's template, restarted (platform-template.ts).
 */
export async function startTestPlatform(home: string, env: Record<string, string> = {}) {
  const config = loadConfig(
    { cwd: home, env: { MAINSTAY_HOME: home, MAINSTAY_PORT: '0', ...env } },
    CONFIG_SECTIONS,
  );
  if (hasDefaultFleet(config)) await fleetFromTemplate(home);
  return startPlatform({ config, modules: MODULES, failover: false });
}

/** An answer: its status, headers and JSON body (`{}` when empty). */
export interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/** A `call(method, path, body?, headers?)` to the platform at `baseUrl()` with `home`'s key. */
export function platformCaller(home: string, baseUrl: () => string) {
  return async function call(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Answer> {
    const response = await fetch(`${baseUrl()}${path}`, {
      method,
      headers: {
        ...authHeaders(home),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      ...(body === undefined
        ? {}
        : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await response.text();
    return {
      status: response.status,
      headers: response.headers,
      body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
    };
  };
}
