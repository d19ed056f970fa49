import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { ConnectionInfo } from './postgres-server.ts';
import { quoteLiteral } from './shard-replication.ts';

/** The contents of one table at a point: its row count and the sum of its rows' hashes. */
export interface TableHash {
  readonly database: string;
  /** Schema-qualified and quoted, as `format('%I.%I')` writes it. */
  readonly table: string;
  readonly rows: string;
  /** Sum of the rows' 64-bit hashes, exact (numeric), as text. */
  readonly hash: string;
  /** `record`: `hash_record_extended` (by type); `text`: the row's text, in fixed settings. */
  readonly method: 'record' | 'text';
}

/** Bounds of taking a consistent point. */
export const CONSISTENT_POINT = {
  /** Longest wait for one table's lock before the attempt is given up and tried again. */
  lockTimeoutMs: 5_000,
  attemptMax: 5,
  retryPauseMs: 200,
} as const;

/**
 * Every ordinary, permanent table outside the system schemas (unlogged ones are not in WAL), or
 * of schema `$1` only when it is not null.
 */
const TABLES_SQL = `
SELECT format('%I.%I', n.nspname, c.relname) AS name
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r' AND c.relpersistence = 'p'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
   AND ($1::text IS NULL OR n.nspname = $1)
 ORDER BY 1`;

/** Settings under which a row's text form is the same on any server of the same major. */
const TEXT_SETTINGS = [
  `SET LOCAL TimeZone = 'UTC'`,
  `SET LOCAL DateStyle = 'ISO, YMD'`,
  `SET LOCAL IntervalStyle = 'postgres'`,
  'SET LOCAL extra_float_digits = 1',
  `SET LOCAL bytea_output = 'hex'`,
];

/**
 * Hashes `tables` (or every table, or every table of `schema`) of the database `client` is in,
 * inside its current transaction (which should be REPEATABLE READ, so all are of one snapshot).
 * A table whose column types lack a hash function is hashed by its rows' text instead.
 */
export async function hashTables(
  client: pg.ClientBase,
  database: string,
  tables?: readonly { readonly table: string; readonly method: TableHash['method'] }[],
  schema?: string,
): Promise<TableHash[]> {
  for (const setting of TEXT_SETTINGS) await client.query(setting);
  const wanted =
    tables ??
    (await client.query<{ name: string }>(TABLES_SQL, [schema ?? null])).rows.map((row) => ({
      table: row.name,
      method: 'record' as const,
    }));
  const hashes: TableHash[] = [];
  for (const { table, method } of wanted) {
    await client.query('SAVEPOINT table_hash');
    try {
      hashes.push({ database, table, method, ...(await hashOne(client, table, method)) });
      await client.query('RELEASE SAVEPOINT table_hash');
    } catch (error) {
      await client.query('ROLLBACK TO SAVEPOINT table_hash');
      if (method === 'text' || tables) throw error;
      hashes.push({ database, table, method: 'text', ...(await hashOne(client, table, 'text')) });
    }
  }
  return hashes;
}

async function hashOne(
  client: pg.ClientBase,
  table: string,
  method: TableHash['method'],
): Promise<{ rows: string; hash: string }> {
  const row = method === 'record' ? 'hash_record_extended(t, 0)' : 'hashtextextended(t::text, 0)';
  const { rows } = await client.query<{ rows: string; hash: string }>(
    `SELECT count(*)::text AS rows, coalesce(sum(${row}::numeric), 0)::text AS hash FROM ${table} t`,
  );
  return { rows: rows[0]?.rows ?? '0', hash: rows[0]?.hash ?? '0' };
}

/** A point in a server's WAL, and the contents of its tables exactly there. */
export interface ConsistentPoint {
  readonly name: string;
  /** Where the restore point record ends: a restore stopping at `name` holds exactly `tables`. */
  readonly lsn: string;
  readonly tables: readonly TableHash[];
}

