/**
 * Staff on a real platform: the bootstrap admins log in with a password and a TOTP code; a code
 * works once; failures all look alike and five lock the account; sessions carry the roles'
 * scopes and end at logout; a new account is a viewer; bad passwords are refused before hashing.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as OTPAuth from 'otpauth';
import { loadConfig } from '../../../src/config/load-config.ts';
import type { DemoCredentials } from '../../../src/domains/identity/index.ts';
import { CONFIG_SECTIONS, MODULES } from '../../../src/modules.ts';
import { startPlatform } from '../../../src/platform/platform.ts';
import { removeHome, tempHome } from '../../support/temp-home.ts';

const home = tempHome('staff');
let platform: Awaited<ReturnType<typeof startPlatform>>;
let demo: DemoCredentials;
let counter = 0;

async function call(
  method: string,
  route: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  const response = await fetch(`${platform.url}${route}`, {
    method,
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return {
    status: response.status,
    body: (text ? JSON.parse(text) : {}) as Record<string, unknown>,
    headers: response.headers,
  };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const apiKey = () => bearer(demo.apiKey);

/** The TOTP code of `uri` for the time step `offset` steps from now. */
function codeOf(uri: string, offset = 0): string {
  const totp = OTPAuth.URI.parse(uri) as OTPAuth.TOTP;
  return totp.generate({ timestamp: Date.now() + offset * 30_000 });
}

const login = (username: string, password: string, code: string) =>
  call('POST', '/v1/staff/sessions', { username, password, code });

describe('staff accounts, login with TOTP, lockout', () => {
  before(async () => {
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

  test('an admin logs in; the session holds the scopes of its roles; a code works once', async () => {
    const [admin] = demo.staff;
    assert.ok(admin);
    const code = codeOf(admin.totpUri);
    const session = await login(admin.username, admin.password, code);
    assert.equal(session.status, 201, JSON.stringify(session.body));
    assert.match(session.body.token as string, /^mainstay_ss_ses_/);
    const token = session.body.token as string;
    const me = await call('GET', '/v1/staff/sessions/current', undefined, bearer(token));
    assert.equal(me.status, 200);
    assert.deepEqual(me.body.roles, ['admin']);
    assert.ok((me.body.scopes as string[]).includes('identity:admin'));
    assert.equal((await call('GET', '/v1/topology', undefined, bearer(token))).status, 200);
    // The same code again, even with the right password, is refused.
    const replay = await login(admin.username, admin.password, code);
    assert.equal(replay.status, 401);
    assert.equal(replay.body.code, 'login_failed');
    // Logout ends the session (every process within seconds; this one at once after its cache).
    assert.equal(
      (await call('DELETE', '/v1/staff/sessions/current', undefined, bearer(token))).status,
      204,
    );
    await new Promise((resolve) => setTimeout(resolve, 5_500));
    const ended = await call('GET', '/v1/topology', undefined, bearer(token));
    assert.equal(ended.status, 401);
    assert.equal(ended.body.code, 'invalid_token');
  });

  test('failures look alike, whatever was wrong; five lock the account', async () => {
    const admin = demo.staff[1];
    assert.ok(admin);
    const answers = [
      await login('nobody-here', 'a-password-long-enough', '123456'),
      await login(admin.username, 'a-wrong-password-long', codeOf(admin.totpUri)),
      await login(admin.username, admin.password, '000000'),
      await login(admin.username, admin.password, 'abcdef'),
    ];
    for (const answer of answers) {
      assert.equal(answer.status, 401);
      assert.equal(answer.body.code, 'login_failed');
      assert.equal(answer.body.detail, answers[0]?.body.detail);
    }
    // That was three failures for admin2; two more lock it, and then the right factors fail.
    await login(admin.username, 'a-wrong-password-long', '111111');
    await login(admin.username, 'a-wrong-password-long', '222222');
    const locked = await login(admin.username, admin.password, codeOf(admin.totpUri, 1));
    assert.equal(locked.status, 401);
    assert.equal(locked.body.code, 'login_failed');
    const record = await call('GET', `/v1/staff/${admin.id}`, undefined, apiKey());
    assert.ok(record.body.lockedUntil, JSON.stringify(record.body));
  });

  test('a new account is a viewer; other roles are refused at creation', async () => {
    const headers = { ...apiKey(), 'idempotency-key': `staff-${++counter}` };
    const password = 'correct horse battery staple';
    const created = await call(
      'POST',
      '/v1/staff',
      { username: 'olga', displayName: 'Olga', password },
      headers,
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual(created.body.roles, ['viewer']);
    assert.match(created.body.totpUri as string, /^otpauth:\/\/totp\//);
    const replay = await call(
      'POST',
      '/v1/staff',
      { username: 'olga', displayName: 'Olga', password },
      headers,
    );
    assert.equal(replay.status, 201);
    assert.equal(replay.body.totpUri, null, 'the TOTP secret is shown once');
    const session = await login('olga', password, codeOf(created.body.totpUri as string));
    assert.equal(session.status, 201);
    const token = session.body.token as string;
    assert.equal((await call('GET', '/v1/topology', undefined, bearer(token))).status, 200);
    const denied = await call(
      'POST',
      '/v1/api-keys',
      { name: 'x', scopes: ['cards:read'] },
      {
        ...bearer(token),
        'idempotency-key': `key-${++counter}`,
      },
    );
    assert.equal(denied.status, 403);
    const admin = await call(
      'POST',
      '/v1/staff',
      { username: 'mallory', displayName: 'M', password, roles: ['admin'] },
      { ...apiKey(), 'idempotency-key': `staff-${++counter}` },
    );
    assert.equal(admin.status, 422);
    assert.equal(admin.body.code, 'role_grant_needs_approval');
    const taken = await call(
      'POST',
      '/v1/staff',
      { username: 'olga', displayName: 'Other', password },
      { ...apiKey(), 'idempotency-key': `staff-${++counter}` },
    );
    assert.equal(taken.status, 409);
    assert.equal(taken.body.code, 'username_taken');
  });

  test('passwords too short or too long are refused before any hashing; nothing written', async () => {
    const short = await call(
      'POST',
      '/v1/staff',
      { username: 'shorty', displayName: 'S', password: 'short' },
      { ...apiKey(), 'idempotency-key': `staff-${++counter}` },
    );
    assert.equal(short.status, 422);
    assert.equal(short.body.code, 'password_invalid');
    const long = await login('admin', 'x'.repeat(100_000), '123456');
    assert.equal(long.status, 400);
    assert.equal(long.body.code, 'invalid_request');
    const key = await call('GET', '/v1/staff/sessions/current', undefined, apiKey());
    assert.equal(key.status, 200);
    assert.equal(key.body.kind, 'api_key', 'an API key is not a staff session');
    assert.deepEqual(key.body.roles, []);
  });
});
