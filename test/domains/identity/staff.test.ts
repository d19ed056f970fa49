/**
 * Staff on a real platform: the bootstrap admins log in with a password and a TOTP code; a code
 * works once; failures all look alike and five lock the account; sessions carry the roles'
 * scopes and end at logout; a new account is a viewer; bad passwords are refused before hashing;
 * logins naming one username are limited from any address, alike for a known and an unknown one;
 * logins and logouts are in the audit trail, without the password or the code.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as OTPAuth from 'otpauth';
import { loadConfig } from '../../../src/config/load-config.ts';
import { LOGIN_ATTEMPTS_PER_USERNAME } from '../../../src/domains/identity/api/staff-routes.ts';
import type { DemoCredentials } from '../../../src/domains/identity/index.ts';
import { CONFIG_SECTIONS, MODULES } from '../../../src/modules.ts';
import { startPlatform } from '../../../src/platform/platform.ts';
import { fleetFromTemplate } from '../../support/platform-template.ts';
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

/** A login sent as if from `address` (Fastify's inject sets the client address). */
async function loginFrom(address: string, username: string, password: string, code: string) {
  const response = await platform.http.inject({
    method: 'POST',
    url: '/v1/staff/sessions',
    payload: { username, password, code },
    remoteAddress: address,
  });
  return { status: response.statusCode, body: response.json(), headers: response.headers };
}

type Entry = { actor: string; actorKind: string; action: string; outcome: number } & {
  detail: Record<string, string> | null;
  sourceIp: string | null;
};

/** The audit entries of `actor`, newest first (read with the demo key, which holds audit:read). */
async function entriesOf(actor: string): Promise<Entry[]> {
  const answer = await call(
    'GET',
    `/v1/audit/entries?actor=${encodeURIComponent(actor)}&limit=100`,
    undefined,
    apiKey(),
  );
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body.data as Entry[];
}

describe('staff accounts, login with TOTP, lockout', () => {
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
    // Logout ends the session: this process refuses the token at once (others within 5 s).
    assert.equal(
      (await call('DELETE', '/v1/staff/sessions/current', undefined, bearer(token))).status,
      204,
    );
    const ended = await call('GET', '/v1/topology', undefined, bearer(token));
    assert.equal(ended.status, 401);
    assert.equal(ended.body.code, 'invalid_token');
    // The login, the refused replay and the logout are in the audit trail; no secret is.
    const own = await entriesOf(admin.id);
    const logins = own.filter((entry) => entry.action === 'POST /v1/staff/sessions');
    assert.equal(logins.length, 1, JSON.stringify(own));
    assert.equal(logins[0]?.actorKind, 'staff');
    assert.equal(logins[0]?.outcome, 201);
    const sessionId = logins[0]?.detail?.session;
    assert.match(sessionId ?? '', /^ses_/);
    assert.ok(token.includes(sessionId as string));
    const logout = own.find((entry) => entry.action === 'DELETE /v1/staff/sessions/current');
    assert.equal(logout?.outcome, 204);
    assert.equal(logout?.detail?.session, sessionId);
    const refused = (await entriesOf('anonymous@127.0.0.1')).find(
      (entry) => entry.action === 'POST /v1/staff/sessions' && entry.detail?.account === admin.id,
    );
    assert.equal(refused?.outcome, 401);
    assert.equal(refused?.detail?.reason, 'wrong_code', 'a code used before is a wrong one');
    for (const text of [JSON.stringify(own), JSON.stringify(refused)]) {
      assert.ok(!text.includes(admin.password), 'no password in the trail');
      assert.ok(!text.includes(code), 'no code in the trail');
      assert.ok(!text.includes(token.slice(-20)), 'no session secret in the trail');
    }
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

  test('logins naming one username are limited from any address, alike for known and unknown', async () => {
    const password = 'correct horse battery staple';
    const created = await call(
      'POST',
      '/v1/staff',
      { username: 'petra', displayName: 'Petra', password },
      { ...apiKey(), 'idempotency-key': `staff-${++counter}` },
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const petra = created.body.id as string;
    const limited: Record<string, unknown>[] = [];
    for (const [n, username] of ['petra', 'no-such-user-anywhere'].entries()) {
      // Each attempt from another address: the per-address limit never trips.
      for (let attempt = 1; attempt <= LOGIN_ATTEMPTS_PER_USERNAME; attempt += 1) {
        const answer = await loginFrom(
          `198.51.100.${n * 50 + attempt}`,
          username,
          'a wrong password, long enough',
          '000000',
        );
        assert.equal(answer.status, 401, `${username} attempt ${attempt}`);
        assert.equal(answer.body.code, 'login_failed');
      }
      // Case and surrounding space do not make another account of it.
      const over = await loginFrom(
        `198.51.100.${n * 50 + 49}`,
        ` ${username.toUpperCase()}`,
        password,
        '000000',
      );
      assert.equal(over.status, 429, `${username}: ${JSON.stringify(over.body)}`);
      assert.match(String(over.headers['content-type']), /^application\/problem\+json/);
      assert.equal(over.body.code, 'rate_limited');
      const retryAfter = Number(over.headers['retry-after']);
      assert.ok(retryAfter > 60 && retryAfter <= 15 * 60, `Retry-After ${retryAfter}`);
      limited.push({
        ...over.body,
        detail: String(over.body.detail).replace(/[0-9]+ seconds/, ''),
      });
    }
    assert.deepEqual(limited[0], limited[1], 'the same 429 for a known and an unknown username');
    // Another username from the same addresses is not limited.
    const other = await loginFrom('198.51.100.200', 'admin2', 'a wrong password, long enough', '1');
    assert.equal(other.status, 401);
    // The trail: each failure under its address, the known account named, the 429s not at all.
    const known = await entriesOf('anonymous@198.51.100.1');
    const first = known.find((entry) => entry.action === 'POST /v1/staff/sessions');
    assert.equal(first?.outcome, 401);
    assert.deepEqual(first?.detail, { account: petra, reason: 'wrong_password' });
    const unknown = await entriesOf('anonymous@198.51.100.51');
    assert.deepEqual(unknown[0]?.detail, { reason: 'unknown_account' });
    assert.deepEqual(await entriesOf('anonymous@198.51.100.49'), [], 'a 429 is not recorded');
    const all = JSON.stringify([...known, ...unknown]);
    assert.ok(!all.includes('wrong password') && !all.includes('no-such-user'), all);
  });
});
