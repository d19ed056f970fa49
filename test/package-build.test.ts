/**
 * The package as a user gets it: `src/` built into a temporary directory (so a stale `dist/` can
 * never make this pass), packed by npm with package.json as committed, unpacked into a project's
 * node_modules and imported by name from plain Node, without tsx. Offline: the dependencies are
 * the checkout's own node_modules, seen from a directory above the project.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildPackage, PACKAGE_ROOT } from '../scripts/build-package.ts';
import { bucketOf } from '../src/data/bucket-hash.ts';

const buildTimeoutMs = 400_000;
const childTimeoutMs = 120_000;

const work = mkdtempSync(path.join(os.tmpdir(), 'mainstay-package-'));
/** The package's files as `npm pack` sees them: package.json, README, bin and the fresh build. */
const staging = path.join(work, 'staging');
/** A project that installed the tarball. */
const app = path.join(work, 'app');
const installed = path.join(app, 'node_modules', 'mainstay');
const manifest = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as {
  exports: Record<string, unknown>;
};

/** Runs plain `node` (no loader, whatever NODE_OPTIONS the test runner had) and returns stdout. */
function node(args: readonly string[], cwd = app): string {
  const run = spawnSync(process.execPath, args, {
    cwd,
    encoding: 'utf8',
    timeout: childTimeoutMs,
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  assert.equal(run.status, 0, `node ${args.join(' ')} failed:\n${run.stdout}${run.stderr}`);
  return run.stdout;
}

/** The tarball's file list, from `npm pack` run on the staged package (no build scripts). */
function pack(): string[] {
  const run = spawnSync(
    'npm',
    ['pack', '--offline', '--ignore-scripts', '--json', '--pack-destination', work],
    { cwd: staging, encoding: 'utf8', timeout: childTimeoutMs },
  );
  assert.equal(run.status, 0, `npm pack failed:\n${run.stderr}`);
  const [report] = JSON.parse(run.stdout) as { filename: string; files: { path: string }[] }[];
  assert.ok(report, 'npm pack reported no tarball');
  mkdirSync(installed, { recursive: true });
  const tarball = path.join(work, report.filename);
  const untar = spawnSync('tar', ['-xzf', tarball, '-C', installed, '--strip-components=1']);
  assert.equal(untar.status, 0, String(untar.stderr));
  return report.files.map((file) => file.path);
}

const APP_FILES: Record<string, string> = {
  'package.json': '{ "type": "module", "private": true }\n',
  // Imports the module named on the command line; with record.mjs, logs every URL resolved.
  'load.mjs': 'await import(process.argv[2]);\n',
  'record.mjs': `import { register } from 'node:module';
register('./record-hooks.mjs', import.meta.url, { data: { log: process.env.MODULE_LOG } });
`,
  'record-hooks.mjs': `import { appendFileSync } from 'node:fs';
let log;
export function initialize(data) { log = data.log; }
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(log, result.url + '\\n');
  return result;
}
`,
  'use-library.mjs': `import { ConsistencyToken, isMainstayError, ShardMap } from 'mainstay';
const server = (id, dc, role, upstream) =>
  ({ id, dc, role, host: '127.0.0.1', port: 5432, upstream, fencedAtEpoch: null });
const shard = (id, homeDc, copyDc) =>
  ({ id, database: 'shard_' + id, homeDc, copyDc, copyState: 'replicating', lineageEpoch: 1 });
const map = new ShardMap({
  epoch: 3,
  bucketCount: 8,
  dataCentres: [{ id: 'dc1', synchronousCommit: 'on' }, { id: 'dc2', synchronousCommit: 'on' }],
  servers: [server('dc1-a', 'dc1', 'primary', null), server('dc1-b', 'dc1', 'replica', 'dc1-a'),
    server('dc2-a', 'dc2', 'primary', null)],
  shards: [shard(0, 'dc1', 'dc2'), shard(1, 'dc2', 'dc1')],
  buckets: [{ shardId: 0, first: 0, last: 3 }, { shardId: 1, first: 4, last: 7 }],
});
const key = process.argv[2];
const shardId = map.shardOf(key);
const route = map.route(shardId);
const encoded = new ConsistencyToken(3).with(shardId, 42n, 3).encode('one secret');
let refused = null;
try { ConsistencyToken.decode(encoded, 'another secret'); }
catch (error) { refused = isMainstayError(error) ? error.code : String(error); }
console.log(JSON.stringify({
  bucket: map.bucketOf(key),
  shardId,
  primary: route.primary && route.primary.id,
  replicas: route.replicas.map((s) => s.id),
  position: String(ConsistencyToken.decode(encoded, 'one secret').positionFor(shardId)),
  refused,
}));
`,
  'tsconfig.json': `{ "compilerOptions": { "target": "ES2022", "module": "NodeNext",
  "moduleResolution": "NodeNext", "strict": true, "noEmit": true, "skipLibCheck": true,
  "types": ["node"] }, "files": ["consumer.ts"] }
`,
  'consumer.ts': `import { ConsistencyToken, type MainstayConfig, Router, type WriteAnswer } from 'mainstay';
import { cardsModule } from 'mainstay/cards';
import { type DomainModule, loadConfig, type PlatformOptions, startPlatform } from 'mainstay/platform';
const modules: readonly DomainModule[] = [cardsModule];
const config: MainstayConfig = loadConfig(undefined, []);
const options: PlatformOptions = { config, modules };
const start: (options: PlatformOptions) => Promise<{ url: string }> = startPlatform;
const connect: typeof Router.connect = Router.connect;
const answer: WriteAnswer<number> = { value: 1, token: null, replayed: false };
// @ts-expect-error: the declarations are real types, not \`any\`
const wrong: string = new ConsistencyToken(1);
export { answer, connect, options, start, wrong };
`,
};

/** Every URL that importing `specifier` resolved, in a fresh plain Node process. */
function resolvedBy(specifier: string): string[] {
  const log = path.join(work, `resolved-${specifier.replace(/\W/g, '-')}.log`);
  const run = spawnSync(process.execPath, ['--import', './record.mjs', 'load.mjs', specifier], {
    cwd: app,
    encoding: 'utf8',
    timeout: childTimeoutMs,
    env: { ...process.env, NODE_OPTIONS: '', MODULE_LOG: log },
  });
  assert.equal(run.status, 0, run.stderr);
  return readFileSync(log, 'utf8').split('\n').filter(Boolean);
}

describe('the package built from src/ and imported from plain Node', () => {
  let packed: string[] = [];

  before(
    async () => {
      mkdirSync(staging);
      for (const file of ['package.json', 'README.md', 'LICENSE']) {
        const from = path.join(PACKAGE_ROOT, file);
        if (existsSync(from)) copyFileSync(from, path.join(staging, file));
      }
      cpSync(path.join(PACKAGE_ROOT, 'bin'), path.join(staging, 'bin'), { recursive: true });
      await buildPackage(path.join(staging, 'dist'));
      packed = pack();
      symlinkSync(path.join(PACKAGE_ROOT, 'node_modules'), path.join(work, 'node_modules'), 'dir');
      for (const [name, text] of Object.entries(APP_FILES))
        writeFileSync(path.join(app, name), text);
    },
    { timeout: buildTimeoutMs },
  );

  after(() => rmSync(work, { recursive: true, force: true }));

  test('the tarball holds the build, the CLI and the README, and no TypeScript sources', () => {
    for (const file of ['dist/index.js', 'dist/index.d.ts', 'dist/platform/index.js']) {
      assert.ok(packed.includes(file), `${file} is not in the tarball`);
    }
    for (const file of ['bin/mainstay.js', 'README.md', 'package.json']) {
      assert.ok(packed.includes(file), `${file} is not in the tarball`);
    }
    assert.deepEqual(
      packed.filter((file) => file.startsWith('src/')),
      [],
    );
    // Migrations are SQL files read beside their module at run time (decision 10).
    const sql = readdirSync(path.join(PACKAGE_ROOT, 'src'), { recursive: true, encoding: 'utf8' })
      .filter((file) => file.endsWith('.sql'))
      .map((file) => `dist/${file.split(path.sep).join('/')}`);
    assert.ok(sql.length > 0);
    assert.deepEqual(
      sql.filter((file) => !packed.includes(file)),
      [],
    );
  });

  test('the library routes a key and signs tokens, by package name, without tsx', () => {
    const key = 'cus_demo000042';
    const result = JSON.parse(node(['use-library.mjs', key])) as Record<string, unknown>;
    const bucket = bucketOf(key, 8);
    const shardId = bucket <= 3 ? 0 : 1;
    assert.deepEqual(result, {
      bucket,
      shardId,
      primary: shardId === 0 ? 'dc1-a' : 'dc2-a',
      replicas: shardId === 0 ? ['dc1-b'] : [],
      position: '42',
      refused: 'consistency_token_invalid',
    });
  });

  test('importing the library loads no Fastify, no domain, no HTTP layer and no platform', () => {
    const library = resolvedBy('mainstay');
    assert.ok(library.some((url) => url.endsWith('/mainstay/dist/data/router.js')));
    assert.ok(
      library.some((url) => url.includes('/node_modules/pg/')),
      'the log saw no pg',
    );
    const unwanted = /\/node_modules\/fastify\/|\/mainstay\/dist\/(domains|http|platform|cli)\//;
    assert.deepEqual(
      library.filter((url) => unwanted.test(url)),
      [],
    );
    // The same log for the platform does show Fastify: the check above can see it.
    assert.ok(resolvedBy('mainstay/platform').some((url) => unwanted.test(url)));
  });

  test('every subpath export loads from plain Node, the platform with its entry points', () => {
    const subpaths = Object.keys(manifest.exports).filter((key) => key !== './package.json');
    assert.ok(subpaths.includes('./platform') && subpaths.includes('./cards'));
    for (const subpath of subpaths) {
      const specifier = path.posix.join('mainstay', subpath);
      const script = `const m = await import('${specifier}'); console.log(JSON.stringify(
        Object.fromEntries(Object.entries(m).map(([k, v]) => [k, typeof v]))));`;
      const output = node(['--input-type=module', '-e', script]);
      const exported = JSON.parse(output) as Record<string, string>;
      assert.notDeepEqual(exported, {}, `${specifier} exports nothing`);
      if (subpath === './cards') assert.equal(exported.cardsModule, 'object');
      if (subpath === './platform') {
        assert.deepEqual(
          [exported.startPlatform, exported.startApiProcess, exported.loadConfig],
          ['function', 'function', 'function'],
        );
      }
    }
  });

  test('the declarations type a consumer by package name', () => {
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    node([tsc, '-p', 'tsconfig.json']);
  });

  test('the installed CLI runs from the build', () => {
    assert.match(node([path.join(installed, 'bin', 'mainstay.js'), '--help']), /Usage: mainstay/);
  });

  test('in the checkout, the mainstay-source condition resolves the package to src/', () => {
    const script = `const m = await import('mainstay');
      console.log(import.meta.resolve('mainstay'), typeof m.ShardMap);`;
    const args = ['--conditions=mainstay-source', '--import', 'tsx', '--input-type=module'];
    const output = node([...args, '-e', script], PACKAGE_ROOT);
    assert.match(output, /\/src\/index\.ts function$/m);
  });
});
