/**
 * What the console's browser tests share: the console built once per change of its sources
 * (several test files may ask at once: one builds, the others wait), a real platform, Debian's
 * Chromium driven by playwright-core, a staff login through the console's own form, and
 * screenshots saved under `test-output/console/`.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { buildConsole, CONSOLE_DIST_DIR } from '../../scripts/build-console.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import type { DemoCredentials } from '../../src/domains/identity/index.ts';
import { freshTotpCode, staffLogin } from './staff-login.ts';

type DemoStaff = DemoCredentials['staff'][number];

import { CONFIG_SECTIONS, MODULES } from '../../src/modules.ts';
import { type Platform, startPlatform } from '../../src/platform/platform.ts';
import { chromiumPath } from './chromium.ts';
import { fleetFromTemplate } from './platform-template.ts';
import { REPO_ROOT } from './repo-root.ts';
import { removeHome, tempHome } from './temp-home.ts';

const ROOT = REPO_ROOT;
const SOURCES = path.join(ROOT, 'console');
export const SCREENSHOTS = path.join(ROOT, 'test-output', 'console');
const LOCK = path.join(ROOT, 'console', '.build-lock');

function newest(dir: string): number {
  let at = 0;
  for (const name of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    if (name.startsWith('dist') || name.startsWith('.build-lock')) continue;
    const file = path.join(dir, name);
    const found = statSync(file);
    if (found.isFile()) at = Math.max(at, found.mtimeMs);
  }
  return at;
}

function built(): boolean {
  try {
    return statSync(path.join(CONSOLE_DIST_DIR, 'index.html')).mtimeMs >= newest(SOURCES);
  } catch {
    return false;
  }
}

/** Builds the console unless `console/dist` is newer than its sources. */
export async function ensureConsoleBuilt(): Promise<void> {
  for (;;) {
    if (built()) return;
    try {
      mkdirSync(LOCK);
    } catch {
      // Another test file is building: wait for it (a lock older than two minutes is stale).
      const age = Date.now() - (statSync(LOCK, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > 120_000) rmSync(LOCK, { recursive: true, force: true });
      await new Promise((resolve) => setTimeout(resolve, 250));
      continue;
    }
    try {
      if (!built()) await buildConsole();
      return;
    } finally {
      rmSync(LOCK, { recursive: true, force: true });
    }
  }
}

export interface ConsoleFixture {
  readonly platform: Platform;
  readonly demo: DemoCredentials;
  readonly browser: Browser;
  readonly url: string;
  stop(): Promise<void>;
}

/** A platform with demo data (its fleet from the template), the console built, and a browser. */
export async function startConsoleFixture(label: string): Promise<ConsoleFixture> {
  const executablePath = chromiumPath();
  if (executablePath === null)
    throw new Error(
      "no Chromium: install Debian's chromium package (.ci/run does) or set MAINSTAY_CHROMIUM",
    );
  await ensureConsoleBuilt();
  const home = tempHome(label);
  await fleetFromTemplate(home);
  const config = loadConfig(
    { cwd: home, env: { MAINSTAY_HOME: home, MAINSTAY_PORT: '0' } },
    CONFIG_SECTIONS,
  );
  const platform = await startPlatform({ config, modules: MODULES });
  const demo = JSON.parse(
    readFileSync(path.join(home, 'demo-credentials.json'), 'utf8'),
  ) as DemoCredentials;
  const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
  return {
    platform,
    demo,
    browser,
    url: platform.url,
    async stop() {
      // A browser that does not close keeps its live streams open, and the platform's HTTP
      // server waits for them before it stops: end it, so the teardown cannot hang.
      const closed = await Promise.race([
        browser.close().then(
          () => true,
          () => false,
        ),
        new Promise<false>((resolve) => setTimeout(() => resolve(false), BROWSER_CLOSE_MS)),
      ]);
      if (!closed) killChildBrowsers();
      await platform.stop();
      removeHome(home);
    },
  };
}

/** How long a browser may take to close before its processes are killed. */
const BROWSER_CLOSE_MS = 20_000;

/** Kills (SIGKILL) every Chromium process this process started; its own children go with it. */
function killChildBrowsers(): void {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // `pid (comm) state ppid ...`: the command name may hold spaces, the fields after it not.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && /chrom/i.test(comm)) process.kill(Number(entry), 'SIGKILL');
    } catch {
      // The process ended while we looked.
    }
  }
}

