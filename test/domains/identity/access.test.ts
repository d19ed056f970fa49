/**
 * Every route of the OpenAPI document, walked on a real platform: without a credential 401, with
 * one lacking the route's scope 403, with it the route's own answer. Then the ways a credential
 * can be bad: expired, signed by another key, for another audience or issuer, revoked, malformed;
 * and the token endpoint's refusals.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import { loadConfig } from '../../../src/config/load-config.ts';
import { ISSUER_DEFAULT } from '../../../src/domains/identity/config/identity-config.ts';
import { ACCESS_TOKEN_AUDIENCE } from '../../../src/domains/identity/core/bearer-access.ts';
import { privateJwkOf } from '../../../src/domains/identity/core/signing-keys.ts';
import { CONFIG_SECTIONS, MODULES } from '../../../src/modules.ts';
import { startPlatform } from '../../../src/platform/platform.ts';
import { CatalogSecrets } from '../../../src/secrets/catalog-secrets.ts';
import { fleetFromTemplate } from '../../support/platform-template.ts';
import { removeHome, tempHome } from '../../support/temp-home.ts';

const home = tempHome('access');
let platform: Awaited<ReturnType<typeof startPlatform>>;
let demo: { clientId: string; clientSecret: string; apiKey: string; scopes: string[] };
let counter = 0;

interface Operation {
  readonly method: string;
  readonly path: string;
  readonly scopes: readonly string[] | null;
}

const bearer = (credential: string) => ({ authorization: `Bearer ${credential}` });

async function call(method: string, route: string, headers: Record<string, string> = {}) {
  const write = method !== 'GET';
  const response = await fetch(`${platform.url}${route}`, {
    method,
    headers: {
      ...headers,
      ...(write ? { 'content-type': 'application/json', 'idempotency-key': `k-${++counter}` } : {}),
    },
    ...(write ? { body: '{}' } : {}),
  });
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {}
  return { status: response.status, headers: response.headers, body, text };
}

/** Every operation of the document, with the scopes its security names (null: public). */
async function operations(): Promise<Operation[]> {
  const document = (await call('GET', '/openapi.json')).body as {
    paths: Record<string, Record<string, { security?: Record<string, string[]>[] }>>;
  };
  return Object.entries(document.paths).flatMap(([route, methods]) =>
    Object.entries(methods).map(([method, operation]) => {
      assert.ok(
        Array.isArray(operation.security),
        `${method.toUpperCase()} ${route} declares no security in the OpenAPI document`,
      );
      const scopes = [
        ...new Set(operation.security.flatMap((scheme) => Object.values(scheme).flat())),
      ];
      return { method: method.toUpperCase(), path: route, scopes: scopes.length ? scopes : null };
    }),
  );
}

/** A path with its parameters filled by ids that exist nowhere. */
const concrete = (route: string) =>
  route.replace(/\{[^}]+\}/g, 'acct_0000000000000000000000000000');

async function apiKeyWith(scopes: readonly string[]): Promise<string> {
  const created = await fetch(`${platform.url}/v1/api-keys`, {
    method: 'POST',
    headers: {
      ...bearer(demo.apiKey),
      'content-type': 'application/json',
      'idempotency-key': `key-${++counter}`,
    },
    body: JSON.stringify({ name: `test key ${++counter}`, scopes }),
  });
  const body = (await created.json()) as { apiKey: string };
  assert.equal(created.status, 201, `${JSON.stringify(body)} ${JSON.stringify(scopes)}`);
  return body.apiKey;
}

