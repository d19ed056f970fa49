/**
 * The console's overview and events pages in a real browser against a real platform: both data
 * centres with their servers, live from the stream; then the primary of dc1 is killed (SIGKILL
 * of its postmaster) and the same page, never reloaded, shows its replica promoted and the
 * failover's events; the events page lists them and pages back to the oldest.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { type FailoverEvent, mergeEvents } from '../../console/src/pages/events/events.ts';
import { lsnBytes, walMarkOf, walRates } from '../../console/src/pages/overview/topology.ts';
import { type ConsoleFixture, consoleLogin, screenshot } from '../support/console.ts';

interface Topology {
  dataCentres: { id: string; primary: string; replicas: string[] }[];
  servers: { id: string; pid: number | null }[];
}

let fixture: ConsoleFixture;
let page: Page;
let oldPrimary: string;
let replica: string;

async function topology(): Promise<Topology> {
  const response = await fetch(`${fixture.url}/v1/topology`, {
    headers: { authorization: `Bearer ${fixture.demo.apiKey}` },
  });
  assert.equal(response.status, 200);
  return (await response.json()) as Topology;
}

/** Waits until the overview shows a later observation than `seen` (the stream moved on). */
async function nextObservation(seen: string): Promise<string> {
  const observed = page.getByTestId('observed-at').locator('time');
  for (let tries = 0; tries < 150; tries += 1) {
    const at = await observed.getAttribute('datetime');
    if (at !== null && at !== seen) return at;
    await page.waitForTimeout(200);
  }
  throw new Error(`the overview stayed at the observation of ${seen}`);
}

