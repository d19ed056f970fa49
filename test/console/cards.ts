/**
 * The console's cards page in a real browser: the `cards` topic brings the authorization
 * counts and the decline mix; authorizations made through the public API (approvals and
 * declines for insufficient credit) move the count and the mix on the open page without a
 * reload; the page's lists read the stand-in API; the topic refuses a credential without the
 * stand-in scope.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { beforeEach, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { type ConsoleFixture, consoleLogin, screenshot } from '../support/console.ts';

let fixture: ConsoleFixture;

/** A write through the public API with the demo key; answers the status and JSON body. */
async function post(
  path: string,
  body: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${fixture.url}${path}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${fixture.demo.apiKey}`,
      'content-type': 'application/json',
      'idempotency-key': randomUUID(),
    },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** A new card account of `creditLimit` CNY minor units and a card on it. */
async function newCard(creditLimit: number): Promise<{ accountId: string; cardId: string }> {
  const account = await post('/v1/card-accounts', { currency: 'CNY', creditLimit });
  assert.equal(account.status, 201, JSON.stringify(account.body));
  const card = await post(`/v1/card-accounts/${account.body.id}/cards`, {});
  assert.equal(card.status, 201, JSON.stringify(card.body));
  return { accountId: account.body.id as string, cardId: card.body.id as string };
}

async function authorize(cardId: string, amount: number): Promise<Record<string, unknown>> {
  const answer = await post('/v1/authorizations', {
    requestId: randomUUID(),
    cardId,
    amount,
    currency: 'CNY',
    merchant: { id: 'mer_console', categoryCode: '5411' },
  });
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  return answer.body;
}

const format = (n: number) => new Intl.NumberFormat('en-GB').format(n);

/** The figure `testId` as a number (its digits). */
async function figure(page: Page, testId: string): Promise<number> {
  const text = (await page.getByTestId(testId).textContent()) ?? '';
  return Number(text.replace(/[^0-9]/g, ''));
}

/**
 * Waits until the figure `testId` shows at least `n` (other answers of the process, such as the
 * demo's, may land beside the test's own on a loaded machine).
 */
async function figureReaches(page: Page, testId: string, n: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  let shown = await figure(page, testId);
  while (shown < n && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    shown = await figure(page, testId);
  }
  assert.ok(shown >= n, `${testId} shows ${shown}, at least ${n} expected`);
}

/** Waits until the figure `testId` shows exactly `n`. */
async function figureShows(page: Page, testId: string, n: number): Promise<void> {
  const exactly = new RegExp(`^${format(n).replace(/[.,]/g, '\\$&')}$`);
  await page.locator(`[data-testid="${testId}"]`, { hasText: exactly }).waitFor();
}

/** Registers these tests; `shared` answers the shared platform and browser, with admins of their own. */
export function cardsSuite(shared: () => Promise<ConsoleFixture>): void {
  describe('console: cards', () => {
    // Two new admins for each test: each test logs in, and a third login of one person within
    // a TOTP step would wait for the next step.
    beforeEach(async () => {
      fixture = await shared();
    });

    describe('the cards page', () => {
      test('authorizations made through the API move the count and the decline mix live', async () => {
        const [staff] = fixture.demo.staff;
        assert.ok(staff);
        const page = await consoleLogin(fixture, staff);
        await page.getByRole('link', { name: 'Cards' }).click();
        await page.getByRole('heading', { name: 'Cards', level: 1 }).waitFor();
        // The first value of the topic arrives: the count is a number, not the placeholder.
        await page
          .locator('[data-testid="cards-authorizations"]', { hasText: /^[\d,]+$/ })
          .waitFor();
        // The rate has a first point: the counts are being sampled.
        await page.locator('[data-testid="cards-rate"]', { hasText: /^[\d.,]+$/ }).waitFor();
        const before = await figure(page, 'cards-authorizations');
        const declinedBefore = await figure(page, 'cards-declined');
        const url = page.url();

        const { cardId } = await newCard(50_000);
        const answers: Record<string, unknown>[] = [];
        for (const amount of [10_000, 5_000, 2_000]) answers.push(await authorize(cardId, amount));
        // Over what is left of the credit limit: declined for insufficient credit.
        for (const amount of [40_000, 90_000]) answers.push(await authorize(cardId, amount));
        const statuses = answers.map((answer) => answer.status as string);
        // The issuer decides these; on a loaded machine an attempt can outlast the issuer's timeout
        // and stand-in decides it by its own limits instead. The page must show what was answered.
        if (answers.every((answer) => answer.decidedBy === 'issuer'))
          assert.deepEqual(statuses, [
            'approved',
            'approved',
            'approved',
            'insufficient_credit',
            'insufficient_credit',
          ]);
        const declines = statuses.filter((status) => status !== 'approved');
        assert.ok(declines.length > 0, `a decline among ${statuses.join(', ')}`);

        await figureReaches(page, 'cards-authorizations', before + 5);
        await figureReaches(page, 'cards-declined', declinedBefore + declines.length);
        // The rate computed from successive counts rises, and falls back to zero once it is over.
        await page.locator('[data-testid="cards-rate"]', { hasText: /^(?!0$)[\d.,]+$/ }).waitFor();
        await figureShows(page, 'cards-rate', 0);
        for (const reason of new Set(declines)) {
          await page.getByTestId(`decline-${reason}`).waitFor();
          const shown = await figure(page, `decline-count-${reason}`);
          const given = declines.filter((status) => status === reason).length;
          assert.ok(shown >= given, `${reason}: ${shown} shown, ${given} given`);
        }
        assert.match(
          (await page.getByTestId(`decline-${declines[0]}`).textContent()) ?? '',
          /[A-Z][a-z]/,
          'a decline reason in words',
        );
        assert.equal(page.url(), url, 'the page was not reloaded');
        // The stand-in lists were read through the API without a problem.
        await page.getByRole('heading', { name: 'Reconciliation (every shard)' }).waitFor();
        assert.equal(await page.locator('.problem').count(), 0, 'no problem shown');
        await page.getByTestId('recon-conflicts').waitFor();
        await page.getByRole('combobox', { name: 'Show' }).waitFor();
        await screenshot(page, 'cards');
        await page.context().close();
      });

      test('a request the issuer does not answer in time is decided in stand-in, live', async () => {
        const [staff] = fixture.demo.staff;
        assert.ok(staff);
        const page = await consoleLogin(fixture, staff);
        await page.getByRole('link', { name: 'Cards' }).click();
        await page.locator('[data-testid="standin-decisions"]', { hasText: /^\d+$/ }).waitFor();
        const decisionsBefore = await figure(page, 'standin-decisions');
        const { accountId, cardId } = await newCard(50_000);
        // An issuer answer first, so that stand-in knows the card.
        assert.equal((await authorize(cardId, 1_000)).decidedBy, 'issuer');
        // The account's row held locked on its primary: the shard's batch waits, the attempt times
        // out, and stand-in decides.
        let release = () => {};
        const released = new Promise<void>((resolve) => {
          release = resolve;
        });
        let locked = () => {};
        const isLocked = new Promise<void>((resolve) => {
          locked = resolve;
        });
        const spell = fixture.platform.router.write(accountId, async (tx) => {
          await tx.query('SELECT 1 FROM public.card_accounts WHERE id = $1 FOR UPDATE', [
            accountId,
          ]);
          locked();
          await released;
        });
        await isLocked;
        const answer = await authorize(cardId, 2_000).finally(release);
        await spell;
        assert.equal(answer.decidedBy, 'stand_in', JSON.stringify(answer));
        await figureReaches(page, 'standin-decisions', decisionsBefore + 1);
        if (answer.status === 'approved') {
          // Its advice is listed (pending, or forwarded once the shard answers again).
          await page.getByRole('cell', { name: String(answer.id) }).waitFor();
        }
        await screenshot(page, 'cards-stand-in');
        await page.context().close();
      });

      test('the cards page speaks zh-CN', async () => {
        const [, staff] = fixture.demo.staff;
        assert.ok(staff);
        const page = await consoleLogin(fixture, staff);
        await page.getByTestId('language').selectOption('zh-CN');
        await page.getByRole('link', { name: '银行卡' }).click();
        await page.getByRole('heading', { name: '银行卡', level: 1 }).waitFor();
        await page.getByRole('heading', { name: '批准与拒绝' }).waitFor();
        await page.getByRole('heading', { name: '分片：熔断与分流' }).waitFor();
        await page.locator('[data-testid="cards-rate"]', { hasText: /^[\d.,]+$/ }).waitFor();
        await screenshot(page, 'cards-zh-CN');
        await page.getByTestId('language').selectOption('en');
        await page.context().close();
      });

      test('the cards topic needs the stand-in scope', async () => {
        const key = await post('/v1/api-keys', {
          name: 'platform only',
          scopes: ['platform:read'],
        });
        assert.equal(key.status, 201, JSON.stringify(key.body));
        const refused = await fetch(`${fixture.url}/v1/stream?topics=cards`, {
          headers: { authorization: `Bearer ${key.body.apiKey}` },
        });
        assert.equal(refused.status, 403);
        assert.equal(((await refused.json()) as { code: string }).code, 'insufficient_scope');
        const answer = await fetch(`${fixture.url}/v1/stream?topics=cards`, {
          headers: { authorization: `Bearer ${fixture.demo.apiKey}` },
        });
        assert.equal(answer.status, 200);
        const reader = answer.body?.getReader();
        assert.ok(reader);
        let text = '';
        while (!text.includes('event: cards')) {
          const { value, done } = await reader.read();
          if (done) break;
          text += new TextDecoder().decode(value);
        }
        await reader.cancel();
        const data = text.slice(text.indexOf('event: cards')).split('\n')[1] ?? '';
        const value = JSON.parse(data.replace(/^data: /, ''));
        assert.equal(value.countedBy, 'process');
        assert.ok(value.authorizations.total >= 5);
        assert.ok(Array.isArray(value.shards) && value.shards.length > 0);
      });
    });
  });
}
