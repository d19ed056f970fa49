import pg from 'pg';
import type { BackupManifest } from './backup-manifest.ts';
import type { RestoredServer } from './restore.ts';
import { hashTables, type TableHash } from './table-hashes.ts';

/** One table whose restored contents differ from the backup's record. */
export interface TableDifference {
  readonly database: string;
  readonly table: string;
  readonly expected: { readonly rows: string; readonly hash: string };
  /** `null`: the table could not be read on the restored server. */
  readonly actual: { readonly rows: string; readonly hash: string } | null;
}

/** What checking a restored server found; `ok` when `problems` is empty. */
export interface RestoreVerification {
  readonly ok: boolean;
  readonly problems: readonly string[];
  readonly tablesCompared: number;
  readonly differences: readonly TableDifference[];
}

/**
 * Checks a restored server against its backup's manifest: the same system identifier (a copy
 * of that cluster), out of recovery, and every table the backup hashed at its restore point
 * with the same row count and hash, computed the same way (by type, or by text where the
 * backup had to) in one snapshot per database. Never throws for what it finds.
 */
export async function verifyRestore(
  restored: RestoredServer,
  manifest: BackupManifest,
): Promise<RestoreVerification> {
  const problems: string[] = [];
  const differences: TableDifference[] = [];
  const admin = new pg.Client({ ...restored.connection, database: 'postgres' });
  admin.on('error', () => undefined);
  await admin.connect();
  try {
    const { rows } = await admin.query<{ id: string; standby: boolean }>(
      `SELECT (SELECT system_identifier::text FROM pg_control_system()) AS id,
              pg_is_in_recovery() AS standby`,
    );
    if (rows[0]?.id !== manifest.systemIdentifier)
      problems.push(
        `system identifier ${rows[0]?.id}, the backup's is ${manifest.systemIdentifier}`,
      );
    if (rows[0]?.standby !== false) problems.push('the restored server is still in recovery');
  } finally {
    await admin.end().catch(() => undefined);
  }
  const byDatabase = new Map<string, TableHash[]>();
  for (const table of manifest.tables)
    byDatabase.set(table.database, [...(byDatabase.get(table.database) ?? []), table]);
  for (const [database, expected] of byDatabase) {
    const actual = await restoredHashes(restored, database, expected).catch((error: unknown) => {
      problems.push(`database ${database}: ${error instanceof Error ? error.message : error}`);
      return [];
    });
    const found = new Map(actual.map((table) => [table.table, table]));
    for (const table of expected) {
      const got = found.get(table.table);
      if (got?.rows === table.rows && got.hash === table.hash) continue;
      differences.push({
        database,
        table: table.table,
        expected: { rows: table.rows, hash: table.hash },
        actual: got ? { rows: got.rows, hash: got.hash } : null,
      });
    }
  }
  for (const d of differences)
    problems.push(
      `${d.database} ${d.table}: ${d.actual ? `${d.actual.rows} rows` : 'unreadable'}, the backup had ${d.expected.rows} rows${d.actual?.rows === d.expected.rows ? ' with another hash' : ''}`,
    );
  return {
    ok: problems.length === 0,
    problems,
    tablesCompared: manifest.tables.length,
    differences,
  };
}

async function restoredHashes(
  restored: RestoredServer,
  database: string,
  tables: readonly TableHash[],
): Promise<TableHash[]> {
  const client = new pg.Client({ ...restored.connection, database });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const hashes: TableHash[] = [];
    for (const table of tables) {
      // One by one, so a table that cannot be read is one difference, not the database's.
      const one = await hashTables(client, database, [table]).catch(() => []);
      hashes.push(...one);
    }
    await client.query('COMMIT');
    return hashes;
  } finally {
    await client.end().catch(() => undefined);
  }
}
