/**
 * Makes the PostgreSQL programs runnable by the OS user that runs the servers. As root, the
 * servers run as `mainstay-pg` (decision 5), which must be able to walk every directory down to
 * the programs. A checkout kept where only root may enter (`/root/project`, mode 0700) hides
 * the embedded binaries inside its `node_modules` from that user, and `initdb` then fails with
 * nothing on its standard error. When that happens, the binary tree is linked (hard links, or
 * copies across file systems) into `MAINSTAY_HOME/postgres`, which the fleet already makes
 * reachable, and the reason is written next to it. A tree that cannot be moved (a system
 * installation whose `share` lives elsewhere) is refused with the directory that blocks the
 * user, rather than a silent initdb failure (decision 33).
 */
import { execFile } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { MainstayError } from '../errors/mainstay-error.ts';
import type { OsIdentity } from './os-user.ts';
import { type PostgresBinaries, postgresEnv } from './postgres-binaries.ts';

const execFileAsync = promisify(execFile);

/** The directory under `MAINSTAY_HOME` that holds a reachable copy of the binary tree. */
export const LINKED_BINARIES_DIR = 'postgres';
/** The file in that directory saying where the tree came from and why it is there. */
export const LINKED_BINARIES_NOTE = 'WHY.json';
/** How long `postgres --version` may take when run as the server user. */
const VERSION_CHECK_TIMEOUT_MS = 10_000;
/** Bounds the tree walk: the embedded tree has a few hundred entries. */
const TREE_ENTRY_COUNT_MAX = 20_000;

/** What {@link reachablePostgresBinaries} found and did, for the progress line and the note. */
export interface BinariesReach {
  readonly binaries: PostgresBinaries;
  /** Why the tree was linked into the home, or `null` when it was reachable where it is. */
  readonly linkedBecause: string | null;
}

/**
 * The binaries as `identity` can run them: `binaries` itself when the user already can (or
 * when Mainstay is not root), else a copy linked into `home`. Throws
 * `postgres_binaries_missing` naming the directory that blocks the user when no copy helps.
 */
export async function reachablePostgresBinaries(
  binaries: PostgresBinaries,
  identity: OsIdentity,
  home: string,
): Promise<BinariesReach> {
  if (identity.uid === null) return { binaries, linkedBecause: null };
  const blocked = await whyNotRunnable(binaries, identity);
  if (blocked === null) return { binaries, linkedBecause: null };
  const treeRoot = path.dirname(binaries.binDir);
  if (!isRelocatableTree(treeRoot)) {
    throw new MainstayError(
      'postgres_binaries_missing',
      `${blocked}; ${treeRoot} is not a self-contained PostgreSQL tree (bin, lib, share) that ` +
        'Mainstay could link elsewhere, so make that directory reachable (chmod o+x) or point ' +
        'MAINSTAY_PG_BIN at an installation the user can reach',
    );
  }
  const target = path.join(home, LINKED_BINARIES_DIR);
  const linked = relocated(binaries, treeRoot, target);
  if (!isCurrentCopy(target, treeRoot, binaries.versionText)) {
    linkTree(treeRoot, target, {
      source: treeRoot,
      reason: blocked,
      versionText: binaries.versionText,
    });
  }
  const stillBlocked = await whyNotRunnable(linked, identity);
  if (stillBlocked !== null) {
    throw new MainstayError(
      'postgres_binaries_missing',
      `${blocked}; linked the PostgreSQL tree into ${target}, but ${stillBlocked}`,
    );
  }
  return { binaries: linked, linkedBecause: blocked };
}

/**
 * `null` when `identity` can run the server program, else a sentence saying why not: the first
 * directory on the way that it may not search (owner, group and mode), or the program's error.
 */
async function whyNotRunnable(
  binaries: PostgresBinaries,
  identity: OsIdentity,
): Promise<string | null> {
  try {
    await execFileAsync(binaries.postgres, ['--version'], {
      env: postgresEnv(binaries.libDir),
      uid: identity.uid ?? undefined,
      gid: identity.gid ?? undefined,
      timeout: VERSION_CHECK_TIMEOUT_MS,
    });
    return null;
  } catch (error) {
    const who = `OS user ${identity.name} (uid ${identity.uid})`;
    const gate = firstClosedDirectory(binaries.postgres, identity);
    if (gate !== null) return `${who} cannot reach ${binaries.postgres}: ${gate}`;
    const reason = error instanceof Error ? error.message : String(error);
    return `${who} cannot run ${binaries.postgres}: ${reason}`;
  }
}

