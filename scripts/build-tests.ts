/**
 * Compiles the checkout for `npm test` (decision 14): `src/`, `test/` and `scripts/` turned into
 * plain JavaScript under `.test-build/`, so that the suite's Node processes (one per test file,
 * and the `mainstay` commands and API processes they start) load JavaScript with no loader
 * hooks. Loading the platform through tsx costs a process about 2 s of CPU more than
 * loading the same modules compiled (measured in docs/ARCHITECTURE.md, decision 14).
 *
 * `.test-build/` mirrors the repository's root so that every path a module finds from its own
 * `import.meta.url` (`../../docs/`, `../../bin/mainstay.js`, SQL files beside their module) is
 * the same there:
 *   - every `.ts` file of the three folders compiled by esbuild, one output file per source
 *     (nothing is bundled: each relative import stays an import, its `.ts` now `.js`);
 *   - the other files of those folders (SQL, JSON, `.mjs`) and `bin/` copied;
 *   - the console's plain `.ts` modules (`console/src`), which tests import, compiled too; the
 *     console itself is built by Vite from the real folder (scripts/build-console.ts);
 *   - every other entry of the root (`node_modules`, `package.json`, `docs`, `bench`...) a
 *     symbolic link to the real one. The TypeScript sources themselves are not there: what
 *     reads them finds the real root through `package.json`'s link (`test/support/repo-root.ts`).
 * It is made anew on every run (about 2 s), so it is never older than the sources; two suites
 * at once in one checkout would remove each other's.
 *
 * Run: `node --import tsx scripts/build-tests.ts` (`npm test` does).
 */
import { cpSync, mkdirSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TEST_BUILD_DIR = path.join(ROOT, '.test-build');
/** The folders of TypeScript compiled into the mirror. */
const COMPILED = ['src', 'test', 'scripts'];
/** Copied rather than linked: a linked entry script would run from the real root. */
const COPIED = ['bin'];
/** Never mirrored. */
const SKIPPED = ['.git', '.test-build'];
/** The console (built by Vite from the real folder): only its `.ts` modules are compiled. */
const CONSOLE = 'console';
const CONSOLE_MODULES = path.join(CONSOLE, 'src');

/** Links every entry of `from` but those `except` into `to`. */
function linkEntries(from: string, to: string, except: readonly string[]): void {
  mkdirSync(to, { recursive: true });
  for (const entry of readdirSync(from))
    if (!except.includes(entry)) symlinkSync(path.join(from, entry), path.join(to, entry));
}

/** Makes `.test-build/` from the checkout; answers how many modules were compiled. */
async function buildTests(): Promise<number> {
  rmSync(TEST_BUILD_DIR, { recursive: true, force: true });
  mkdirSync(TEST_BUILD_DIR);
  const entryPoints = [...COMPILED, CONSOLE_MODULES].flatMap((dir) =>
    readdirSync(path.join(ROOT, dir), { recursive: true, encoding: 'utf8' })
      .filter((name) => name.endsWith('.ts'))
      .map((name) => path.join(ROOT, dir, name)),
  );
  await build({
    entryPoints,
    outdir: TEST_BUILD_DIR,
    outbase: ROOT,
    // Bundling only so that the plugin below sees every import; each one is left external.
    bundle: true,
    packages: 'external',
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: 'inline',
    logLevel: 'warning',
    plugins: [
      {
        name: 'relative-imports-stay',
        setup(build) {
          build.onResolve({ filter: /^\.\.?\// }, (args) =>
            args.kind === 'entry-point'
              ? undefined
              : { path: args.path.replace(/\.ts$/, '.js'), external: true },
          );
        },
      },
    ],
  });
  for (const dir of COMPILED)
    cpSync(path.join(ROOT, dir), path.join(TEST_BUILD_DIR, dir), {
      recursive: true,
      filter: (source) => !source.endsWith('.ts'),
    });
  for (const dir of COPIED)
    cpSync(path.join(ROOT, dir), path.join(TEST_BUILD_DIR, dir), { recursive: true });
  // Made first if missing, so that what tests write there (screenshots) lands in the real one.
  mkdirSync(path.join(ROOT, 'test-output'), { recursive: true });
  linkEntries(ROOT, TEST_BUILD_DIR, [...SKIPPED, ...COMPILED, ...COPIED, CONSOLE]);
  // The console's own folder: its plain modules compiled (tests import them), the rest linked;
  // `dist` linked even before the first build makes it (the HTTP server serves it from here).
  linkEntries(path.join(ROOT, CONSOLE), path.join(TEST_BUILD_DIR, CONSOLE), ['src', 'dist']);
  symlinkSync(path.join(ROOT, CONSOLE, 'dist'), path.join(TEST_BUILD_DIR, CONSOLE, 'dist'));
  return entryPoints.length;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const started = performance.now();
  const modules = await buildTests();
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  process.stdout.write(`compiled ${modules} modules into .test-build/ in ${seconds} s\n`);
}
