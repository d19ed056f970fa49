/**
 * The staff list on a real platform: `GET /v1/staff` answers every member with their roles, in
 * order of id, a page at a time by cursor, never a secret; it needs `identity:read`.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../../src/config/load-config.ts';
import type { DemoCredentials } from '../../../src/domains/identity/index.ts';
import { CONFIG_SECTIONS, MODULES } from '../../../src/modules.ts';
import { startPlatform } from '../../../src/platform/platform.ts';
import { fleetFromTemplate } from '../../support/platform-template.ts';
import { removeHome, tempHome } from '../../support/temp-home.ts';

const home = tempHome('staff-list');
let platform: Awaited<ReturnType<typeof startPlatform>>;
let demo: DemoCredentials;
let counter = 0;

type Member = { id: string; username: string; roles: string[] } & Record<string, unknown>;
type StaffPage = { data: Member[]; hasMore: boolean; nextCursor: string | null };

async function call(method: string, route: string, credential: string | null, body?: unknown) {
  const response = await fetch(`${platform.url}${route}`, {
    method,
    headers: {
      ...(credential === null ? {} : { authorization: `Bearer ${credential}` }),
      ...(method === 'GET' ? {} : { 'idempotency-key': `staff-list-${++counter}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return {
    status: response.status,
    body: (text ? JSON.parse(text) : {}) as Record<string, unknown>,
  };
}

describe('GET /v1/staff', () => {
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

  test('every member with their roles, in order of id, a page at a time', async () => {
    for (const username of ['list.one', 'list.two', 'list.three']) {
      const created = await call('POST', '/v1/staff', demo.apiKey, {
        username,
        displayName: username,
        password: 'a long enough staff password',
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
    }
    const all = await call('GET', '/v1/staff?limit=100', demo.apiKey);
    assert.equal(all.status, 200, JSON.stringify(all.body));
    const page = all.body as unknown as StaffPage;
    assert.equal(page.hasMore, false);
    assert.equal(page.nextCursor, null);
    const byName = new Map(page.data.map((member) => [member.username, member]));
    for (const admin of demo.staff) assert.deepEqual(byName.get(admin.username)?.roles, ['admin']);
    assert.deepEqual(byName.get('list.two')?.roles, ['viewer']);
    const ids = page.data.map((member) => member.id);
    assert.deepEqual(ids, [...ids].sort(), 'in order of id');
    assert.doesNotMatch(JSON.stringify(page), /password|totp/i, 'no secret');
    // Two at a time, the pages together are the whole list, each member once.
    const walked: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor === null ? '' : `&startingAfter=${cursor}`;
      const next = await call('GET', `/v1/staff?limit=2${query}`, demo.apiKey);
      assert.equal(next.status, 200, JSON.stringify(next.body));
      const part = next.body as unknown as StaffPage;
      assert.ok(part.data.length <= 2);
      walked.push(...part.data.map((member) => member.id));
      cursor = part.nextCursor;
      assert.equal(part.hasMore, cursor !== null);
    } while (cursor !== null);
    assert.deepEqual(walked, ids);
  });

  test('it needs identity:read; a bad query is refused', async () => {
    const anonymous = await call('GET', '/v1/staff', null);
    assert.equal(anonymous.status, 401);
    const key = await call('POST', '/v1/api-keys', demo.apiKey, {
      name: 'platform only',
      scopes: ['platform:read'],
    });
    assert.equal(key.status, 201, JSON.stringify(key.body));
    const narrow = await call('GET', '/v1/staff', key.body.apiKey as string);
    assert.equal(narrow.status, 403);
    assert.equal(narrow.body.code, 'insufficient_scope');
    const tooMany = await call('GET', '/v1/staff?limit=101', demo.apiKey);
    assert.equal(tooMany.status, 400);
  });
});
