/**
 * Maker-checker on a real platform: a role grant, a re-seed and a key rotation are stored until
 * a different person with an allowed role approves them; then they run exactly once. The maker
 * cannot approve; a role without the right cannot; an API key (no person) cannot; an expired
 * request cannot be approved; a rejected one never runs. A conditional policy (a card account's
 * credit limit above a threshold) holds only the calls its predicate names.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { loadConfig } from '../../../src/config/load-config.ts';
import { CREDIT_LIMIT_APPROVAL_ABOVE_DEFAULT } from '../../../src/domains/cards/config/credit-limit-approval.ts';
import type { DemoCredentials } from '../../../src/domains/identity/index.ts';
import { CATALOG_DATABASE } from '../../../src/fleet/fleet.ts';
import { CONFIG_SECTIONS, MODULES } from '../../../src/modules.ts';
import { startPlatform } from '../../../src/platform/platform.ts';
import { ROOT_SECRET_RING_FLAG } from '../../../src/secrets/catalog-secrets.ts';
import { fleetFromTemplate } from '../../support/platform-template.ts';
import { staffLogin } from '../../support/staff-login.ts';
import { removeHome, tempHome } from '../../support/temp-home.ts';

const home = tempHome('approvals');
let platform: Awaited<ReturnType<typeof startPlatform>>;
let demo: DemoCredentials;
let counter = 0;
const sessions: Record<string, string> = {};

type Answer = { status: number; body: Record<string, unknown>; headers: Headers };

async function call(
  method: string,
  route: string,
  credential: string,
  body?: unknown,
): Promise<Answer> {
  const write = method !== 'GET';
  const response = await fetch(`${platform.url}${route}`, {
    method,
    headers: {
      authorization: `Bearer ${credential}`,
      ...(write ? { 'idempotency-key': `k-${++counter}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : {}, headers: response.headers };
}

function login(username: string, password: string, totpUri: string): Promise<string> {
  return staffLogin(platform.url, { username, password, totpUri });
}

/** The request once it ran (or failed). */
async function finished(id: string): Promise<Record<string, unknown>> {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const answer = await call('GET', `/v1/approvals/${id}`, demo.apiKey);
    if (answer.body.status === 'executed' || answer.body.status === 'failed') return answer.body;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`approval ${id} did not finish`);
}

async function catalogQuery(sql: string, values: unknown[] = []) {
  const client = new pg.Client({
    ...platform.fleet.connection(platform.fleet.config.witness.id),
    database: CATALOG_DATABASE,
  });
  await client.connect();
  try {
    return await client.query(sql, values);
  } finally {
    await client.end();
  }
}

