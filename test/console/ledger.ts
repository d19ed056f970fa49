/**
 * The console's ledger page in a real browser: accounts made through the API with 1,000+
 * transfers show with their balances (newest first); a transfer made in the page posts; a
 * settlement window is closed from the page, its state moves by itself on the live stream and
 * its settlement file downloads; the end-of-day checks show a balanced trial balance; an
 * account's statement of 1,000+ postings is read whole ('load all'), scrolls to its first
 * posting and filters as one types, the page answering clicks throughout.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { type ConsoleFixture, consoleLogin, screenshot } from '../support/console.ts';

const FUNDING_TRANSFERS = 1_200;
const SPENDS = 40;
const COUNTERPARTY = 'Console Acquirer';

let fixture: ConsoleFixture;
let page: Page;
const run = `${process.pid}`;
const ids = { funding: '', wallet: '', shop: '', settlementStripe: '' };

async function call(method: string, path: string, body?: unknown, idempotencyKey?: string) {
  const response = await fetch(`${fixture.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${fixture.demo.apiKey}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(idempotencyKey === undefined ? {} : { 'idempotency-key': idempotencyKey }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  const answer = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
  return answer;
}

async function institution(code: string, kind: string, counterparty?: string) {
  const answer = await call('POST', '/v1/ledger/institution-accounts', {
    code,
    kind,
    currency: 'CNY',
    ...(counterparty === undefined ? {} : { counterparty }),
  });
  return answer.stripes as { shardId: number; id: string }[];
}

async function wallet(label: string): Promise<string> {
  const answer = await call(
    'POST',
    '/v1/ledger/accounts',
    { currency: 'CNY', kind: 'wallet', ownerId: ids.funding },
    `console-ledger-${label}-${run}`,
  );
  return answer.id as string;
}

type Transfer = { id: string; debitAccountId: string; creditAccountId: string; amount: number };

/** Posts `transfers` in calls of 100, four calls at a time; every one must post. */
async function post(transfers: readonly Transfer[]): Promise<void> {
  const calls: Transfer[][] = [];
  for (let at = 0; at < transfers.length; at += 100) calls.push(transfers.slice(at, at + 100));
  for (let at = 0; at < calls.length; at += 4) {
    const answers = await Promise.all(
      calls.slice(at, at + 4).map((requests) =>
        call('POST', '/v1/ledger/transfers', {
          requests: requests.map((request) => ({ ...request, currency: 'CNY' })),
        }),
      ),
    );
    for (const answer of answers)
      for (const outcome of answer.data as { id: string; status: string }[])
        assert.equal(outcome.status, 'posted', outcome.id);
  }
}

/** 12,345 minor units as the page writes them in English, without the currency sign. */
const digits = (minor: number) =>
  `${Math.floor(minor / 100).toLocaleString('en')}.${String(minor % 100).padStart(2, '0')}`;