/**
 * The first directory above `file` that `identity` may not search, described with its owner and
 * mode, or `null`. Uses the owner, group and other bits (the user has no supplementary groups).
 */
export function firstClosedDirectory(file: string, identity: OsIdentity): string | null {
  const parts = path
    .resolve(file)
    .split(path.sep)
    .filter((part) => part !== '');
  let current: string = path.sep;
  for (const part of parts.slice(0, -1)) {
    current = path.join(current, part);
    const stat = statSync(current);
    const searchBit = stat.uid === identity.uid ? 0o100 : stat.gid === identity.gid ? 0o010 : 0o001;
    if ((stat.mode & searchBit) === 0) {
      const mode = (stat.mode & 0o7777).toString(8).padStart(4, '0');
      return `${current} (owner uid ${stat.uid}, mode ${mode}) does not let it through`;
    }
  }
  return null;
}

/** A tree PostgreSQL finds its parts in by relative paths: `bin`, `lib` and `share/postgresql`. */
function isRelocatableTree(root: string): boolean {
  return ['bin', 'lib', path.join('share', 'postgresql')].every((part) =>
    existsSync(path.join(root, part)),
  );
}

function relocated(binaries: PostgresBinaries, from: string, to: string): PostgresBinaries {
  const move = (file: string) => path.join(to, path.relative(from, file));
  return {
    ...binaries,
    binDir: move(binaries.binDir),
    initdb: move(binaries.initdb),
    postgres: move(binaries.postgres),
    libDir: binaries.libDir === null ? null : move(binaries.libDir),
  };
}

interface LinkNote {
  readonly source: string;
  readonly reason: string;
  readonly versionText: string;
}

/** Whether `target` holds a finished copy of the same tree at the same version. */
function isCurrentCopy(target: string, source: string, versionText: string): boolean {
  let note: unknown;
  try {
    note = JSON.parse(readFileSync(path.join(target, LINKED_BINARIES_NOTE), 'utf8'));
  } catch {
    return false;
  }
  return (
    typeof note === 'object' &&
    note !== null &&
    'source' in note &&
    'versionText' in note &&
    note.source === source &&
    note.versionText === versionText
  );
}

/**
 * Links `source` into `target`: built beside it and renamed into place, so a crash leaves either
 * the old copy or none, and the note (written last) marks a finished copy.
 */
function linkTree(source: string, target: string, note: LinkNote): void {
  const building = `${target}.building`;
  rmSync(building, { recursive: true, force: true });
  let entries = 0;
  const visit = (from: string, to: string) => {
    mkdirSync(to);
    // Searchable and readable by the server user whatever the source's mode and the umask.
    chmodSync(to, 0o755);
    for (const name of readdirSync(from)) {
      entries += 1;
      if (entries > TREE_ENTRY_COUNT_MAX) {
        throw new MainstayError(
          'postgres_binaries_missing',
          `${source} holds more than ${TREE_ENTRY_COUNT_MAX} entries; not a PostgreSQL tree`,
        );
      }
      const fromPath = path.join(from, name);
      const toPath = path.join(to, name);
      const stat = lstatSync(fromPath);
      if (stat.isDirectory()) visit(fromPath, toPath);
      else if (stat.isSymbolicLink()) symlinkSync(readlinkSync(fromPath), toPath);
      else linkOrCopy(fromPath, toPath);
    }
  };
  visit(source, building);
  writeFileSync(
    path.join(building, LINKED_BINARIES_NOTE),
    `${JSON.stringify({ ...note, linkedAt: new Date().toISOString() }, null, 2)}\n`,
  );
  rmSync(target, { recursive: true, force: true });
  renameSync(building, target);
}

/** A hard link shares the file without copying it; across file systems, a copy (mode kept). */
function linkOrCopy(from: string, to: string): void {
  try {
    linkSync(from, to);
  } catch (error) {
    const code = error instanceof Error && 'code' in error ? error.code : null;
    if (code !== 'EXDEV' && code !== 'EPERM') throw error;
    copyFileSync(from, to);
  }
}
