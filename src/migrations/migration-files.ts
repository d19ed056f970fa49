import { readdirSync, readFileSync } from 'node:fs';
import type { BucketRules } from './bucket-rule.ts';
import type { Migration, MigrationSet } from './migration.ts';

/** A migration file's name: its version in four digits, an underscore, then its name. */
const MIGRATION_FILE = /^(\d{4})_([a-z0-9][a-z0-9_-]*)\.sql$/;

/**
 * Reads the text of one frozen SQL file. Line ends are read as LF whatever the checkout did to
 * them (a Git client may write CRLF), so the text, and the checksum the ledger compares, are
 * the same on every machine.
 */
export function readMigrationText(file: URL): string {
  return readFileSync(file, 'utf8').replaceAll('\r\n', '\n');
}

/**
 * Loads migration set `name` from the `.sql` files in `dir` (a directory URL, resolved against
 * the calling module's `import.meta.url`, so it works from `src/` and from the built `dist/`
 * alike). Each file is one migration, named `<version>_<name>.sql` (`0003_shared-recent-writes.sql`),
 * versions running 1, 2, 3... without a gap.
 *
 * Migrations are files, not TypeScript constants, so that a released migration is text frozen
 * once: editing the SQL a function was created from would change a released migration's
 * checksum and stop every existing fleet at its next start (`migration_checksum_mismatch`). A
 * change is a new file (`CREATE OR REPLACE FUNCTION` for a function). Read once, when the
 * module that names the set is loaded; a missing or misnamed file fails that import.
 *
 * @example
 * export const DEMO_MIGRATIONS = loadMigrationSet('demo', new URL('./sql/', import.meta.url));
 */
export function loadMigrationSet(name: string, dir: URL, bucketRules?: BucketRules): MigrationSet {
  if (!dir.pathname.endsWith('/')) throw new Error(`migration set ${name}: ${dir} must end in /`);
  const files = readdirSync(dir)
    .filter((file) => file.endsWith('.sql'))
    .sort();
  const migrations = files.map((file, index): Migration => {
    const match = MIGRATION_FILE.exec(file);
    const version = Number(match?.[1]);
    const migrationName = match?.[2];
    if (migrationName === undefined) {
      throw new Error(`migration set ${name}: ${file} is not named <4-digit version>_<name>.sql`);
    }
    if (version !== index + 1) {
      throw new Error(
        `migration set ${name}: ${file} should be version ${index + 1} (no gaps, no repeats)`,
      );
    }
    return { version, name: migrationName, sql: readMigrationText(new URL(file, dir)) };
  });
  if (migrations.length === 0) throw new Error(`migration set ${name}: no .sql files in ${dir}`);
  return bucketRules ? { name, migrations, bucketRules } : { name, migrations };
}
