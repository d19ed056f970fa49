/**
 * The console's operations page in a real browser: an admin starts a planned switchover, which
 * waits for a second person; the same admin's approval is refused with the problem's title and
 * detail; another admin, in a second browser, approves it; both pages see the run succeed
 * without a reload and without polling the runs (the page follows the `ops-runs` topic). A
 * re-seed asked for on the page waits for the approval gate and is rejected, with a reason, by
 * the other admin.
 */
import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { type ConsoleFixture, consoleLogin, screenshot } from '../support/console.ts';

let fixture: ConsoleFixture;

function staff() {
  const [admin, admin2] = fixture.demo.staff;
  assert.ok(admin && admin2, 'two demo admins');
  return { admin, admin2 };
}

async function openOperations(page: Page): Promise<void> {
  await page.getByRole('link', { name: 'Operations' }).click();
  await page.getByRole('heading', { name: 'Operations', level: 1 }).waitFor();
  // The forms know the data centres once the topology arrived on the stream.
  await page.locator('#switchover-dc option').first().waitFor({ state: 'attached' });
}

/** Plain reads of runs (not their event streams): the page must not poll them. */
function countRunReads(page: Page): { readonly count: number } {
  const reads = { count: 0 };
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (
      request.method() === 'GET' &&
      url.pathname.startsWith('/v1/ops/runs') &&
      !url.pathname.endsWith('/events')
    )
      reads.count += 1;
  });
  return reads;
}

