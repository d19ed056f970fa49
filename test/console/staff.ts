/**
 * The console's staff and customers pages in a real browser: both admins listed with their
 * roles; a new API key's secret shown once, and the key revoked; a role grant asked for by one
 * admin waits, shows up live on the other admin's page, and is approved there; customers who sent their documents
 * through the API are in the KYC review queue, one rejected with a reason and one approved, and
 * the queue follows (a customer sent later appears without a reload).
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { beforeEach, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { type ConsoleFixture, consoleLogin, screenshot } from '../support/console.ts';

let fixture: ConsoleFixture;
let counter = 0;

type Answer = { status: number; body: Record<string, unknown> };

async function call(
  method: string,
  route: string,
  credential: string | null,
  body?: unknown,
): Promise<Answer> {
  const response = await fetch(`${fixture.url}${route}`, {
    method,
    headers: {
      ...(credential === null ? {} : { authorization: `Bearer ${credential}` }),
      ...(method === 'GET' ? {} : { 'idempotency-key': `console-staff-${++counter}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : {} };
}

/** A valid PRC resident id number (born 7 March 1990), differing by `serial`. */
function idNumber(serial: number): string {
  const body = `11010119900307${String(serial).padStart(3, '0')}`;
  const weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const sum = [...body].reduce((total, digit, i) => total + Number(digit) * (weights[i] ?? 0), 0);
  return body + '10X98765432'[sum % 11];
}

const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46]).toString(
  'base64',
);

/** A customer signed up through the API with real name, card and a document: in the queue. */
async function submittedCustomer(fullName: string): Promise<string> {
  const phone = `+86139${String(randomInt(0, 100_000_000)).padStart(8, '0')}`;
  const password = 'a long enough customer password';
  assert.equal((await call('POST', '/v1/customers', null, { phone, password })).status, 202);
  const box = await call(
    'GET',
    `/v1/identity/outbox?phone=${encodeURIComponent(phone)}`,
    fixture.demo.apiKey,
  );
  const [message] = box.body.data as { body: string }[];
  const code = /code is ([0-9]{6})/.exec(message?.body ?? '')?.[1];
  assert.ok(code, JSON.stringify(box.body));
  const verified = await call('POST', '/v1/customers/verify-phone', null, { phone, code });
  assert.equal(verified.status, 200, JSON.stringify(verified.body));
  const session = await call('POST', '/v1/customers/sessions', null, { phone, password });
  assert.equal(session.status, 201, JSON.stringify(session.body));
  const token = session.body.token as string;
  const steps: [string, unknown, number][] = [
    [
      '/v1/customers/me/real-name',
      { fullName, idNumber: idNumber(randomInt(0, 1000)), idType: 'cn_resident' },
      200,
    ],
    ['/v1/customers/me/bank-card', { cardNumber: '4111111111111111' }, 200],
    [
      '/v1/customers/me/documents',
      { kind: 'id_front', mediaType: 'image/jpeg', contentBase64: JPEG },
      201,
    ],
  ];
  for (const [route, body, status] of steps) {
    const answer = await call('POST', route, token, body);
    assert.equal(answer.status, status, `${route}: ${JSON.stringify(answer.body)}`);
  }
  return (session.body.customer as { id: string }).id;
}

async function open(page: Page, name: string): Promise<void> {
  await page.getByRole('link', { name }).click();
  await page.getByRole('heading', { level: 1, name }).waitFor();
}

/** The first admin logged in on the Staff page, and their session token as the tab keeps it. */
async function adminOnStaffPage(): Promise<{ page: Page; token: string }> {
  const [admin] = fixture.demo.staff;
  assert.ok(admin);
  const page = await consoleLogin(fixture, admin);
  await open(page, 'Staff');
  const saved = await page.evaluate("sessionStorage.getItem('mainstay.console.session')");
  return { page, token: (JSON.parse(String(saved)) as { token: string }).token };
}