/**
 * Marks a point in a primary's WAL and hashes every table as of exactly that point, while
 * writes go on. In each database, every table is locked in SHARE mode (it waits for the
 * writers in flight, and holds new ones), and a snapshot taken after the locks is exported;
 * with all databases locked, `pg_create_restore_point(name)` is written; the snapshots are
 * imported on other connections and the locks let go (writes pause for those few round trips).
 * No write to a hashed table committed between the snapshots and the restore point record, so
 * a recovery that stops at `name` holds the rows those snapshots see, which are then hashed.
 * A lock wait that times out (a writer holding a lock for long, a deadlock) is tried again.
 */
export async function consistentPoint(
  connection: ConnectionInfo,
  name: string,
): Promise<ConsistentPoint> {
  const admin = new pg.Client({ ...connection, database: 'postgres' });
  admin.on('error', () => undefined);
  await admin.connect();
  try {
    const { rows } = await admin.query<{ datname: string }>(
      'SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY 1',
    );
    const databases = rows.map((row) => row.datname);
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await lockedPoint(connection, admin, databases, name);
      } catch (error) {
        if (attempt >= CONSISTENT_POINT.attemptMax || !isLockFailure(error)) throw error;
        await sleep(CONSISTENT_POINT.retryPauseMs);
      }
    }
  } finally {
    await admin.end().catch(() => undefined);
  }
}

async function lockedPoint(
  connection: ConnectionInfo,
  admin: pg.Client,
  databases: readonly string[],
  name: string,
): Promise<ConsistentPoint> {
  const lockers = await Promise.all(databases.map((db) => openClient(connection, db)));
  const hashers = await Promise.all(databases.map((db) => openClient(connection, db)));
  try {
    const snapshots = await Promise.all(lockers.map((client) => lockAll(client)));
    const { rows } = await admin.query<{ lsn: string }>(
      'SELECT pg_create_restore_point($1)::text AS lsn',
      [name],
    );
    const lsn = rows[0]?.lsn;
    if (!lsn) throw new Error('pg_create_restore_point returned no position');
    await Promise.all(
      hashers.map(async (client, n) => {
        await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
        await client.query(`SET TRANSACTION SNAPSHOT ${quoteLiteral(snapshots[n] ?? '')}`);
      }),
    );
    await Promise.all(lockers.map((client) => client.query('COMMIT')));
    const tables = await Promise.all(
      hashers.map(async (client, n) => {
        const hashed = await hashTables(client, databases[n] ?? '');
        await client.query('COMMIT');
        return hashed;
      }),
    );
    return { name, lsn, tables: tables.flat() };
  } finally {
    await Promise.all([...lockers, ...hashers].map((client) => client.end().catch(() => null)));
  }
}

/** Locks every table of the client's database in SHARE mode; exports a snapshot taken after. */
async function lockAll(client: pg.Client): Promise<string> {
  const { rows } = await client.query<{ name: string }>(TABLES_SQL, [null]);
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
  await client.query(`SET LOCAL lock_timeout = ${CONSISTENT_POINT.lockTimeoutMs}`);
  // LOCK is not a query: the snapshot is taken by the first query after it, as the docs of
  // LOCK advise for REPEATABLE READ.
  if (rows.length > 0)
    await client.query(`LOCK TABLE ${rows.map((row) => row.name).join(', ')} IN SHARE MODE`);
  const exported = await client.query<{ id: string }>('SELECT pg_export_snapshot() AS id');
  const id = exported.rows[0]?.id;
  if (!id) throw new Error('pg_export_snapshot returned nothing');
  return id;
}

async function openClient(connection: ConnectionInfo, database: string): Promise<pg.Client> {
  const client = new pg.Client({ ...connection, database });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** lock_not_available (a lock wait that timed out) or deadlock_detected. */
function isLockFailure(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === '55P03' || code === '40P01';
}
