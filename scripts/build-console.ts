/**
 * Builds the console (decision 61): `console/` bundled by Vite into `console/dist`, which the
 * HTTP server serves at `/console/`. Prints each file's size, raw and gzipped, and the total a
 * first visit downloads; with `--measure`, also the first-load time: the built console served
 * by the same route as in production, loaded five times in a fresh headless Chromium (the
 * system's, as the browser tests use), from navigation start to the login form on screen.
 *
 * Run: `npm run build` (package and console, measured), `npm run build:console` (console only).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import Fastify from 'fastify';
import { build } from 'vite';
import { registerConsoleRoutes } from '../src/http/routes/console-route.ts';
import { chromiumPath } from '../test/support/chromium.ts';
import { PACKAGE_ROOT } from './build-package.ts';

const ROOT = path.join(PACKAGE_ROOT, 'console');
export const CONSOLE_DIST_DIR = path.join(ROOT, 'dist');

/** Builds the console into `console/dist`; quiet apart from the sizes. */
export async function buildConsole(): Promise<void> {
  await build({ root: ROOT, logLevel: 'warn', configFile: path.join(ROOT, 'vite.config.ts') });
}

function filesOf(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((name) => path.join(dir, name))
    .filter((file) => statSync(file).isFile());
}

function printSizes(): void {
  const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
  let raw = 0;
  let zipped = 0;
  console.log('console bundle (console/dist):');
  for (const file of filesOf(CONSOLE_DIST_DIR).sort()) {
    const body = readFileSync(file);
    const gz = gzipSync(body).length;
    raw += body.length;
    zipped += gz;
    console.log(
      `  ${path.relative(CONSOLE_DIST_DIR, file).padEnd(32)} ${kb(body.length).padStart(10)}  gzip ${kb(gz).padStart(9)}`,
    );
  }
  console.log(`  ${'total'.padEnd(32)} ${kb(raw).padStart(10)}  gzip ${kb(zipped).padStart(9)}`);
}

/** Median milliseconds from navigation to the login form, over `rounds` fresh page loads. */
async function measureFirstLoad(rounds = 5): Promise<number | null> {
  const executablePath = chromiumPath();
  if (executablePath === null) return null;
  const { chromium } = await import('playwright-core');
  const app = Fastify();
  registerConsoleRoutes(app, CONSOLE_DIST_DIR);
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
  try {
    const times: number[] = [];
    for (let n = 0; n < rounds; n += 1) {
      const context = await browser.newContext();
      const page = await context.newPage();
      const started = performance.now();
      await page.goto(`${url}/console/`);
      await page.getByRole('button').first().waitFor();
      times.push(performance.now() - started);
      await context.close();
    }
    return times.sort((a, b) => a - b)[Math.floor(rounds / 2)] as number;
  } finally {
    await browser.close();
    await app.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const started = performance.now();
  await buildConsole();
  console.log(`built in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  printSizes();
  if (process.argv.includes('--measure')) {
    const ms = await measureFirstLoad();
    console.log(
      ms === null
        ? 'first load: not measured (no Chromium: install the chromium package or set MAINSTAY_CHROMIUM)'
        : `first load (median of 5, fresh headless Chromium, loopback): ${ms.toFixed(0)} ms to the login form`,
    );
  }
}