/** Registers these tests; `shared` answers the shared platform and browser, with admins of their own. */
export function operationsSuite(shared: () => Promise<ConsoleFixture>): void {
  describe('console: operations', () => {
    // Two new admins for each test: each test logs in, and a third login of one person within
    // a TOTP step would wait for the next step.
    beforeEach(async () => {
      fixture = await shared();
    });

    describe('the operations page', () => {
      test('a switchover waits for a second person, the starter is refused, another admin approves, both see it succeed live', async () => {
        const { admin, admin2 } = staff();
        const dc = fixture.platform.fleet.config.dataCentres[1].id;
        const maker = await consoleLogin(fixture, admin);
        await openOperations(maker);
        const makerReads = countRunReads(maker);
        await maker.evaluate('window.__notReloaded = true');
        await maker.locator('#switchover-dc').selectOption(dc);
        await maker.getByLabel('Shard checked').fill('1');
        await maker.getByRole('button', { name: 'Start switchover' }).click();
        await maker
          .locator('[data-testid=selected-run-status][data-status=waiting_approval]')
          .waitFor({ timeout: 120_000 });
        const runId = (await maker.getByTestId('selected-run-id').textContent()) ?? '';
        assert.match(runId, /\S/);

        const mine = maker.getByTestId(`waiting-${runId}`);
        await mine.getByRole('button', { name: 'Approve' }).click();
        const refused = mine.locator('[role=alert][data-code=approval_self]');
        await refused.waitFor();
        const text = (await refused.textContent()) ?? '';
        assert.match(text, /Maker cannot be checker/);
        assert.match((await refused.locator('p').textContent()) ?? '', /\S/, 'the detail is shown');

        const checker = await consoleLogin(fixture, admin2);
        await openOperations(checker);
        const checkerReads = countRunReads(checker);
        const theirs = checker.getByTestId(`waiting-${runId}`);
        await theirs.waitFor();
        await screenshot(checker, 'operations-approval');
        await theirs.getByLabel('Reason').fill('planned switchover, checked');
        await theirs.getByRole('button', { name: 'Approve' }).click();

        await checker
          .locator(`[data-testid="run-status-${runId}"][data-status=succeeded]`)
          .waitFor({ timeout: 180_000 });
        await maker
          .locator('[data-testid=selected-run-status][data-status=succeeded]')
          .waitFor({ timeout: 30_000 });
        assert.equal(
          await maker.evaluate('window.__notReloaded'),
          true,
          'the page was not reloaded',
        );
        await maker.locator('[data-testid=run-log] [data-kind=run_succeeded]').waitFor();
        await maker
          .getByTestId('step-switchover')
          .getByText('planned switchover, checked')
          .waitFor();
        await screenshot(maker, 'operations');
        assert.ok(makerReads.count <= 1, `the runs were read ${makerReads.count} times`);
        assert.equal(checkerReads.count, 0);

        const answer = await fetch(`${fixture.url}/v1/ops/runs/${runId}`, {
          headers: { authorization: `Bearer ${fixture.demo.apiKey}` },
        });
        const run = (await answer.json()) as {
          status: string;
          startedBy: string;
          steps: { name: string; decidedBy: string | null }[];
        };
        assert.equal(run.status, 'succeeded');
        assert.equal(run.startedBy, admin.id);
        assert.equal(run.steps.find((step) => step.name === 'switchover')?.decidedBy, admin2.id);
        await maker.context().close();
        await checker.context().close();
      });

      test('a re-seed waits at the approval gate and is rejected with a reason by another admin', async () => {
        const { admin, admin2 } = staff();
        const maker = await consoleLogin(fixture, admin);
        await openOperations(maker);
        await maker.getByRole('button', { name: 'Ask for a re-seed' }).click();
        await maker.getByTestId('reseed-asked').waitFor();
        const pending = maker.locator('[data-testid^="reseed-status-"][data-status=pending]');
        await pending.waitFor();
        const id = ((await pending.getAttribute('data-testid')) ?? '').replace(
          'reseed-status-',
          '',
        );
        assert.match(id, /\S/);

        const checker = await consoleLogin(fixture, admin2);
        await openOperations(checker);
        const row = checker.getByTestId(`waiting-${id}`);
        await row.getByRole('button', { name: 'Reject' }).click();
        await row.getByText('Give a reason to reject.').waitFor();
        await row.getByLabel('Reason').fill('no data centre is returning');
        await row.getByRole('button', { name: 'Reject' }).click();
        await row.waitFor({ state: 'detached' });
        for (const page of [maker, checker])
          await page.locator(`[data-testid="reseed-status-${id}"][data-status=rejected]`).waitFor();
        await maker.getByText('no data centre is returning').first().waitFor();
        await maker.context().close();
        await checker.context().close();
      });

      test('the ops-runs and reseeds topics carry the runs with their steps and the re-seed requests', async () => {
        const abort = new AbortController();
        const response = await fetch(`${fixture.url}/v1/stream?topics=ops-runs,reseeds`, {
          headers: { authorization: `Bearer ${fixture.demo.apiKey}` },
          signal: abort.signal,
        });
        assert.equal(response.status, 200);
        const reader = (response.body as ReadableStream<Uint8Array>).getReader();
        const decoder = new TextDecoder();
        let text = '';
        while (!(text.includes('event: ops-runs\n') && text.includes('event: reseeds\n'))) {
          const { value, done } = await reader.read();
          assert.ok(!done, 'the stream ended early');
          text += decoder.decode(value, { stream: true });
        }
        abort.abort();
        const topicValue = (topic: string) =>
          JSON.parse(new RegExp(`event: ${topic}\ndata: (.*)\n`).exec(text)?.[1] ?? 'null');
        const runs = topicValue('ops-runs') as {
          runs: { workflow: string; status: string; steps: unknown[] }[];
          waiting: unknown[];
        };
        assert.equal(runs.runs[0]?.workflow, 'switchover');
        assert.equal(runs.runs[0]?.status, 'succeeded');
        assert.equal(runs.runs[0]?.steps.length, 5);
        assert.deepEqual(runs.waiting, []);
        const reseeds = topicValue('reseeds') as { data: { action: string; status: string }[] };
        assert.deepEqual(
          reseeds.data.map((request) => [request.action, request.status]),
          [['reseed', 'rejected']],
        );
      });

      test('runs past the live twenty are read on demand, each once', async () => {
        const dc = fixture.platform.fleet.config.dataCentres[1].id;
        const started: string[] = [];
        for (let n = 0; n < 21; n += 1) {
          const response = await fetch(`${fixture.url}/v1/ops/runs`, {
            method: 'POST',
            headers: {
              authorization: `Bearer ${fixture.demo.apiKey}`,
              'content-type': 'application/json',
              'idempotency-key': `console-older-runs-${n}-${Date.now()}`,
            },
            body: JSON.stringify({
              workflow: 'switchover',
              input: { dc, check: { shard: 0, table: 'public.demo_customers' } },
            }),
          });
          assert.equal(response.status, 202, await response.clone().text());
          started.push(((await response.json()) as { id: string }).id);
        }
        const { admin } = staff();
        const page = await consoleLogin(fixture, admin);
        await openOperations(page);
        const panel = page.locator('section[aria-labelledby=runs-title]');
        const rows = panel.locator('button[data-testid^="run-"]');
        await panel.getByTestId(`run-${started.at(-1)}`).waitFor();
        assert.equal(await rows.count(), 20, 'the live page holds the newest twenty');
        await panel.getByRole('button', { name: 'Older runs' }).click();
        await panel.getByTestId(`run-${started[0]}`).waitFor();
        const ids = await rows.evaluateAll((all) =>
          all.map((row) => row.getAttribute('data-testid')),
        );
        assert.equal(new Set(ids).size, ids.length, 'no run twice');
        for (const id of started) assert.ok(ids.includes(`run-${id}`), `${id} is listed`);
        await page.context().close();
      });
    });
  });
}