/** Registers these tests; `shared` answers the shared platform and browser, with admins of their own. */
export function ledgerSuite(shared: () => Promise<ConsoleFixture>): void {
  describe('console: ledger', () => {
    before(async () => {
      fixture = await shared();
      const funding = await institution(`console-funding-${run}`, 'suspense');
      ids.funding = funding[0]?.id as string;
      await institution('risk-reserve', 'risk_reserve');
      await institution('settlement-bank', 'suspense');
      const settlement = await institution(`console-acquirer-${run}`, 'settlement', COUNTERPARTY);
      const fundingShard = funding[0]?.shardId;
      ids.settlementStripe = settlement.find((stripe) => stripe.shardId === fundingShard)
        ?.id as string;
      ids.wallet = await wallet('wallet');
      ids.shop = await wallet('shop');
      // The wallet's first posting is known, so the statement's last row is too.
      const first = { id: `console-first-${run}`, amount: 5_000 };
      await post([{ ...first, debitAccountId: ids.funding, creditAccountId: ids.wallet }]);
      const funds = Array.from({ length: FUNDING_TRANSFERS }, (_, n) => ({
        id: `console-fund-${run}-${n}`,
        debitAccountId: ids.funding,
        creditAccountId: ids.wallet,
        amount: 100 + n,
      }));
      const spends = Array.from({ length: SPENDS }, (_, n) => ({
        id: `console-spend-${run}-${n}`,
        debitAccountId: ids.wallet,
        creditAccountId: ids.shop,
        amount: 250 + n,
      }));
      const acquirer = Array.from({ length: 5 }, (_, n) => ({
        id: `console-acquirer-${run}-${n}`,
        debitAccountId: ids.funding,
        creditAccountId: ids.settlementStripe,
        amount: 10_000 * (n + 1),
      }));
      await post([...funds, ...acquirer]);
      await post(spends);
      const [staff] = fixture.demo.staff;
      assert.ok(staff);
      page = await consoleLogin(fixture, staff);
    });

    after(async () => {
      await page?.context().close();
    });

    describe('the ledger page', () => {
      test('accounts with their balances, a transfer, windows live, the trial balance', async () => {
        await page.goto(`${fixture.url}/console/#/ledger`);
        const walletLink = page.getByRole('link', { name: ids.wallet, exact: true });
        await walletLink.waitFor();
        const walletRow = page.getByRole('row').filter({ has: walletLink });
        const walletBalance =
          5_000 +
          Array.from({ length: FUNDING_TRANSFERS }, (_, n) => 100 + n).reduce((a, b) => a + b, 0) -
          Array.from({ length: SPENDS }, (_, n) => 250 + n).reduce((a, b) => a + b, 0);
        assert.match((await walletRow.textContent()) ?? '', new RegExp(digits(walletBalance)));
        assert.match((await walletRow.textContent()) ?? '', /1,241/, 'its postings');
        // A transfer made in the page posts, from integer minor units.
        await page.getByLabel('From account (debit)').fill(ids.wallet);
        await page.getByLabel('To account (credit)').fill(ids.shop);
        await page.getByLabel('Amount', { exact: true }).fill('1.23');
        await page.getByRole('button', { name: 'Submit transfer' }).click();
        const outcome = page.getByTestId('transfer-outcome');
        await outcome.waitFor();
        assert.match((await outcome.textContent()) ?? '', /Posted.*1\.23/);
        await walletRow.filter({ hasText: digits(walletBalance - 123) }).waitFor();
        // The settlement window of the counterparty, live.
        const windowRow = page.getByRole('row').filter({ hasText: COUNTERPARTY });
        await windowRow.first().waitFor();
        await page.getByRole('button', { name: 'Run the checks' }).click();
        await page.getByTestId('eod-status').waitFor();
        assert.equal(await page.getByTestId('eod-status').textContent(), 'OK');
        await page.getByTestId('trial-CNY').waitFor();
        await screenshot(page, 'ledger');
      });

      test('a window is closed from the page, moves by itself, and its file downloads', async () => {
        const windowId = `swin_${Buffer.from(COUNTERPARTY, 'utf8').toString('base64url')}.1`;
        const row = page.getByTestId(`window-${windowId}`);
        const name = `${COUNTERPARTY} #1`;
        await page.getByRole('button', { name: `Positions of ${name}` }).click();
        await page.getByRole('heading', { name: `Net positions of ${name}` }).waitFor();
        await page
          .getByRole('cell', { name: digits(150_000), exact: false })
          .first()
          .waitFor();
        await page.getByRole('button', { name: `Close ${name}` }).click();
        await page.getByRole('button', { name: 'Confirm' }).click();
        await page.getByTestId('window-message').waitFor();
        // The stream brings the window's new state without a reload.
        await row.getByTestId('window-state').filter({ hasText: 'Closed' }).waitFor();
        const downloading = page.waitForEvent('download');
        await page.getByRole('button', { name: `Download the settlement file of ${name}` }).click();
        const file = await downloading;
        assert.match(file.suggestedFilename(), /^settlement-swin_.*\.csv$/);
        const text = readFileSync(await file.path(), 'utf8');
        assert.match(text, /CNY/);
        // Settled from the page: each settlement account's net goes to the settlement bank.
        await page.getByRole('button', { name: `Settle ${name}` }).click();
        await page.getByRole('button', { name: 'Confirm' }).click();
        await row.getByTestId('window-state').filter({ hasText: 'Settled' }).waitFor();
      });

      test("an account's statement of 1,000+ postings: load all, scroll to the end, filter", async () => {
        await page.getByRole('link', { name: ids.wallet, exact: true }).click();
        await page.getByTestId('account-postings').filter({ hasText: '1,242' }).waitFor();
        const shown = page.getByTestId('statement-shown');
        await shown.filter({ hasText: '100 loaded' }).waitFor();
        await page.getByRole('button', { name: 'Load all' }).click();
        await shown.filter({ hasText: '1,242 shown of 1,242 loaded' }).waitFor({ timeout: 30_000 });
        const firstPosting = page.getByRole('cell', { name: `console-first-${run}`, exact: true });
        assert.equal(await firstPosting.count(), 0, 'rows out of view are not in the page');
        await screenshot(page, 'ledger-statement');
        // Scrolled to the bottom, the first posting (the last row) is on screen.
        const table = page.getByRole('region', { name: 'Postings, newest first' });
        await table.hover();
        for (let tries = 0; tries < 20 && (await firstPosting.count()) === 0; tries += 1)
          await page.mouse.wheel(0, 50_000);
        await firstPosting.waitFor({ state: 'visible' });
        const lastRow = page.getByRole('row').filter({ has: firstPosting });
        assert.match((await lastRow.textContent()) ?? '', /50\.00/);
        // Typing in the filter answers at once, and so does a click.
        const filter = page.getByLabel('Filter by transfer id');
        await filter.pressSequentially(`console-spend-${run}-3`);
        await shown.filter({ hasText: /^11 shown of 1,242 loaded/ }).waitFor();
        await page.getByRole('button', { name: 'Clear filter' }).click();
        await shown.filter({ hasText: /^1,242 shown/ }).waitFor();
        assert.equal(await filter.inputValue(), '');
        await page.getByRole('link', { name: 'Back to the ledger' }).click();
        await page.getByRole('heading', { name: 'Accounts', exact: true }).waitFor();
        // Every text of the page has its zh-CN.
        await page.getByTestId('language').selectOption('zh-CN');
        await page.getByRole('heading', { name: '结算窗口', exact: true }).waitFor();
        await page.getByRole('button', { name: '运行检查', exact: true }).waitFor();
        await page.getByTestId('language').selectOption('en');
      });

      test('windows past the live page are read on demand, to the last one', async () => {
        const names = Array.from({ length: 101 }, (_, n) => `console-many-${run}-${n}`);
        for (let at = 0; at < names.length; at += 10)
          await Promise.all(
            names
              .slice(at, at + 10)
              .map((name) => institution(`settlement-${name}`, 'settlement', name)),
          );
        // Every window the API lists, page by page.
        const listed: string[] = [];
        for (
          let after: string | null = null, first = true;
          first || after !== null;
          first = false
        ) {
          const query: string = after === null ? '' : `&startingAfter=${encodeURIComponent(after)}`;
          const answer = await call('GET', `/v1/ledger/settlement-windows?limit=100${query}`);
          listed.push(...(answer.data as { id: string }[]).map((w) => `window-${w.id}`));
          after = answer.hasMore ? (answer.nextCursor as string) : null;
        }
        assert.ok(listed.length > 100, 'more windows than the live page holds');
        const panel = page.locator('section[aria-labelledby=ledger-windows]');
        const rows = panel.locator('[data-testid^="window-swin_"]');
        // The live page holds the first 100; the rest are a click away.
        await panel.getByRole('button', { name: 'More windows' }).click({ timeout: 15_000 });
        const more = panel.getByRole('button', { name: 'Load more' });
        for (let tries = 0; tries < 100 && (await rows.count()) < listed.length; tries += 1) {
          if ((await more.count()) > 0) await more.click();
          else await new Promise((resolve) => setTimeout(resolve, 100));
        }
        const ids = await rows.evaluateAll((all) =>
          all.map((row) => row.getAttribute('data-testid')),
        );
        assert.equal(new Set(ids).size, ids.length, 'no window twice');
        assert.deepEqual([...ids].sort(), [...listed].sort(), 'every window the API lists');
        for (const name of [...names, COUNTERPARTY]) {
          const id = `window-swin_${Buffer.from(name, 'utf8').toString('base64url')}.1`;
          assert.ok(ids.includes(id), `${name}'s window is listed`);
        }
      });
    });
  });
}
