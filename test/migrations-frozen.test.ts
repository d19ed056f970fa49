/**
 * Released migrations are frozen (docs/ARCHITECTURE.md, decision 10): every SQL file under src/
 * is listed with its checksum in src/migrations/released.json and still has it, every set the
 * code applies is made of those files, and the loader refuses a set it cannot trust. No database.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { AUDIT_MIGRATIONS } from '../src/audit/audit-log.ts';
import { CATALOG_MIGRATIONS } from '../src/catalog/catalog-migrations.ts';
import { IDEMPOTENCY_MIGRATIONS } from '../src/data/idempotency.ts';
import { TAKEOVER_SCHEMA, takeoverMigrations } from '../src/data/takeover/takeover-writer.ts';
import { DEMO_MIGRATIONS } from '../src/demo/demo-data.ts';
import { AUTHORIZATION_MIGRATIONS } from '../src/domains/cards/sql/authorization-migrations.ts';
import { BINDING_MIGRATIONS } from '../src/domains/cards/sql/binding-migrations.ts';
import { CARD_ACCOUNT_MIGRATIONS } from '../src/domains/cards/sql/card-account-migrations.ts';
import { STAND_IN_REGISTRY_MIGRATIONS } from '../src/domains/cards/sql/stand-in-registry-migrations.ts';
import { type MigrationSet, migrationChecksum } from '../src/migrations/migration.ts';
import { loadMigrationSet, readMigrationText } from '../src/migrations/migration-files.ts';
import { REPO_ROOT } from './support/repo-root.ts';

const SRC = `${path.join(REPO_ROOT, 'src')}${path.sep}`;
const RELEASED = JSON.parse(
  readFileSync(new URL('../src/migrations/released.json', import.meta.url), 'utf8'),
) as { files: Record<string, string> };

/** Every migration set the code applies, with the module that names it. */
const SETS: readonly MigrationSet[] = [
  AUDIT_MIGRATIONS,
  CATALOG_MIGRATIONS,
  IDEMPOTENCY_MIGRATIONS,
  DEMO_MIGRATIONS,
  BINDING_MIGRATIONS,
  CARD_ACCOUNT_MIGRATIONS,
  AUTHORIZATION_MIGRATIONS,
  STAND_IN_REGISTRY_MIGRATIONS,
];

/** Files under `dir` whose name ends in `ending`, relative to src/ with forward slashes. */
function filesUnder(dir: string, ending: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...filesUnder(full, ending));
    else if (entry.name.endsWith(ending))
      found.push(path.relative(SRC, full).split(path.sep).join('/'));
  }
  return found.sort();
}

const checksumOf = (file: string) =>
  migrationChecksum(readMigrationText(pathToFileURL(SRC + file)));