describe('maker-checker', () => {
  let olga = '';

  before(async () => {
    await fleetFromTemplate(home);
    const config = loadConfig(
      { cwd: home, env: { MAINSTAY_HOME: home, MAINSTAY_PORT: '0' } },
      CONFIG_SECTIONS,
    );
    platform = await startPlatform({ config, modules: MODULES });
    demo = JSON.parse(readFileSync(path.join(home, 'demo-credentials.json'), 'utf8'));
    for (const admin of demo.staff) {
      sessions[admin.username] = await login(admin.username, admin.password, admin.totpUri);
    }
    const password = 'olga-has-a-long-password';
    const created = await call('POST', '/v1/staff', demo.apiKey, {
      username: 'olga',
      displayName: 'Olga',
      password,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    olga = created.body.id as string;
    sessions.olga = await login('olga', password, created.body.totpUri as string);
  });

  after(async () => {
    await platform?.stop();
    removeHome(home);
  });

  test('a role grant waits for another admin, then runs once', async () => {
    const admin = sessions.admin as string;
    const asked = await call('POST', `/v1/staff/${olga}/roles`, admin, { roles: ['approver'] });
    assert.equal(asked.status, 202, JSON.stringify(asked.body));
    assert.equal(asked.body.status, 'pending');
    assert.equal(asked.body.action, 'role_grant');
    assert.equal(asked.headers.get('location'), `/v1/approvals/${asked.body.id}`);
    const id = asked.body.id as string;
    assert.deepEqual((await call('GET', `/v1/staff/${olga}`, admin)).body.roles, ['viewer']);

    const own = await call('POST', `/v1/approvals/${id}/approve`, admin);
    assert.equal(own.status, 403);
    assert.equal(own.body.code, 'approval_self');
    const viewer = await call('POST', `/v1/approvals/${id}/approve`, sessions.olga as string);
    assert.equal(viewer.status, 403);
    assert.equal(viewer.body.code, 'insufficient_scope');
    const machine = await call('POST', `/v1/approvals/${id}/approve`, demo.apiKey);
    assert.equal(machine.status, 403);
    assert.equal(machine.body.code, 'approval_role_missing', 'an API key is no person');

    const approved = await call('POST', `/v1/approvals/${id}/approve`, sessions.admin2 as string);
    assert.equal(approved.status, 202, JSON.stringify(approved.body));
    const done = await finished(id);
    assert.equal(done.status, 'executed', JSON.stringify(done));
    assert.deepEqual((done.result as { body: { roles: string[] } }).body.roles, ['approver']);
    assert.deepEqual((await call('GET', `/v1/staff/${olga}`, admin)).body.roles, ['approver']);
    const again = await call('POST', `/v1/approvals/${id}/approve`, sessions.admin2 as string);
    assert.equal(again.status, 202, 'the same checker deciding again sees it as it stands');
    assert.equal(again.body.status, 'executed');
  });

  test('an approver may approve a re-seed but not a role grant', async () => {
    // Olga's session still carries her old roles for up to 5 s (the session cache).
    await new Promise((resolve) => setTimeout(resolve, 5_500));
    const grant = await call('POST', `/v1/staff/${olga}/roles`, sessions.admin as string, {
      roles: ['approver', 'operator'],
    });
    const refused = await call(
      'POST',
      `/v1/approvals/${grant.body.id}/approve`,
      sessions.olga as string,
    );
    assert.equal(refused.status, 403);
    assert.equal(refused.body.code, 'approval_role_missing');
    const reseed = await call('POST', '/v1/operations/reseed', sessions.admin as string, {
      dataCentre: 'dc1',
    });
    assert.equal(reseed.status, 202, JSON.stringify(reseed.body));
    const approved = await call(
      'POST',
      `/v1/approvals/${reseed.body.id}/approve`,
      sessions.olga as string,
    );
    assert.equal(approved.status, 202, JSON.stringify(approved.body));
    const done = await finished(reseed.body.id as string);
    assert.equal((done.result as { body: { outcome: string } }).body.outcome, 'nothing_to_do');
  });

  test('an expired request cannot be approved; a rejected one never runs', async () => {
    const asked = await call('POST', '/v1/operations/reseed', sessions.admin as string, {
      dataCentre: 'dc2',
    });
    await catalogQuery(
      `UPDATE approval_requests SET expires_at = now() - interval '1 second' WHERE id = $1`,
      [asked.body.id],
    );
    const late = await call(
      'POST',
      `/v1/approvals/${asked.body.id}/approve`,
      sessions.admin2 as string,
    );
    assert.equal(late.status, 409);
    assert.equal(late.body.code, 'approval_expired');
    assert.equal(
      (await call('GET', `/v1/approvals/${asked.body.id}`, demo.apiKey)).body.status,
      'expired',
    );

    const other = await call('POST', '/v1/operations/reseed', sessions.admin as string, {
      dataCentre: 'dc2',
    });
    const rejected = await call(
      'POST',
      `/v1/approvals/${other.body.id}/reject`,
      sessions.admin2 as string,
      { reason: 'no DC was lost' },
    );
    assert.equal(rejected.status, 200);
    assert.equal(rejected.body.status, 'rejected');
    assert.equal(rejected.body.reason, 'no DC was lost');
    const after = await call(
      'POST',
      `/v1/approvals/${other.body.id}/approve`,
      sessions.olga as string,
    );
    assert.equal(after.status, 409);
    assert.equal(after.body.code, 'approval_decided');
    assert.equal(
      (await call('GET', `/v1/approvals/${other.body.id}`, demo.apiKey)).body.result,
      null,
    );
  });

  test('approved twice at once, a key rotation runs exactly once', async () => {
    const ring = async () => {
      const { rows } = await catalogQuery('SELECT value FROM catalog_flags WHERE name = $1', [
        ROOT_SECRET_RING_FLAG,
      ]);
      const value = rows[0]?.value as string | undefined;
      return value ? (JSON.parse(value) as { roots: unknown[] }).roots.length : 1;
    };
    const before = await ring();
    const asked = await call('POST', '/v1/operations/root-secrets', sessions.admin as string);
    assert.equal(asked.status, 202, JSON.stringify(asked.body));
    const id = asked.body.id as string;
    const both = await Promise.all([
      call('POST', `/v1/approvals/${id}/approve`, sessions.admin2 as string),
      call('POST', `/v1/approvals/${id}/approve`, sessions.admin2 as string),
    ]);
    assert.deepEqual(
      both.map((answer) => answer.status),
      [202, 202],
    );
    const done = await finished(id);
    assert.equal(done.status, 'executed', JSON.stringify(done));
    assert.equal(await ring(), before + 1, 'one new root, not two');
    const pending = await call('GET', '/v1/approvals?status=pending', demo.apiKey);
    assert.equal(pending.status, 200);
  });

  test('a credit limit above the threshold waits for a risk officer, then applies once', async () => {
    // A risk officer: one admin asks for the role, the other approves.
    const password = 'rita-has-a-long-password';
    const rita = await call('POST', '/v1/staff', demo.apiKey, {
      username: 'rita',
      displayName: 'Rita',
      password,
    });
    assert.equal(rita.status, 201, JSON.stringify(rita.body));
    const grant = await call('POST', `/v1/staff/${rita.body.id}/roles`, sessions.admin as string, {
      roles: ['risk_officer'],
    });
    await call('POST', `/v1/approvals/${grant.body.id}/approve`, sessions.admin2 as string);
    assert.equal((await finished(grant.body.id as string)).status, 'executed');
    sessions.rita = await login('rita', password, rita.body.totpUri as string);

    const account = await call('POST', '/v1/card-accounts', demo.apiKey, {
      currency: 'CNY',
      creditLimit: 10_000,
    });
    assert.equal(account.status, 201, JSON.stringify(account.body));
    const accountId = account.body.id as string;
    const card = await call('POST', `/v1/card-accounts/${accountId}/cards`, demo.apiKey, {});
    const authorize = (amount: number) =>
      call('POST', '/v1/authorizations', demo.apiKey, {
        requestId: `req-${++counter}`,
        cardId: card.body.id,
        amount,
        currency: 'CNY',
        merchant: { id: 'mer_tmall', categoryCode: '5311' },
      });
    const setLimit = async (credential: string, creditLimit: number, key: string) => {
      const response = await fetch(`${platform.url}/v1/card-accounts/${accountId}`, {
        method: 'PATCH',
        headers: {
          authorization: `Bearer ${credential}`,
          'idempotency-key': key,
          'content-type': 'application/json',
        },
        body: JSON.stringify({ currency: 'CNY', creditLimit }),
      });
      return {
        status: response.status,
        headers: response.headers,
        body: (await response.json()) as Record<string, unknown>,
      };
    };
    const limitNow = async () =>
      (await call('GET', `/v1/card-accounts/${accountId}`, demo.apiKey)).body.creditLimit;

    // At the threshold a member of staff changes the limit at once, like any caller.
    const threshold = Number(CREDIT_LIMIT_APPROVAL_ABOVE_DEFAULT);
    const direct = await setLimit(sessions.admin as string, threshold, `direct-${accountId}`);
    assert.equal(direct.status, 200, JSON.stringify(direct.body));
    assert.equal(direct.body.creditLimit, threshold);

    // Above it the call is stored and nothing changes.
    const high = threshold + 1_000_000;
    const key = `raise-${accountId}`;
    const asked = await setLimit(sessions.admin as string, high, key);
    assert.equal(asked.status, 202, JSON.stringify(asked.body));
    assert.equal(asked.body.action, 'card_credit_limit');
    assert.equal(asked.body.status, 'pending');
    const id = asked.body.id as string;
    assert.equal(await limitNow(), threshold);
    const before = await authorize(threshold + 500_000);
    assert.equal(before.body.status, 'insufficient_credit', JSON.stringify(before.body));

    const own = await call('POST', `/v1/approvals/${id}/approve`, sessions.admin as string);
    assert.equal(own.status, 403);
    assert.equal(own.body.code, 'approval_self');
    const approver = await call('POST', `/v1/approvals/${id}/approve`, sessions.olga as string);
    assert.equal(approver.status, 403, 'the approver role does not cover credit limits');
    assert.equal(approver.body.code, 'approval_role_missing');
    assert.equal(await limitNow(), threshold);

    const both = await Promise.all([
      call('POST', `/v1/approvals/${id}/approve`, sessions.rita as string),
      call('POST', `/v1/approvals/${id}/approve`, sessions.rita as string),
    ]);
    assert.deepEqual(
      both.map((answer) => answer.status),
      [202, 202],
    );
    const done = await finished(id);
    assert.equal(done.status, 'executed', JSON.stringify(done));
    const result = done.result as { status: number; body: { creditLimit: number } };
    assert.equal(result.status, 200, 'the replay ran the change, it was not held again');
    assert.equal(result.body.creditLimit, high);
    assert.equal(await limitNow(), high);
    const after = await authorize(threshold + 500_000);
    assert.equal(after.body.status, 'approved', JSON.stringify(after.body));

    // A retry with the key answers the stored request; the change ran once.
    const retry = await setLimit(sessions.admin as string, high, key);
    assert.equal(retry.status, 202);
    assert.equal(retry.headers.get('idempotent-replayed'), 'true');
    assert.equal(retry.body.id, id);
    assert.equal(retry.body.status, 'executed');
    const stored = await catalogQuery(
      'SELECT count(*)::int AS n FROM approval_requests WHERE idempotency_key = $1',
      [key],
    );
    assert.equal(stored.rows[0]?.n, 1, 'one approval request, the replay stored none');
    const { value } = await platform.router.read(
      accountId,
      (db) =>
        db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM idempotency_keys
            WHERE scope = 'card_account_credit_limit' AND key = $1`,
          [key],
        ),
      { consistency: 'primary' },
    );
    assert.equal(value.rows[0]?.n, 1, "the change was written once, under the maker's key");
  });
});
