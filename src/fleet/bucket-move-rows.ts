import type pg from 'pg';
import { bucketExpression, type MovedTable } from './bucket-move-sql.ts';

/**
 * Moving the rows of one bucket between two shard databases (decision 58). Rows travel as
 * `jsonb` (`to_jsonb` on the source, `jsonb_populate_recordset` on the target), never parsed in
 * JavaScript, so no value loses digits. The target is written as a replication apply writes
 * (`session_replication_role = replica`: no triggers, no foreign-key order), since it receives
 * rows already checked on the source; its own logical copy receives them as any change.
 */
export interface BucketRows {
  readonly bucket: number;
  readonly bucketCount: number;
}

/** Rows fetched per round trip when copying. */
export const COPY_PAGE_ROWS_MAX = 1_000;
/** Change-log entries applied per round. */
export const CHANGE_BATCH_MAX = 1_000;

function bucketOfRow(table: MovedTable, alias: string, rows: BucketRows): string {
  return `${bucketExpression(table, alias, rows.bucketCount)} = ${Number(rows.bucket)}`;
}

function keyMatch(table: MovedTable, left: string, right: string): string {
  return table.keyColumns.map((column) => `${left}.${column} = ${right}.${column}`).join(' AND ');
}

/** Writes `rows` (JSON objects of whole rows) into the target, replacing rows of the same key. */
async function upsertRows(tx: pg.ClientBase, table: MovedTable, rows: unknown[]): Promise<void> {
  if (rows.length === 0) return;
  const columns = table.columns.join(', ');
  const others = table.columns.filter((column) => !table.keyColumns.includes(column));
  const onConflict =
    table.kind === 'copy' || others.length === 0
      ? 'DO NOTHING'
      : `DO UPDATE SET ${others.map((column) => `${column} = EXCLUDED.${column}`).join(', ')}`;
  await tx.query(
    `INSERT INTO ${table.name} (${columns})
     SELECT ${columns} FROM jsonb_populate_recordset(NULL::${table.name}, $1::jsonb)
     ON CONFLICT (${table.keyColumns.join(', ')}) ${onConflict}`,
    [JSON.stringify(rows)],
  );
}

/** Deletes from the target the rows with the given keys (JSON objects of key columns). */
async function deleteKeys(tx: pg.ClientBase, table: MovedTable, keys: unknown[]): Promise<void> {
  if (keys.length === 0 || table.kind === 'copy') return;
  await tx.query(
    `DELETE FROM ${table.name} t USING jsonb_populate_recordset(NULL::${table.name}, $1::jsonb) r
      WHERE ${keyMatch(table, 't', 'r')}`,
    [JSON.stringify(keys)],
  );
}

/** Runs `work` in a transaction on `db` that writes as a replication apply does. */
export async function asApply<T>(db: pg.Pool, work: (tx: pg.ClientBase) => Promise<T>): Promise<T> {
  const client = await db.connect();
  try {
    await client.query('BEGIN');
    await client.query('SET LOCAL session_replication_role = replica');
    const value = await work(client);
    await client.query('COMMIT');
    client.release();
    return value;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    client.release(true);
    throw error;
  }
}

/**
 * Copies every row of the bucket in `tables` (every row of a `copy` table) from `source`, as of
 * one snapshot, to `target`, after deleting the bucket's rows the target holds (left by an
 * earlier attempt: no router sends the bucket there before the cutover). Returns the rows copied.
 */
export async function copyBucket(
  source: pg.Pool,
  target: pg.Pool,
  tables: readonly MovedTable[],
  rows: BucketRows,
): Promise<number> {
  const reader = await source.connect();
  let copied = 0;
  try {
    await reader.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    for (const table of tables) {
      if (table.kind !== 'copy') {
        await asApply(target, (tx) =>
          tx.query(`DELETE FROM ${table.name} t WHERE ${bucketOfRow(table, 't', rows)}`),
        );
      }
      copied += await copyTable(reader, target, table, rows);
    }
    await reader.query('COMMIT');
    reader.release();
  } catch (error) {
    await reader.query('ROLLBACK').catch(() => undefined);
    reader.release(true);
    throw error;
  }
  return copied;
}

/** Copies one table's rows of the bucket, a page at a time, through a cursor of `reader`'s. */
async function copyTable(
  reader: pg.ClientBase,
  target: pg.Pool,
  table: MovedTable,
  rows: BucketRows,
): Promise<number> {
  const filter = table.kind === 'copy' ? 'true' : bucketOfRow(table, 't', rows);
  await reader.query(
    `DECLARE bucket_rows NO SCROLL CURSOR FOR SELECT to_jsonb(t) AS row FROM ${table.name} t WHERE ${filter}`,
  );
  let copied = 0;
  for (;;) {
    const page = await reader.query<{ row: unknown }>(
      `FETCH ${COPY_PAGE_ROWS_MAX} FROM bucket_rows`,
    );
    if (page.rows.length === 0) break;
    await asApply(target, (tx) =>
      upsertRows(
        tx,
        table,
        page.rows.map((row) => row.row),
      ),
    );
    copied += page.rows.length;
  }
  await reader.query('CLOSE bucket_rows');
  return copied;
}

