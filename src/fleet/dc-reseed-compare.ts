import type pg from 'pg';
import { quoteIdent } from './shard-replication.ts';

/**
 * Rows of one table committed in the tail window that are compared key by key with the home.
 * The bound keeps a re-seed of a busy shard from pulling a whole table across; a table that
 * reaches it is reported `truncated`, and the operator reads the rest from the preserved copy.
 */
export const TAIL_ROW_COUNT_MAX = 10_000;
/** Keys of rows missing on the home listed per table, as a starting point for the operator. */
export const MISSING_KEY_SAMPLE_MAX = 10;

/** What one table of a preserved (returning) database holds compared with the shard's home. */
export interface TableComparison {
  /** `schema.table`, quoted as SQL would need it. */
  readonly table: string;
  /** Rows in the preserved database. */
  readonly rowsPreserved: number;
  /** Rows in the same table on the current home. */
  readonly rowsOnHome: number;
  /** Whether the table has a primary key: without one, only the counts are compared. */
  readonly hasPrimaryKey: boolean;
  /** Rows of the preserved database committed at or after the window start. */
  readonly rowsInTailWindow: number;
  /** Of those, rows whose key the home does not have: the lost tail (or a split-brain write). */
  readonly rowsMissingOnHome: number;
  /** Of those, rows the home has under the same key with other values. */
  readonly rowsDifferentOnHome: number;
  /** Keys (as PostgreSQL prints a row) of up to {@link MISSING_KEY_SAMPLE_MAX} missing rows. */
  readonly missingKeysSample: readonly string[];
  /** `true` when the window held more than {@link TAIL_ROW_COUNT_MAX} rows: not all compared. */
  readonly truncated: boolean;
}

interface TableInfo {
  readonly name: string;
  readonly keyColumns: readonly string[];
}

/**
 * Compares every table of schema `public` in the preserved database with the home's: exact row
 * counts, then, by commit timestamp (`track_commit_timestamp` is on), the rows changed from
 * `windowStart` on, looked up by primary key on the home. Row deletions in the tail do not show
 * (a deleted row leaves nothing to find); the counts hint at them. With `windowStart` `null`
 * (the loss time is unknown), only the counts are compared.
 */
export async function compareWithHome(
  preserved: pg.Pool,
  home: pg.Pool,
  windowStart: Date | null,
): Promise<TableComparison[]> {
  const tables = await publicTables(preserved);
  const result: TableComparison[] = [];
  for (const table of tables) result.push(await compareTable(preserved, home, table, windowStart));
  return result;
}

async function publicTables(db: pg.Pool): Promise<TableInfo[]> {
  const { rows } = await db.query<{ name: string; keys: string[] | null }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS name,
            (SELECT array_agg(a.attname::text ORDER BY k.ord)
               FROM pg_index i
               CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
              WHERE i.indrelid = c.oid AND i.indisprimary) AS keys
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
     ORDER BY 1`,
  );
  return rows.map((row) => ({ name: row.name, keyColumns: row.keys ?? [] }));
}

async function countRows(db: pg.Pool, table: string): Promise<number> {
  const { rows } = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${table}`);
  return Number(rows[0]?.n ?? 0);
}

async function tableExists(db: pg.Pool, table: string): Promise<boolean> {
  const { rows } = await db.query<{ oid: string | null }>('SELECT to_regclass($1)::text AS oid', [
    table,
  ]);
  return rows[0]?.oid != null;
}

async function compareTable(
  preserved: pg.Pool,
  home: pg.Pool,
  table: TableInfo,
  windowStart: Date | null,
): Promise<TableComparison> {
  const onHome = await tableExists(home, table.name);
  const base = {
    table: table.name,
    rowsPreserved: await countRows(preserved, table.name),
    rowsOnHome: onHome ? await countRows(home, table.name) : 0,
    hasPrimaryKey: table.keyColumns.length > 0,
  };
  if (windowStart === null || table.keyColumns.length === 0) {
    return {
      ...base,
      rowsInTailWindow: 0,
      rowsMissingOnHome: 0,
      rowsDifferentOnHome: 0,
      missingKeysSample: [],
      truncated: false,
    };
  }
  // Rows travel as jsonb text, never parsed in JavaScript, so bigint values keep every digit.
  const { rows: candidates } = await preserved.query<{ row: string }>(
    `SELECT to_jsonb(t)::text AS row FROM ${table.name} t
     WHERE pg_xact_commit_timestamp(t.xmin) >= $1
     ORDER BY pg_xact_commit_timestamp(t.xmin) LIMIT $2`,
    [windowStart, TAIL_ROW_COUNT_MAX + 1],
  );
  const truncated = candidates.length > TAIL_ROW_COUNT_MAX;
  const compared = candidates.slice(0, TAIL_ROW_COUNT_MAX);
  const verdicts = onHome
    ? await lookUpOnHome(home, table, compared)
    : compared.map(() => ({ key: '', verdict: 'missing' as const }));
  const missing = verdicts.filter((v) => v.verdict === 'missing');
  return {
    ...base,
    rowsInTailWindow: compared.length,
    rowsMissingOnHome: missing.length,
    rowsDifferentOnHome: verdicts.filter((v) => v.verdict === 'different').length,
    missingKeysSample: missing.slice(0, MISSING_KEY_SAMPLE_MAX).map((v) => v.key),
    truncated,
  };
}

async function lookUpOnHome(
  home: pg.Pool,
  table: TableInfo,
  candidates: readonly { row: string }[],
): Promise<{ key: string; verdict: 'missing' | 'different' | 'same' }[]> {
  if (candidates.length === 0) return [];
  const keys = table.keyColumns.map(quoteIdent);
  const onHome = keys.map((k) => `h.${k}`).join(', ');
  const onCandidate = keys.map((k) => `c.${k}`).join(', ');
  const { rows } = await home.query<{ key: string; verdict: 'missing' | 'different' | 'same' }>(
    `SELECT ROW(${onCandidate})::text AS key,
            CASE WHEN h.ctid IS NULL THEN 'missing'
                 WHEN to_jsonb(h) = to_jsonb(c) THEN 'same'
                 ELSE 'different' END AS verdict
     FROM jsonb_populate_recordset(NULL::${table.name}, $1::jsonb) c
     LEFT JOIN ${table.name} h ON (${onHome}) = (${onCandidate})`,
    [`[${candidates.map((c) => c.row).join(',')}]`],
  );
  return rows;
}
