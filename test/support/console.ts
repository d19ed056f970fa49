/**
 * What the console's browser tests share: the console built once per change of its sources
 * (several test files may ask at once: one builds, the others wait), a real platform, Debian's
 * Chromium driven by playwright-core, a staff login through the console's own form, and
 * screenshots saved under `test-output/console/`.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { buildConsole, CONSOLE_DIST_DIR } from '../../scripts/build-console.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import type { DemoCredentials } from '../../src/domains/identity/index.ts';
import { freshTotpCode } from './staff-login.ts';

type DemoStaff = DemoCredentials['staff'][number];

import { CONFIG_SECTIONS, MODULES } from '../../src/modules.ts';
import { type Platform, startPlatform } from '../../src/platform/platform.ts';
import { chromiumPath } from './chromium.ts';
import { removeHome, tempHome } from './temp-home.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
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

/** A platform with demo data, the console built, and a browser. */
export async function startConsoleFixture(label: string): Promise<ConsoleFixture> {
  const executablePath = chromiumPath();
  if (executablePath === null)
    throw new Error(
      "no Chromium: install Debian's chromium package (.ci/run does) or set MAINSTAY_CHROMIUM",
    );
  await ensureConsoleBuilt();
  const home = tempHome(label);
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
      await browser.close().catch(() => undefined);
      await platform.stop();
      removeHome(home);
    },
  };
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