/**
 * Applies up to {@link CHANGE_BATCH_MAX} entries of the source's change log (those up to
 * `throughSeq` when given) to the target: each
 * logged key is synced to the row the source holds now (upserted, or deleted when the source no
 * longer has it in the bucket), then the entries are removed from the log. Order does not
 * matter and a repeat is harmless, since the row is read again. Returns how many were applied.
 */
export async function applyChanges(
  source: pg.Pool,
  target: pg.Pool,
  tables: readonly MovedTable[],
  rows: BucketRows,
  throughSeq: string | null = null,
): Promise<number> {
  const { rows: entries } = await source.query<{ seq: string; table_name: string; key: unknown }>(
    `SELECT seq, table_name, key FROM mainstay.bucket_move_changes
      WHERE (bucket = $1 OR bucket IS NULL) AND ($2::bigint IS NULL OR seq <= $2::bigint)
      ORDER BY seq LIMIT ${CHANGE_BATCH_MAX}`,
    [rows.bucket, throughSeq],
  );
  if (entries.length === 0) return 0;
  const byTable = new Map<string, unknown[]>();
  for (const entry of entries) {
    const keys = byTable.get(entry.table_name) ?? [];
    keys.push(entry.key);
    byTable.set(entry.table_name, keys);
  }
  const current = new Map<MovedTable, { found: unknown[]; gone: unknown[] }>();
  for (const table of tables) {
    const keys = byTable.get(table.table);
    if (keys) current.set(table, await currentRows(source, table, keys, rows));
  }
  await asApply(target, async (tx) => {
    for (const [table, { found, gone }] of current) {
      await upsertRows(tx, table, found);
      await deleteKeys(tx, table, gone);
    }
  });
  await source.query('DELETE FROM mainstay.bucket_move_changes WHERE seq = ANY($1::bigint[])', [
    entries.map((entry) => entry.seq),
  ]);
  return entries.length;
}

/** The source's rows now for `keys`: those in the bucket, and the keys it no longer has there. */
async function currentRows(
  source: pg.Pool,
  table: MovedTable,
  keys: unknown[],
  rows: BucketRows,
): Promise<{ found: unknown[]; gone: unknown[] }> {
  const inBucket = table.kind === 'copy' ? '' : `AND ${bucketOfRow(table, 't', rows)}`;
  const { rows: read } = await source.query<{ key: unknown; row: unknown }>(
    `SELECT DISTINCT ON (k.key) k.key, to_jsonb(t) AS row
       FROM jsonb_array_elements($1::jsonb) AS k(key)
       CROSS JOIN LATERAL jsonb_populate_record(NULL::${table.name}, k.key) AS r
       LEFT JOIN ${table.name} t ON ${keyMatch(table, 't', 'r')} ${inBucket}`,
    [JSON.stringify(keys)],
  );
  const found: unknown[] = [];
  const gone: unknown[] = [];
  for (const entry of read) (entry.row === null ? gone : found).push(entry.row ?? entry.key);
  return { found, gone };
}

/** Row count and the sum of the rows' 64-bit hashes of the bucket in one table, as text. */
export async function bucketHash(
  db: pg.Pool,
  table: MovedTable,
  rows: BucketRows,
): Promise<string> {
  const hashOf = (row: string) =>
    db.query<{ rows: string; hash: string }>(
      `SELECT count(*)::text AS rows, coalesce(sum(${row}::numeric), 0)::text AS hash
         FROM ${table.name} t WHERE ${bucketOfRow(table, 't', rows)}`,
    );
  // A table with a column type that has no extended hash is hashed by its rows' text.
  const result = await hashOf('hash_record_extended(t, 0)').catch(() =>
    hashOf('hashtextextended(t::text, 0)'),
  );
  const row = result.rows[0];
  return `${row?.rows ?? '0'}:${row?.hash ?? '0'}`;
}

/** How many rows of the bucket `table` holds. */
export async function bucketRowCount(
  db: pg.Pool,
  table: MovedTable,
  rows: BucketRows,
): Promise<number> {
  const { rows: counted } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM ${table.name} t WHERE ${bucketOfRow(table, 't', rows)}`,
  );
  return counted[0]?.n ?? 0;
}

/** Deletes every row of the bucket from `db` (the source, after the cutover). Returns how many. */
export async function deleteBucket(
  db: pg.Pool,
  tables: readonly MovedTable[],
  rows: BucketRows,
): Promise<number> {
  let deleted = 0;
  for (const table of tables) {
    if (table.kind === 'copy') continue;
    const result = await asApply(db, (tx) =>
      tx.query(`DELETE FROM ${table.name} t WHERE ${bucketOfRow(table, 't', rows)}`),
    );
    deleted += result.rowCount ?? 0;
  }
  return deleted;
}

/** Makes the target's rows of the bucket in one table exactly the source's (under the pause). */
export async function resyncTable(
  source: pg.Pool,
  target: pg.Pool,
  table: MovedTable,
  rows: BucketRows,
): Promise<void> {
  const { rows: read } = await source.query<{ row: unknown }>(
    `SELECT to_jsonb(t) AS row FROM ${table.name} t WHERE ${bucketOfRow(table, 't', rows)}`,
  );
  await asApply(target, async (tx) => {
    await tx.query(`DELETE FROM ${table.name} t WHERE ${bucketOfRow(table, 't', rows)}`);
    await upsertRows(
      tx,
      table,
      read.map((row) => row.row),
    );
  });
}