async function accessToken(scope: string, secret = demo.clientSecret) {
  const response = await fetch(`${platform.url}/oauth/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${demo.clientId}:${secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope }).toString(),
  });
  return { status: response.status, body: (await response.json()) as Record<string, string> };
}

/** A token signed with the fleet's own current key, with the claims given. */
async function forged(claims: { exp?: number; aud?: string; iss?: string }, foreignKey = false) {
  const secrets = new CatalogSecrets(platform.fleet.catalog);
  const jwk = privateJwkOf((await secrets.keysFor('access-token-signing')).current);
  const key = foreignKey
    ? generateKeyPairSync('ed25519').privateKey
    : (await import('node:crypto')).createPrivateKey({ key: jwk, format: 'jwk' });
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ scope: 'platform:read', client_id: demo.clientId })
    .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: jwk.kid as string })
    .setIssuedAt(now - 10)
    .setExpirationTime(claims.exp ?? now + 60)
    .setAudience(claims.aud ?? ACCESS_TOKEN_AUDIENCE)
    .setIssuer(claims.iss ?? ISSUER_DEFAULT)
    .sign(key);
}

describe('identity and access on a real platform', () => {
  before(async () => {
    await fleetFromTemplate(home);
    const config = loadConfig(
      { cwd: home, env: { MAINSTAY_HOME: home, MAINSTAY_PORT: '0' } },
      CONFIG_SECTIONS,
    );
    platform = await startPlatform({ config, modules: MODULES });
    demo = JSON.parse(readFileSync(path.join(home, 'demo-credentials.json'), 'utf8'));
  });

  after(async () => {
    await platform?.stop();
    removeHome(home);
  });

  test('the demo credentials file is readable by its owner only', async () => {
    const { statSync } = await import('node:fs');
    assert.equal(statSync(path.join(home, 'demo-credentials.json')).mode & 0o777, 0o600);
    assert.match(demo.apiKey, /^mainstay_ak_key_/);
  });

  test('every route: 401 without a credential, 403 without its scope, its own answer with it', async () => {
    const all = await operations();
    assert.ok(all.length >= 25, `the document lists ${all.length} operations`);
    // Public: health, the document, and the ways a person gets a session (rate-limited).
    const allowedPublic = new Set([
      '/health',
      '/openapi.json',
      '/v1/staff/sessions',
      '/v1/customers',
      '/v1/customers/verify-phone',
      '/v1/customers/sessions',
    ]);
    const publicOps = all.filter((op) => op.scopes === null);
    for (const op of publicOps) {
      assert.ok(allowedPublic.has(op.path), `${op.method} ${op.path} is public`);
      assert.ok(op.path !== '/v1/staff/sessions' || op.method === 'POST', 'only the login');
    }
    assert.ok(publicOps.some((op) => op.path === '/health'));
    const lacking = new Map<string, string>();
    for (const scope of new Set(all.flatMap((op) => op.scopes ?? []))) {
      lacking.set(scope, await apiKeyWith(demo.scopes.filter((other) => other !== scope)));
    }
    for (const op of all.filter((candidate) => candidate.scopes !== null)) {
      const route = concrete(op.path);
      const anonymous = await call(op.method, route);
      assert.equal(anonymous.status, 401, `${op.method} ${op.path} without a credential`);
      assert.equal(anonymous.body.code, 'unauthenticated');
      assert.match(anonymous.headers.get('www-authenticate') ?? '', /^Bearer realm=/);
      for (const scope of op.scopes ?? []) {
        const denied = await call(op.method, route, bearer(lacking.get(scope) as string));
        assert.equal(denied.status, 403, `${op.method} ${op.path} without ${scope}`);
        assert.equal(denied.body.code, 'insufficient_scope');
        assert.ok(String(denied.body.detail).includes(scope));
      }
      const allowed = await call(op.method, route, bearer(demo.apiKey));
      // A route that acts for the customer of the session answers any other credential so.
      // (A write's empty body may be refused first, as the body is checked before the handler.)
      if (op.path.startsWith('/v1/customers/me')) {
        if (allowed.status === 400) continue;
        assert.equal(allowed.status, 403, `${op.method} ${op.path}`);
        assert.match(String(allowed.body.detail), /acts for a customer/);
        continue;
      }
      assert.ok(
        ![401, 403].includes(allowed.status),
        `${op.method} ${op.path} with its scope: ${allowed.status} ${allowed.text.slice(0, 200)}`,
      );
      const needsQuery = /querystring must have required property/.test(
        String(allowed.body.detail),
      );
      if (op.method === 'GET' && !op.path.includes('{') && !needsQuery) {
        assert.equal(allowed.status, 200, `${op.method} ${op.path}: ${allowed.text.slice(0, 200)}`);
      }
    }
  });

  test('an access token from the token endpoint carries the scopes asked for, no more', async () => {
    const token = await accessToken('platform:read cards:read');
    assert.equal(token.status, 200, JSON.stringify(token.body));
    assert.equal(token.body.token_type, 'Bearer');
    const access = token.body.access_token as string;
    assert.equal((await call('GET', '/v1/topology', bearer(access))).status, 200);
    const denied = await call('POST', '/v1/operations/reseed', bearer(access));
    assert.equal(denied.status, 403);
    assert.equal(denied.body.code, 'insufficient_scope');
    const jwks = await call('GET', '/oauth/jwks');
    assert.equal(jwks.status, 200);
    assert.equal((jwks.body.keys as unknown[]).length >= 1, true);
    assert.ok(!JSON.stringify(jwks.body).includes('"d"'), 'the JWKS holds no private part');
  });

  test('the token endpoint refuses a wrong secret and grants no scope the client lacks', async () => {
    const wrong = await accessToken('platform:read', `${demo.clientSecret}x`);
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error, 'invalid_client');
    // RFC 6749 lets the server grant less than asked; it says so in `scope`.
    const unknown = await accessToken('no:such-scope platform:read');
    assert.equal(unknown.status, 200);
    assert.equal(unknown.body.scope, 'platform:read');
  });

  test('bad credentials: expired, foreign key, other audience or issuer, malformed, garbage', async () => {
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, string][] = [
      ['expired', await forged({ exp: now - 5 })],
      ['foreign key', await forged({}, true)],
      ['audience', await forged({ aud: 'someone-else' })],
      ['issuer', await forged({ iss: 'https://evil.example/oauth' })],
      ['garbage', 'eyJhbGciOiJFZERTQSJ9.e30.AAAA'],
      ['api key shape', 'mainstay_ak_key_nothing'],
      ['unknown api key', `mainstay_ak_key_01M8WAFWJMT9MRV5V8Q2K0MP3C0000_${'A'.repeat(43)}`],
    ];
    for (const [name, credential] of cases) {
      const answer = await call('GET', '/v1/topology', bearer(credential));
      assert.equal(answer.status, 401, `${name}: ${answer.text}`);
      assert.equal(answer.body.code, 'invalid_token', name);
      assert.match(answer.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
    }
    assert.equal((await call('GET', '/v1/topology', bearer(await forged({})))).status, 200);
    const notBearer = await call('GET', '/v1/topology', { authorization: 'Basic abc' });
    assert.equal(notBearer.status, 401);
    assert.equal(notBearer.body.code, 'invalid_token');
  });

  test('a revoked API key is refused within seconds; a key is never shown twice', async () => {
    const headers = {
      ...bearer(demo.apiKey),
      'content-type': 'application/json',
      'idempotency-key': 'revocable-key',
    };
    const body = JSON.stringify({ name: 'revocable', scopes: ['platform:read'] });
    const first = (await (
      await fetch(`${platform.url}/v1/api-keys`, { method: 'POST', headers, body })
    ).json()) as { id: string; apiKey: string };
    const replay = await fetch(`${platform.url}/v1/api-keys`, { method: 'POST', headers, body });
    assert.equal(replay.headers.get('idempotent-replayed'), 'true');
    assert.equal(((await replay.json()) as { apiKey: unknown }).apiKey, null);
    assert.equal((await call('GET', '/v1/topology', bearer(first.apiKey))).status, 200);
    const revoked = await call('POST', `/v1/api-keys/${first.id}/revoke`, bearer(demo.apiKey));
    assert.equal(revoked.status, 200);
    assert.ok(revoked.body.revokedAt);
    await new Promise((resolve) => setTimeout(resolve, 5_500));
    const after = await call('GET', '/v1/topology', bearer(first.apiKey));
    assert.equal(after.status, 401);
    assert.equal(after.body.code, 'invalid_token');
    const listed = await call('GET', '/v1/api-keys?limit=100', bearer(demo.apiKey));
    assert.equal(listed.status, 200);
    assert.ok(!listed.text.includes('mainstay_ak_'), 'a list never shows a key');
  });

  test('a credential cannot be given a scope no module defines', async () => {
    const response = await fetch(`${platform.url}/v1/api-clients`, {
      method: 'POST',
      headers: {
        ...bearer(demo.apiKey),
        'content-type': 'application/json',
        'idempotency-key': 'bad-scope',
      },
      body: JSON.stringify({ name: 'x', scopes: ['root:everything'] }),
    });
    assert.equal(response.status, 422);
    assert.equal(((await response.json()) as { code: string }).code, 'scope_unknown');
  });
});