/** Registers these tests; `shared` answers the shared platform and browser, with admins of their own. */
export function overviewSuite(shared: () => Promise<ConsoleFixture>): void {
  describe('console: overview and events', () => {
    before(async () => {
      fixture = await shared();
    });

    describe('the overview and events pages', () => {
      test('both data centres, their servers and shards show live', async () => {
        const [staff] = fixture.demo.staff;
        assert.ok(staff);
        page = await consoleLogin(fixture, staff);
        await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
        const current = await topology();
        for (const dc of current.dataCentres) {
          const card = page.getByTestId(`dc-${dc.id}`);
          await card.getByTestId('dc-primary').filter({ hasText: dc.primary }).waitFor();
          for (const id of dc.replicas)
            await card.getByTestId('dc-replica').filter({ hasText: id }).waitFor();
        }
        assert.deepEqual(
          current.dataCentres.map((dc) => dc.id),
          ['dc1', 'dc2'],
        );
        const servers = page.getByRole('region', { name: 'Servers' });
        for (const server of current.servers)
          await servers.getByText(server.id, { exact: true }).waitFor();
        await page
          .getByRole('region', { name: 'Shards: homes and copies' })
          .getByRole('row')
          .nth(4)
          .waitFor();
        assert.match((await page.getByTestId('catalog-epoch').textContent()) ?? '', /^\d+$/);
        await page.locator('[data-testid=event][data-kind=catalog_epoch]').first().waitFor();
        // The figures move on without a reload: a few observations feed the charts.
        let seen = '';
        for (let i = 0; i < 4; i += 1) seen = await nextObservation(seen);
        assert.equal(await page.locator('.chart').count(), 3);
        await screenshot(page, 'overview');
      });

      test('a killed primary: the same page shows its replica promoted within seconds', async () => {
        await page.evaluate(() => {
          (globalThis as { notReloaded?: boolean }).notReloaded = true;
        });
        const before = await topology();
        const dc1 = before.dataCentres.find((dc) => dc.id === 'dc1');
        assert.ok(dc1?.replicas[0]);
        oldPrimary = dc1.primary;
        replica = dc1.replicas[0];
        const pid = before.servers.find((server) => server.id === oldPrimary)?.pid;
        assert.ok(pid, 'the primary runs under the platform');
        process.kill(pid, 'SIGKILL');
        const card = page.getByTestId('dc-dc1');
        await card
          .getByTestId('dc-primary')
          .filter({ hasText: replica })
          .waitFor({ timeout: 60_000 });
        const promoted = page.locator('[data-testid=event][data-kind=replica_promoted]');
        await promoted.filter({ hasText: replica }).first().waitFor({ timeout: 60_000 });
        assert.equal(
          await page.evaluate(() => (globalThis as { notReloaded?: boolean }).notReloaded),
          true,
          'the page was not reloaded',
        );
        await screenshot(page, 'overview-after-failover');
      });

      test('the events page lists the failover and pages back to the oldest event', async () => {
        await page
          .getByRole('navigation')
          .getByRole('link', { name: 'Events', exact: true })
          .click();
        await page.getByRole('heading', { name: 'Events', level: 1 }).waitFor();
        const events = page.getByTestId('event');
        await events
          .filter({ hasText: replica })
          .and(page.locator('[data-kind=replica_promoted]'))
          .first()
          .waitFor();
        await page
          .locator('[data-testid=event][data-kind=primary_fenced]')
          .filter({ hasText: oldPrimary })
          .first()
          .waitFor();
        const epochs = page.locator('[data-testid=event][data-kind=catalog_epoch]');
        assert.ok((await epochs.count()) >= 2, 'the initial epoch and the promotion’s');
        // Newest first.
        const times = await events
          .locator('time')
          .evaluateAll((nodes) =>
            nodes.map((node) => (node as unknown as { dateTime: string }).dateTime),
          );
        assert.deepEqual(times, [...times].sort().reverse());
        const shown = await events.count();
        await page.getByRole('button', { name: 'Load older events' }).click();
        await page.getByTestId('events-all-loaded').waitFor();
        assert.ok((await events.count()) >= shown, 'older pages add, never drop');
        await screenshot(page, 'events');
        await page.context().close();
      });
    });

    describe('the figures behind the pages', () => {
      test('an LSN is a byte position; throughput is bytes per second of one primary', () => {
        assert.equal(lsnBytes('0/3000148'), 0x3000148);
        assert.equal(lsnBytes('1/0'), 2 ** 32);
        assert.equal(lsnBytes('FFFFF/FFFFFFFF'), 2 ** 52 - 1);
        assert.equal(lsnBytes('nope'), null);
        const snapshot = (at: string, primary: string, lsn: string) =>
          walMarkOf({
            observedAt: at,
            epoch: 1,
            catalog: { server: 'witness', state: 'up' },
            dataCentres: [{ id: 'dc1', synchronousCommit: 'on', primary, replicas: [] }],
            servers: [
              {
                ...{ id: primary, dc: 'dc1', role: 'primary', host: 'h', port: 1, state: 'up' },
                ...{ pid: 1, lastWalLsn: lsn, replayLagBytes: null, replayLagMs: null },
                ...{ streamingState: null, detail: null, fencedAtEpoch: null },
              },
            ],
            shards: [],
          });
        const first = snapshot('2026-01-01T00:00:00.000Z', 'a', '0/1000');
        const second = snapshot('2026-01-01T00:00:02.000Z', 'a', '0/1800');
        assert.deepEqual(walRates(['dc1'], null, first), [null]);
        assert.deepEqual(walRates(['dc1'], first, second), [1024]);
        const promoted = snapshot('2026-01-01T00:00:03.000Z', 'b', '0/2000');
        assert.deepEqual(
          walRates(['dc1'], second, promoted),
          [null],
          'no rate across a new primary',
        );
      });

      test('joined event lists keep same-millisecond twins and never double one', () => {
        const event = (at: string, detail: string): FailoverEvent => ({
          ...{ at, kind: 'catalog_epoch', server: null, dc: null },
          ...{ epoch: 1, sinceDetectionMs: null, detail },
        });
        const a = event('2026-01-01T00:00:03.000Z', 'a');
        const twin = event('2026-01-01T00:00:02.000Z', 'twin');
        const old = event('2026-01-01T00:00:01.000Z', 'old');
        const live = [a, twin, twin];
        assert.equal(mergeEvents(live, [a, twin]), live, 'nothing new: the same list');
        assert.deepEqual(mergeEvents(live, [twin, twin, old]), [a, twin, twin, old]);
        assert.deepEqual(mergeEvents([a], [twin, twin]), [a, twin, twin]);
      });
    });
  });
}
