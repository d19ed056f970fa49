/**
 * The console's shell in a real browser (decision 61): Debian's Chromium, driven by
 * playwright-core, against a real platform. A wrong code is shown as the problem's title and
 * detail; staff log in through the form; the language switch turns the console into zh-CN and
 * is remembered for that person (not for another); the pages are reachable with the keyboard
 * alone; a lost stream shows as lost and recovers by
 * itself; `/console` without a build of its own path answers the app, and the stream refuses
 * an unknown topic with a problem.
 */
import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import { type ConsoleFixture, consoleLogin, screenshot } from '../support/console.ts';

let fixture: ConsoleFixture;

/** Registers these tests; `shared` answers the shared platform and browser, with admins of their own. */
export function shellSuite(shared: () => Promise<ConsoleFixture>): void {
  describe('console: the shell', () => {
    // Two new admins for each test: each test logs in, and a third login of one person within
    // a TOTP step would wait for the next step.
    beforeEach(async () => {
      fixture = await shared();
    });

    describe('the console shell', () => {
      test('a wrong code is refused with the problem title and detail, never a stack', async () => {
        const [staff] = fixture.demo.staff;
        assert.ok(staff);
        const context = await fixture.browser.newContext({ locale: 'en-GB' });
        const page = await context.newPage();
        await page.goto(`${fixture.url}/console/`);
        await page.locator('input[name=username]').fill(staff.username);
        await page.locator('input[name=password]').fill(staff.password);
        await page.locator('input[name=code]').fill('000000');
        await page.locator('button[type=submit]').click();
        const problem = page.getByRole('alert');
        await problem.waitFor();
        const text = await problem.textContent();
        assert.doesNotMatch(text ?? '', /at .*\.ts:\d+/, 'no stack trace');
        assert.ok((await problem.getAttribute('data-code'))?.length, 'a stable code');
        await screenshot(page, 'login-refused');
        await context.close();
      });

      test('log in, switch to zh-CN, and the choice is remembered for that person only', async () => {
        const [first, second] = fixture.demo.staff;
        assert.ok(first && second);
        const page = await consoleLogin(fixture, first);
        await page.getByRole('link', { name: 'Overview' }).waitFor();
        await page.getByTestId('language').selectOption('zh-CN');
        await page.getByRole('link', { name: '总览' }).waitFor();
        assert.equal(await page.locator('html').getAttribute('lang'), 'zh-CN');
        await page.reload();
        await page.getByRole('link', { name: '总览' }).waitFor();
        await screenshot(page, 'shell-zh-CN');
        // Another person in the same browser sees their own choice (the browser's English).
        const storage = await page.context().storageState();
        await page.getByRole('button', { name: '退出登录' }).click();
        await page.locator('input[name=username]').waitFor();
        await page.context().close();
        const other = await consoleLogin(fixture, second);
        await other.getByRole('link', { name: 'Overview' }).waitFor();
        await other.context().close();
        assert.ok(storage.origins.length > 0, 'the choice is kept in the browser');
      });

      test('the pages are reachable with the keyboard alone', async () => {
        const [staff] = fixture.demo.staff;
        assert.ok(staff);
        const page = await consoleLogin(fixture, staff);
        await page.getByRole('link', { name: 'Overview' }).waitFor();
        let focused = '';
        for (let n = 0; n < 40 && focused !== 'Ledger'; n += 1) {
          await page.keyboard.press('Tab');
          focused = ((await page.locator(':focus').textContent()) ?? '').trim();
        }
        assert.equal(focused, 'Ledger', 'Tab reaches the navigation');
        await page.keyboard.press('Enter');
        await page.getByRole('heading', { level: 1, name: 'Ledger' }).waitFor();
        assert.match(page.url(), /#\/ledger$/);
        await page.context().close();
      });

      test('a lost stream shows as lost and recovers by itself', async () => {
        const [staff] = fixture.demo.staff;
        assert.ok(staff);
        const page = await consoleLogin(fixture, staff);
        const connection = page.getByTestId('connection');
        await page.locator('.connection-open').waitFor();
        // The server goes away for the browser: open streams are cut and new ones refused.
        await page.route('**/v1/stream**', (route) => route.abort('connectionreset'));
        await page.context().setOffline(true);
        await page.locator('.connection-lost').waitFor({ timeout: 15_000 });
        assert.match((await connection.textContent()) ?? '', /lost/i);
        await page.context().setOffline(false);
        await page.unroute('**/v1/stream**');
        await page.locator('.connection-open').waitFor({ timeout: 15_000 });
        await page.context().close();
      });

      test('the stream refuses an unknown topic and a missing credential with problems', async () => {
        const unknown = await fetch(`${fixture.url}/v1/stream?topics=nope`, {
          headers: { authorization: `Bearer ${fixture.demo.apiKey}` },
        });
        assert.equal(unknown.status, 400);
        assert.equal(((await unknown.json()) as { code: string }).code, 'invalid_request');
        const anonymous = await fetch(`${fixture.url}/v1/stream?topics=topology`);
        assert.equal(anonymous.status, 401);
        const deep = await fetch(`${fixture.url}/console/no/such/page`);
        assert.equal(deep.status, 200);
        assert.match(await deep.text(), /<div id="root">/);
        const traversal = await fetch(`${fixture.url}/console/..%2fpackage.json`);
        assert.doesNotMatch(await traversal.text(), /"name": "mainstay"/);
      });
    });
  });
}