/** A TOTP code for `staff` the server accepts now (see `freshTotpCode`). */
export function freshCode(staff: DemoStaff): Promise<string> {
  return freshTotpCode(staff.totpUri);
}

/** Opens the console in a new browser context and logs `staff` in through its form. */
export async function consoleLogin(
  fixture: ConsoleFixture,
  staff: DemoStaff,
  locale = 'en-GB',
): Promise<Page> {
  const context = await fixture.browser.newContext({
    locale,
    viewport: { width: 1366, height: 820 },
  });
  const page = await context.newPage();
  await page.goto(`${fixture.url}/console/`);
  await page.locator('input[name=username]').fill(staff.username);
  await page.locator('input[name=password]').fill(staff.password);
  await page.locator('input[name=code]').fill(await freshCode(staff));
  await page.locator('button[type=submit]').click();
  await page.getByTestId('connection').waitFor();
  return page;
}

/** Saves a screenshot of the whole page as `test-output/console/<name>.png`. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** A JSON call with `credential` as bearer; answers the status and body. */
async function callJson(
  url: string,
  credential: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, {
    method: body === undefined ? 'GET' : 'POST',
    headers: {
      authorization: `Bearer ${credential}`,
      ...(body === undefined
        ? {}
        : { 'content-type': 'application/json', 'idempotency-key': randomUUID() }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : {} };
}

/**
 * Makes admins for the suites sharing one console platform: each suite gets two of its own (a
 * suite whose tests each log in, two for each test), so that its logins count toward its own
 * people's limits (ten logins in 15 minutes per username, one login per TOTP step, two within
 * one step with the next step's code), as on a platform of its own, and no login waits for the
 * clock. Each is created as a viewer with the
 * demo API key and made an admin by a role grant the first demo admin asks for and the second
 * approves (with one session each, made on the first call).
 */
export function suiteAdmins(fixture: ConsoleFixture): (label: string) => Promise<DemoStaff[]> {
  let sessions: Promise<[string, string]> | null = null;
  return async (label) => {
    const [asker, approver] = fixture.demo.staff;
    assert.ok(asker && approver, 'two demo admins');
    sessions ??= Promise.all([staffLogin(fixture.url, asker), staffLogin(fixture.url, approver)]);
    const [asks, approves] = await sessions;
    const admins: DemoStaff[] = [];
    for (const username of [`${label}-admin`, `${label}-admin2`]) {
      const password = `a long enough password for ${username}`;
      const created = await callJson(`${fixture.url}/v1/staff`, fixture.demo.apiKey, {
        username,
        displayName: username,
        password,
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const id = created.body.id as string;
      const grant = await callJson(`${fixture.url}/v1/staff/${id}/roles`, asks, {
        roles: ['admin'],
      });
      assert.equal(grant.status, 202, JSON.stringify(grant.body));
      const approval = `${fixture.url}/v1/approvals/${grant.body.id}`;
      const approved = await callJson(`${approval}/approve`, approves, {});
      assert.equal(approved.status, 202, JSON.stringify(approved.body));
      let status = approved.body.status;
      for (let tries = 0; tries < 200 && status !== 'executed' && status !== 'failed'; tries += 1) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        status = (await callJson(approval, fixture.demo.apiKey)).body.status;
      }
      assert.equal(status, 'executed', `${username} made an admin`);
      admins.push({ id, username, password, totpUri: created.body.totpUri as string });
    }
    return admins;
  };
}