/** Registers these tests; `shared` answers the shared platform and browser, with admins of their own. */
export function staffSuite(shared: () => Promise<ConsoleFixture>): void {
  describe('console: staff and customers', () => {
    // Two new admins for each test: each test logs in, and a third login of one person within
    // a TOTP step would wait for the next step.
    beforeEach(async () => {
      fixture = await shared();
    });

    describe('the staff page', () => {
      test('both admins with their roles; a new API key is shown once, and works', async () => {
        const [admin, admin2] = fixture.demo.staff;
        assert.ok(admin && admin2);
        const page = await consoleLogin(fixture, admin);
        await open(page, 'Staff');
        for (const member of [admin, admin2]) {
          const roles = page.getByTestId(`roles-${member.username}`);
          await roles.locator('[data-role=admin]').waitFor();
        }
        const panel = page.getByTestId('panel-api_key');
        await panel.getByLabel('Name').fill('console test key');
        await panel.getByLabel('Scopes').selectOption(['platform:read']);
        await panel.getByRole('button', { name: 'Create API key' }).click();
        const secret = (await panel.getByTestId('secret-value-api_key').textContent()) ?? '';
        assert.match(secret, /^mainstay_ak_/);
        assert.equal((await call('GET', '/v1/topology', secret)).status, 200, 'the key works');
        await panel.locator('[data-testid=row-api_key][data-name="console test key"]').waitFor();
        await panel.getByRole('button', { name: 'I have copied it' }).click();
        await panel.getByTestId('secret-api_key').waitFor({ state: 'detached' });
        await page.reload();
        await panel.locator('[data-testid=row-api_key][data-name="console test key"]').waitFor();
        assert.ok(!(await page.content()).includes(secret), 'the secret is never shown again');
        // Revoking asks first, then the key is refused.
        const row = panel.locator('[data-testid=row-api_key][data-name="console test key"]');
        await row.getByRole('button', { name: 'Revoke console test key' }).click();
        await row.getByRole('button', { name: 'Yes, revoke console test key' }).click();
        await row.getByText(/^Revoked/).waitFor();
        // Every process refuses a revoked key within seconds (each keeps a verdict at most 5 s).
        let status = 200;
        for (let tries = 0; tries < 60 && status !== 401; tries += 1) {
          status = (await call('GET', '/v1/topology', secret)).status;
          if (status !== 401) await new Promise((resolve) => setTimeout(resolve, 250));
        }
        assert.equal(status, 401, 'the revoked key is refused');
        await page.context().close();
      });

      test('a list longer than a page is gone through with Load more, to its last row', async () => {
        const { page, token } = await adminOnStaffPage();
        const listed = await call('GET', '/v1/api-clients?limit=100', token);
        const already = (listed.body.data as unknown[]).length;
        assert.equal(listed.body.hasMore, false, 'the demo has fewer than a page of clients');
        const names = Array.from({ length: 105 - already }, (_, n) => `paged client ${n}`);
        for (const name of names) {
          const created = await call('POST', '/v1/api-clients', token, {
            name,
            scopes: ['platform:read'],
          });
          assert.equal(created.status, 201, JSON.stringify(created.body));
        }
        await page.reload();
        const panel = page.getByTestId('panel-client');
        const rows = panel.locator('[data-testid=row-client]');
        await panel.getByRole('button', { name: 'Load more' }).waitFor();
        assert.equal(await rows.count(), 100, 'one page of 100 first');
        await panel.getByRole('button', { name: 'Load more' }).click();
        // The button reads "Loading…" while the page is read: wait for the rows, not for it.
        await rows.nth(104).waitFor();
        assert.equal(await rows.count(), 105, 'then the rest');
        assert.equal(await panel.getByRole('button', { name: /^Load/ }).count(), 0, 'no button');
        const shown = await rows.evaluateAll((all) =>
          all.map((row) => row.getAttribute('data-name')),
        );
        for (const name of names) assert.ok(shown.includes(name), `${name} is listed`);
        await page.context().close();
      });

      test('a viewer sees the actions their roles do not allow disabled, saying which scope they need', async () => {
        const { page: adminPage, token } = await adminOnStaffPage();
        await adminPage
          .getByTestId('panel-api_key')
          .getByRole('button', { name: 'Create API key' })
          .waitFor();
        assert.equal(
          await adminPage.getByTestId('needs-note').count(),
          0,
          'an admin may do all of it',
        );
        assert.equal(await adminPage.locator('fieldset.guard[disabled]').count(), 0);
        await adminPage.context().close();
        const viewer = {
          username: `viewer-${randomInt(1_000_000)}`,
          password: 'a long enough viewer password',
        };
        const created = await call('POST', '/v1/staff', token, {
          ...viewer,
          displayName: 'A viewer',
        });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        const page = await consoleLogin(fixture, {
          ...viewer,
          id: created.body.id as string,
          totpUri: created.body.totpUri as string,
        });
        await open(page, 'Staff');
        // Keys and clients: not even listed (that needs identity:admin too), and no refusal shown.
        const keys = page.getByTestId('panel-api_key');
        await keys.getByText('Needs the scope identity:admin').waitFor();
        assert.equal(await keys.getByRole('button', { name: 'Create API key' }).count(), 0);
        assert.equal(await page.getByText('Insufficient scope').count(), 0, 'no refusal to read');
        // Each action is disabled by its guard (not only by an empty form), saying the scope.
        const guarded = async (scope: string, button: string) => {
          const guard = page.locator(`fieldset.guard[data-needs="${scope}"]`, {
            has: page.getByRole('button', { name: button }),
          });
          assert.notEqual(await guard.getAttribute('disabled'), null, `${button} needs ${scope}`);
        };
        await guarded('identity:admin', 'Ask for the role change');
        await screenshot(page, 'staff-viewer');
        await open(page, 'Operations');
        await page.getByText('Needs the scope ops:manage').first().waitFor();
        await guarded('ops:manage', 'Start switchover');
        await open(page, 'Ledger');
        await page.getByText('Needs the scope ledger:write').waitFor();
        await guarded('ledger:write', 'Submit transfer');
        await page.context().close();
      });

      test('a role grant waits for a second admin, who sees it live and approves it', async () => {
        const [admin, admin2] = fixture.demo.staff;
        assert.ok(admin && admin2);
        const checker = await consoleLogin(fixture, admin2);
        await open(checker, 'Staff');
        await checker.getByText('No request is waiting.').waitFor();
        const maker = await consoleLogin(fixture, admin);
        await open(maker, 'Staff');
        await maker.getByLabel(/^Staff member(?!s)/).selectOption({ label: admin2.username });
        await maker.getByRole('checkbox', { name: 'compliance' }).check();
        await maker.getByRole('button', { name: 'Ask for the role change' }).click();
        const state = maker.getByTestId('grant-state');
        await state.locator('[data-status=pending]').waitFor();
        assert.match((await state.textContent()) ?? '', /waiting for another admin/);
        const own = maker.getByTestId('approval').filter({ hasText: admin2.username });
        await own.getByText('You asked for this').waitFor();
        assert.equal(await own.getByRole('button', { name: 'Approve' }).count(), 0);
        // Nothing changed yet.
        assert.equal(
          await maker.getByTestId(`roles-${admin2.username}`).locator('.badge').count(),
          1,
        );
        await screenshot(maker, 'staff');
        // The checker's page shows it without a reload, and approves it.
        const waiting = checker.getByTestId('approval').filter({ hasText: admin2.username });
        await waiting.waitFor();
        assert.equal(await checker.getByTestId('approvals-waiting').textContent(), '1');
        await waiting.getByRole('button', { name: 'Approve' }).click();
        await checker.getByText('No request is waiting.').waitFor();
        // The maker's page follows: the request ran and the roles changed.
        await state.locator('[data-status=executed]').waitFor();
        await maker
          .getByTestId(`roles-${admin2.username}`)
          .locator('[data-role=compliance]')
          .waitFor();
        await maker.getByTestId('decided').filter({ hasText: admin.username }).first().waitFor();
        await checker.context().close();
        await maker.context().close();
      });
    });

    describe('the customers page', () => {
      test('the review queue: reject with a reason, approve, and a new customer appears', async () => {
        const [admin] = fixture.demo.staff;
        assert.ok(admin);
        const first = await submittedCustomer('张三');
        const second = await submittedCustomer('李四');
        const page = await consoleLogin(fixture, admin);
        await open(page, 'Customers');
        const review = (id: string) =>
          page.locator(`[data-testid=review][data-customer-id="${id}"]`);
        await review(first).waitFor();
        await review(second).waitFor();
        assert.match((await review(first).textContent()) ?? '', /张\*/, 'the name is masked');
        assert.match((await review(first).textContent()) ?? '', /\*\*\*\* 1111/);
        const document = review(first).getByTestId('document');
        await document.waitFor();
        assert.match((await document.textContent()) ?? '', /ID card, front.*image\/jpeg.*10 bytes/);
        await screenshot(page, 'customers');
        const reject = review(first).getByRole('button', { name: 'Reject' });
        assert.ok(await reject.isDisabled(), 'a rejection needs a reason');
        await review(first)
          .getByLabel(/Reason for rejecting/)
          .fill('The document is unreadable');
        await reject.click();
        await review(first).waitFor({ state: 'detached' });
        await review(second).getByRole('button', { name: 'Approve' }).click();
        await review(second).waitFor({ state: 'detached' });
        // A customer who sends documents now appears without a reload.
        const third = await submittedCustomer('王五');
        await review(third).waitFor({ timeout: 15_000 });
        await page.getByLabel(/^Show/).selectOption('rejected');
        await review(first).getByText('The document is unreadable').waitFor();
        await page.getByLabel(/^Show/).selectOption('approved');
        await review(second).getByText('3', { exact: true }).waitFor();
        const customer = await call('GET', `/v1/kyc/reviews?status=approved`, fixture.demo.apiKey);
        assert.ok((customer.body.data as { id: string }[]).some((c) => c.id === second));
        await page.context().close();
      });
    });
  });
}
