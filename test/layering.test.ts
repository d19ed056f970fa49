import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';
import { REPO_ROOT } from './support/repo-root.ts';

/**
 * The layering rules of docs/ARCHITECTURE.md ("Code layout and layering"), checked on the import
 * statements of every file under src/. Type-only imports count: a type import is still a
 * dependency of the design, and a cycle of types is a cycle a reader has to untangle.
 */

const SRC = join(REPO_ROOT, 'src');
const FILE_LINES_MAX = 500;
const FUNCTION_LINES_MAX = 70;

/** `import ... from '...'`, `export ... from '...'`, `import '...'` and `import('...')`. */
const IMPORT_PATTERNS = [
  /\b(?:import|export)\s[^;'"]*?\bfrom\s*['"]([^'"]+)['"]/g,
  /\bimport\s*['"]([^'"]+)['"]/g,
  /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
];

/** Every `.ts` file under `dir`, as paths relative to src/ with forward slashes. */
function sourceFiles(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...sourceFiles(path));
    else if (entry.name.endsWith('.ts')) found.push(relative(SRC, path).split(sep).join('/'));
  }
  return found.sort();
}

/** The module specifiers a source text imports, line comments and block comments removed. */
function importSpecifiers(text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const specifiers = new Set<string>();
  for (const pattern of IMPORT_PATTERNS) {
    for (const match of code.matchAll(pattern)) {
      if (match[1] !== undefined) specifiers.add(match[1]);
    }
  }
  return [...specifiers];
}

interface SourceFile {
  readonly lines: number;
  /** Files under src/ this one imports (relative to src/). */
  readonly internal: readonly string[];
  /** Bare package specifiers this one imports (`fastify`, `pg`, `node:crypto`). */
  readonly external: readonly string[];
}

function readSources(): Map<string, SourceFile> {
  const sources = new Map<string, SourceFile>();
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(join(SRC, file), 'utf8');
    const internal: string[] = [];
    const external: string[] = [];
    for (const specifier of importSpecifiers(text)) {
      if (!specifier.startsWith('.')) {
        external.push(specifier);
        continue;
      }
      const target = relative(SRC, resolve(SRC, dirname(file), specifier))
        .split(sep)
        .join('/');
      internal.push(target);
    }
    const lines = text.endsWith('\n') ? text.split('\n').length - 1 : text.split('\n').length;
    sources.set(file, { lines, internal, external });
  }
  return sources;
}

const SOURCES = readSources();

/** Every import from a file under one of `from` to a file under one of `to`, as `a -> b`. */
function crossings(from: readonly string[], to: readonly string[]): string[] {
  const under = (file: string, folders: readonly string[]) =>
    folders.some((folder) => file.startsWith(`${folder}/`));
  const found: string[] = [];
  for (const [file, source] of SOURCES) {
    if (!under(file, from)) continue;
    for (const target of source.internal) {
      if (under(target, to)) found.push(`${file} -> ${target}`);
    }
  }
  return found;
}

