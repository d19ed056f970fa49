import { createHash } from 'node:crypto';
import type pg from 'pg';
import { MainstayError } from '../errors/mainstay-error.ts';
import { UNBOUNDED_MS, withQueryBound } from '../postgres/query-bound.ts';
import type { BucketCarrier } from './bucket-carry.ts';
import type { BucketRules } from './bucket-rule.ts';

/**
 * One schema change. Migrations are append-only: a released one never changes (its text is a
 * frozen `.sql` file, read by {@link loadMigrationSet}), and a change is a new migration.
 */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/** An ordered list of migrations for one kind of database, under a unique set name. */
export interface MigrationSet {
  readonly name: string;
  readonly migrations: readonly Migration[];
  /** How the rows of each shard table the set creates map to buckets (see bucket-rule.ts). */
  readonly bucketRules?: BucketRules;
  /** What follows a moving bucket from the set's `pinned` tables (see bucket-carry.ts). */
  readonly bucketCarrier?: BucketCarrier;
}

/** What a migration run did to one database. */
export interface MigrationResult {
  readonly applied: readonly string[];
  readonly skipped: number;
}

/**
 * The ledger of applied migrations lives in schema `mainstay`, outside `public`, so that shard
 * publications (which publish schema `public`) never replicate it: each copy keeps its own.
 */
const LEDGER_SQL = `
CREATE SCHEMA IF NOT EXISTS mainstay;
CREATE TABLE IF NOT EXISTS mainstay.migrations (
  migration_set text NOT NULL,
  version integer NOT NULL,
  name text NOT NULL,
  checksum text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (migration_set, version)
)`;

/** Advisory lock key shared by every migrator, so two processes never migrate one database at once. */
const MIGRATION_LOCK_KEY = 7_771_001;

/**
 * The SHA-256 (hex) of a migration's SQL, as the ledger records it: a database refuses to start
 * on a migration whose text no longer has the checksum it was applied with. The list of released
 * files' checksums (released.json) uses the same function.
 */
export function migrationChecksum(sql: string): string {
  return createHash('sha256').update(sql).digest('hex');
}

/**
 * Applies the not-yet-applied migrations of each set, each in its own transaction, under an
 * advisory lock. Idempotent: a second run applies nothing. A migration whose SQL changed after
 * it was applied stops the run with `migration_checksum_mismatch`.
 */
export async function migrate(
  client: pg.ClientBase,
  sets: readonly MigrationSet[],
): Promise<MigrationResult> {
  const applied: string[] = [];
  let skipped = 0;
  await client.query(unbounded('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]));
  try {
    await client.query(LEDGER_SQL);
    for (const set of sets) {
      const { rows } = await client.query<{ version: number; checksum: string }>(
        'SELECT version, checksum FROM mainstay.migrations WHERE migration_set = $1',
        [set.name],
      );
      const done = new Map(rows.map((row) => [row.version, row.checksum]));
      for (const migration of [...set.migrations].sort((a, b) => a.version - b.version)) {
        const sum = migrationChecksum(migration.sql);
        const previous = done.get(migration.version);
        if (previous !== undefined) {
          if (previous !== sum) {
            throw new MainstayError(
              'migration_checksum_mismatch',
              `migration ${set.name}/${migration.version} (${migration.name}) was applied with other SQL`,
            );
          }
          skipped += 1;
          continue;
        }
        await applyOne(client, set.name, migration, sum);
        applied.push(`${set.name}/${migration.version}-${migration.name}`);
      }
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
  }
  return { applied, skipped };
}

/**
 * How many migrations of `sets` a database has not applied yet (all of them when it has no
 * ledger). Read without the lock: a hint for callers that prepare a database before
 * {@link migrate}, which decides for itself.
 */
export async function pendingMigrationCount(
  client: pg.ClientBase | pg.Pool,
  sets: readonly MigrationSet[],
): Promise<number> {
  const total = sets.reduce((sum, set) => sum + set.migrations.length, 0);
  const { rows: ledger } = await client.query<{ present: boolean }>(
    "SELECT to_regclass('mainstay.migrations') IS NOT NULL AS present",
  );
  if (!ledger[0]?.present) return total;
  const { rows } = await client.query<{ migration_set: string; version: number }>(
    'SELECT migration_set, version FROM mainstay.migrations',
  );
  const done = new Set(rows.map((row) => `${row.migration_set}/${row.version}`));
  let pending = 0;
  for (const set of sets) {
    for (const migration of set.migrations) {
      if (!done.has(`${set.name}/${migration.version}`)) pending += 1;
    }
  }
  return pending;
}

/**
 * A migration, and the wait for another process's migration to end, take as long as they take:
 * a pool's client-side bound on one query (the fleet's pools have one, meant for probes) must
 * not cut a long migration short and leave its outcome unknown.
 */
function unbounded(text: string, values?: unknown[]): pg.QueryConfig {
  return withQueryBound(text, UNBOUNDED_MS, values);
}

async function applyOne(client: pg.ClientBase, setName: string, migration: Migration, sum: string) {
  await client.query('BEGIN');
  try {
    await client.query(unbounded(migration.sql));
    await client.query(
      'INSERT INTO mainstay.migrations (migration_set, version, name, checksum) VALUES ($1, $2, $3, $4)',
      [setName, migration.version, migration.name, sum],
    );
    await client.query(unbounded('COMMIT'));
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  }
}
