/**
 * Builds the package for plain Node: `src/` compiled to JavaScript with type declarations
 * (tsconfig.build.json), plus every file under `src/` that is not TypeScript (SQL migrations,
 * read at run time beside their module). The output directory is emptied first, so a module whose
 * source was removed cannot linger in the package. The checkout itself never needs this: its CLI,
 * tests and benchmarks run the sources through tsx (docs/ARCHITECTURE.md, decisions 1 and 41).
 *
 * Run: `npm run build` (into `dist/`), or `node --import tsx scripts/build-package.ts <dir>`.
 */
import { execFile } from 'node:child_process';
import { cpSync, realpathSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

/**
 * The repository root: the package being built. Found through `package.json`, which in the
 * suite's compiled copy of the checkout (`.test-build/`, scripts/build-tests.ts) is a link to the
 * real one, beside the TypeScript sources.
 */
export const PACKAGE_ROOT = path.dirname(
  realpathSync(fileURLToPath(new URL('../package.json', import.meta.url))),
);

/** Where `npm run build` writes, and what package.json's "exports" point at. */
export const DIST_DIR = path.join(PACKAGE_ROOT, 'dist');

/** A compile of the whole of `src/` takes well under a minute on two cores; past this, it hung. */
const buildTimeoutMs = 300_000;

/**
 * Compiles `src/` into `outDir` (emptied first) and copies the non-TypeScript files beside the
 * compiled modules. Refuses a directory that holds the package's own sources, since it deletes it.
 */
export async function buildPackage(outDir: string = DIST_DIR): Promise<void> {
  const out = path.resolve(outDir);
  const sources = path.join(PACKAGE_ROOT, 'src');
  const inside = (dir: string, parent: string) => !path.relative(parent, dir).startsWith('..');
  if (inside(PACKAGE_ROOT, out) || inside(out, sources)) {
    throw new Error(`build output ${out} would hold or overwrite the package's sources`);
  }
  rmSync(out, { recursive: true, force: true });
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const tsconfig = path.join(PACKAGE_ROOT, 'tsconfig.build.json');
  try {
    await promisify(execFile)(process.execPath, [tsc, '-p', tsconfig, '--outDir', out], {
      timeout: buildTimeoutMs,
    });
  } catch (error) {
    // tsc prints its diagnostics on stdout, which the rejection's message leaves out.
    const stdout = error instanceof Error && 'stdout' in error ? String(error.stdout) : '';
    throw new Error(`tsc -p tsconfig.build.json failed:\n${stdout}`, {
      cause: error,
    });
  }
  cpSync(sources, out, {
    recursive: true,
    filter: (source) => statSync(source).isDirectory() || !source.endsWith('.ts'),
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const out = process.argv[2] ?? DIST_DIR;
  await buildPackage(out);
  process.stdout.write(`built ${path.resolve(out)}\n`);
}