/** The cycles of the import graph: one per strongly connected component with a loop (Tarjan). */
function importCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  let next = 0;
  const visit = (node: string): void => {
    index.set(node, next);
    low.set(node, next);
    next += 1;
    stack.push(node);
    onStack.add(node);
    for (const target of graph.get(node) ?? []) {
      if (!graph.has(target)) continue;
      if (!index.has(target)) {
        visit(target);
        low.set(node, Math.min(low.get(node) ?? 0, low.get(target) ?? 0));
      } else if (onStack.has(target)) {
        low.set(node, Math.min(low.get(node) ?? 0, index.get(target) ?? 0));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    for (let member = stack.pop(); member !== undefined; member = stack.pop()) {
      onStack.delete(member);
      component.push(member);
      if (member === node) break;
    }
    const selfLoop = component.length === 1 && (graph.get(node) ?? []).includes(node);
    if (component.length > 1 || selfLoop) cycles.push(component.sort());
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return cycles;
}

test('the import reader finds every form of import and skips comments', () => {
  const text = [
    "import type { A } from './a.ts';",
    "import {\n  B,\n  C,\n} from '../b.ts';",
    "export { D } from './d.ts';",
    "export * from './e.ts';",
    "import './f.ts';",
    "type G = import('./g.ts').G;",
    "// import { H } from './h.ts';",
    "/* import { I } from './i.ts'; */",
    "import fastify from 'fastify';",
  ].join('\n');
  assert.deepEqual(importSpecifiers(text).sort(), [
    '../b.ts',
    './a.ts',
    './d.ts',
    './e.ts',
    './f.ts',
    './g.ts',
    'fastify',
  ]);
});

test('the cycle finder finds a loop of two, a loop of three and a self-import, and no more', () => {
  const graph = new Map<string, string[]>([
    ['a', ['b']],
    ['b', ['a', 'c']],
    ['c', ['d']],
    ['d', ['e']],
    ['e', ['c']],
    ['f', ['f']],
    ['g', ['a']],
  ]);
  assert.deepEqual(importCycles(graph).sort(), [['a', 'b'], ['c', 'd', 'e'], ['f']]);
  assert.deepEqual(
    importCycles(
      new Map([
        ['a', ['b']],
        ['b', []],
      ]),
    ),
    [],
  );
});

test('the rules see the source tree (guards against a test that reads nothing)', () => {
  assert.ok(SOURCES.size > 50, `only ${SOURCES.size} files read under src/`);
  assert.ok(SOURCES.has('index.ts'));
  const importing = [...SOURCES.values()].filter((source) => source.internal.length > 0);
  assert.ok(importing.length > 50);
});

test('no import cycle among the files of src/', () => {
  const graph = new Map([...SOURCES].map(([file, source]) => [file, source.internal]));
  assert.deepEqual(importCycles(graph), []);
});

test('every relative import names a file that exists', () => {
  const missing: string[] = [];
  for (const [file, source] of SOURCES) {
    for (const target of source.internal) {
      if (!SOURCES.has(target)) missing.push(`${file} -> ${target}`);
    }
  }
  assert.deepEqual(missing, []);
});

test('the fleet does not reach into the data layer', () => {
  assert.deepEqual(crossings(['fleet'], ['data']), []);
});

test('the data layer knows no fleet, domain, HTTP or platform', () => {
  assert.deepEqual(crossings(['data'], ['fleet', 'domains', 'http', 'platform']), []);
});

test('the batching engine knows no domain, HTTP, platform, fleet or CLI', () => {
  assert.deepEqual(
    crossings(['engine'], ['domains', 'http', 'platform', 'fleet', 'cli', 'demo']),
    [],
  );
});

test('environments build on the fleet and the config, and know no HTTP, CLI, domain or platform', () => {
  assert.deepEqual(
    crossings(['environments'], ['http', 'cli', 'domains', 'platform', 'data', 'engine', 'demo']),
    [],
  );
});

test('the platform names no domain', () => {
  assert.deepEqual(crossings(['platform'], ['domains']), []);
});

test('the PostgreSQL plumbing and the shared vocabulary sit below the data layer and the fleet', () => {
  const above = ['catalog', 'data', 'fleet', 'domains', 'http', 'platform', 'cli', 'demo', 'jobs'];
  assert.deepEqual(crossings(['postgres', 'topology'], above), []);
  assert.deepEqual(crossings(['topology'], ['postgres']), []);
});

test('table comparison knows only PostgreSQL plumbing and the error catalogue', () => {
  const above = ['catalog', 'data', 'fleet', 'domains', 'http', 'platform', 'cli', 'demo', 'jobs'];
  assert.deepEqual(crossings(['compare'], [...above, 'engine', 'secrets', 'config']), []);
});

test('the workflow engine knows only PostgreSQL plumbing, migrations and the error catalogue', () => {
  const above = ['catalog', 'data', 'fleet', 'domains', 'http', 'platform', 'cli', 'demo', 'jobs'];
  assert.deepEqual(
    crossings(['workflow'], [...above, 'engine', 'secrets', 'config', 'compare']),
    [],
  );
});

test("a domain's core imports no HTTP: neither fastify nor src/http", () => {
  const offending: string[] = [];
  for (const [file, source] of SOURCES) {
    if (!/^domains\/[^/]+\/core\//.test(file)) continue;
    for (const target of source.internal) {
      if (target.startsWith('http/')) offending.push(`${file} -> ${target}`);
    }
    for (const name of source.external) {
      if (name === 'fastify' || name.startsWith('fastify/') || name.startsWith('@fastify/'))
        offending.push(`${file} -> ${name}`);
    }
  }
  assert.deepEqual(offending, []);
});

test('every pool in src/ is made by guardedPool, so a held client cannot crash the process', () => {
  const makers = [...SOURCES.keys()].filter((file) =>
    /new\s+(?:pg\.)?Pool\s*\(/.test(readFileSync(join(SRC, file), 'utf8')),
  );
  assert.deepEqual(makers, ['postgres/guarded-pool.ts']);
});

test(`no file in src/ is over ${FILE_LINES_MAX} lines`, () => {
  const long = [...SOURCES]
    .filter(([, source]) => source.lines > FILE_LINES_MAX)
    .map(([file, source]) => `${file}: ${source.lines} lines`);
  assert.deepEqual(long, []);
});

/** Every function, method, accessor and arrow function in `text` longer than `max` lines. */
function longFunctions(file: string, text: string, max: number): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body !== undefined) {
      const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const last = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      if (last - first + 1 > max) {
        const name = node.name?.getText(source) ?? '(anonymous)';
        found.push(`${file}:${first + 1} ${name}: ${last - first + 1} lines`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

test('the function-length reader counts a function from its first line to its last', () => {
  const body = Array.from({ length: 8 }, (_, n) => `  const a${n} = ${n};`).join('\n');
  const text = `function long() {\n${body}\n}\nconst short = () => 1;\nclass C {\n  m() {\n${body}\n  }\n}\n`;
  assert.deepEqual(longFunctions('x.ts', text, 9), [
    'x.ts:1 long: 10 lines',
    'x.ts:13 m: 10 lines',
  ]);
  assert.deepEqual(longFunctions('x.ts', text, 10), []);
});

test(`no function in src/ is over ${FUNCTION_LINES_MAX} lines`, () => {
  const long = [...SOURCES.keys()].flatMap((file) =>
    longFunctions(file, readFileSync(join(SRC, file), 'utf8'), FUNCTION_LINES_MAX),
  );
  assert.deepEqual(long, []);
});