describe('released migrations are frozen', () => {
  test('every SQL file under src/ is listed in src/migrations/released.json', () => {
    const unlisted = filesUnder(SRC, '.sql').filter((file) => !(file in RELEASED.files));
    assert.deepEqual(
      unlisted,
      [],
      `list each new migration with its checksum in src/migrations/released.json: ${unlisted
        .map((file) => `"${file}": "${checksumOf(file)}"`)
        .join(', ')}`,
    );
  });

  test('no released migration file was edited, renamed or deleted', () => {
    const present = new Set(filesUnder(SRC, '.sql'));
    for (const [file, released] of Object.entries(RELEASED.files)) {
      assert.ok(
        present.has(file),
        `released migration src/${file} is gone: fleets have applied it, so it stays as it was; ` +
          'add a new migration instead',
      );
      const actual = checksumOf(file);
      assert.equal(
        actual,
        released,
        `src/${file} is not the text that was released (sha256 ${actual}, released ${released}). ` +
          'Fleets that applied it would stop with migration_checksum_mismatch: restore it and ' +
          'add a new migration instead (CREATE OR REPLACE FUNCTION to change a function)',
      );
    }
  });

  test('every migration the code applies is a released file', () => {
    const releasedSums = new Set(Object.values(RELEASED.files));
    const names = SETS.map((set) => set.name);
    assert.equal(new Set(names).size, names.length, 'set names are unique');
    for (const set of SETS) {
      assert.ok(set.migrations.length > 0, set.name);
      for (const migration of set.migrations) {
        const where = `${set.name}/${migration.version} (${migration.name})`;
        assert.ok(
          releasedSums.has(migrationChecksum(migration.sql)),
          `${where} is no released file`,
        );
      }
    }
    const template = readMigrationText(
      new URL('data/takeover/sql/takeover-table.sql', pathToFileURL(SRC)),
    );
    assert.ok(
      template.includes(`${TAKEOVER_SCHEMA}.{table} `),
      'the template names TAKEOVER_SCHEMA',
    );
    const [appends] = takeoverMigrations(['appends']).migrations;
    assert.equal(appends?.sql, template.replaceAll('{table}', 'appends'));
    assert.doesNotMatch(appends?.sql ?? '', /[{}]/);
  });

  test('no module writes migration SQL inline', () => {
    const modules = filesUnder(SRC, '.ts');
    assert.ok(modules.length > 100, `only ${modules.length} modules read under ${SRC}`);
    const inline = modules.filter((file) =>
      /\bsql:\s*[`'"]/.test(readFileSync(SRC + file, 'utf8')),
    );
    assert.deepEqual(inline, [], 'a migration is a .sql file read by loadMigrationSet');
  });

  test('card_authorize_batch is dropped by a migration, and nothing calls it', () => {
    const sqls = AUTHORIZATION_MIGRATIONS.migrations.map((migration) => migration.sql);
    const dropped = sqls.findIndex((sql) =>
      /^DROP FUNCTION public\.card_authorize_batch\(/m.test(sql),
    );
    assert.ok(dropped > 0, 'a migration drops card_authorize_batch');
    const recreated = sqls
      .slice(dropped)
      .some((sql) => /FUNCTION public\.card_authorize_batch\(/.test(sql.replace(/^DROP .*$/m, '')));
    assert.equal(recreated, false, 'no later migration creates it again');
    const callers = filesUnder(SRC, '.ts').filter((file) =>
      /card_authorize_batch\s*\(/.test(readFileSync(SRC + file, 'utf8')),
    );
    assert.deepEqual(callers, []);
  });
});

describe('the migration loader', () => {
  const work = mkdtempSync(path.join(os.tmpdir(), 'mainstay-migration-files-'));
  after(() => rmSync(work, { recursive: true, force: true }));

  /** A directory holding `files` (name to text), as a URL ending in a slash. */
  function folder(name: string, files: Record<string, string>): URL {
    const dir = path.join(work, name);
    mkdirSync(dir);
    for (const [file, text] of Object.entries(files)) writeFileSync(path.join(dir, file), text);
    return pathToFileURL(`${dir}/`);
  }

  test('reads one migration per file, in version order, other files aside', () => {
    const dir = folder('good', {
      '0002_second-step.sql': 'SELECT 2;',
      '0001_first_step.sql': 'SELECT 1;\r\nSELECT 11;',
      'README.md': 'not a migration',
    });
    assert.deepEqual(loadMigrationSet('good', dir), {
      name: 'good',
      migrations: [
        { version: 1, name: 'first_step', sql: 'SELECT 1;\nSELECT 11;' },
        { version: 2, name: 'second-step', sql: 'SELECT 2;' },
      ],
    });
  });

  test('refuses a gap, a repeat, a misnamed file, an empty folder and a path without a slash', () => {
    const cases: [string, Record<string, string>, RegExp][] = [
      ['gap', { '0001_a.sql': '', '0003_c.sql': '' }, /0003_c\.sql should be version 2/],
      ['repeat', { '0001_a.sql': '', '0001_b.sql': '' }, /0001_b\.sql should be version 2/],
      ['short', { '1_a.sql': '' }, /1_a\.sql is not named/],
      ['spaces', { '0001_a b.sql': '' }, /is not named/],
      ['empty', {}, /no \.sql files/],
    ];
    for (const [name, files, message] of cases) {
      assert.throws(() => loadMigrationSet(name, folder(name, files)), message, name);
    }
    const noSlash = new URL(folder('slash', { '0001_a.sql': '' }).href.replace(/\/$/, ''));
    assert.throws(() => loadMigrationSet('slash', noSlash), /must end in \//);
  });
});
