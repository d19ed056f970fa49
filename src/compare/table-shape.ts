import type pg from 'pg';
import { MainstayError } from '../errors/mainstay-error.ts';

/** Anything a query can be sent to: a pool or one of its clients. */
export interface SqlRunner {
  query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

/**
 * A table as comparison and repair see it: its name quoted for SQL, its primary key's columns
 * (quoted, in key order) with their types, and every stored column (generated ones left out,
 * since they cannot be written).
 */
export interface TableShape {
  /** `schema.table`, quoted. */
  readonly name: string;
  readonly keyColumns: readonly string[];
  /** The SQL type of each key column (`bigint`, `text`...), for casting key values back. */
  readonly keyTypes: readonly string[];
  readonly columns: readonly string[];
}

/** A primary key value: each column's text form, in key order. */
export type RowKey = readonly string[];

/** `name` quoted as an identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * The shape of `table` (`schema.table` or `table`, in `public` by default) on `db`.
 * `resource_not_found` when there is no such table; `invalid_request` when it has no primary
 * key, since rows are matched by it.
 */
export async function tableShapeOf(db: SqlRunner, table: string): Promise<TableShape> {
  const [schema, relation] = table.includes('.') ? table.split('.', 2) : ['public', table];
  const { rows } = await db.query<{
    name: string;
    keys: string[] | null;
    key_types: string[] | null;
    columns: string[];
  }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS name,
            (SELECT array_agg(a.attname::text ORDER BY k.ord)
               FROM pg_index i
               CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
              WHERE i.indrelid = c.oid AND i.indisprimary) AS keys,
            (SELECT array_agg(format_type(a.atttypid, a.atttypmod) ORDER BY k.ord)
               FROM pg_index i
               CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
              WHERE i.indrelid = c.oid AND i.indisprimary) AS key_types,
            (SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_attribute a
              WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                AND a.attgenerated = '') AS columns
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')`,
    [schema, relation],
  );
  const row = rows[0];
  if (row === undefined)
    throw new MainstayError('resource_not_found', `there is no table ${schema}.${relation}`);
  if (row.keys === null || row.key_types === null)
    throw new MainstayError(
      'invalid_request',
      `table ${row.name} has no primary key: rows are compared and repaired by their primary key`,
    );
  return {
    name: row.name,
    keyColumns: row.keys.map(quoteIdent),
    keyTypes: row.key_types,
    columns: row.columns.map(quoteIdent),
  };
}

/**
 * The condition for `alias`'s key in `(after, through]` (either end open when `null`), with the
 * bounds' values appended to `values` as text parameters.
 */
export function keyRange(
  shape: TableShape,
  alias: string,
  after: RowKey | null,
  through: RowKey | null,
  values: unknown[],
): string {
  const parts: string[] = [];
  if (after !== null) {
    parts.push(`${keyTuple(shape, alias)} > ${keyParameters(shape, values.length + 1)}`);
    values.push(...after);
  }
  if (through !== null) {
    parts.push(`${keyTuple(shape, alias)} <= ${keyParameters(shape, values.length + 1)}`);
    values.push(...through);
  }
  return parts.length === 0 ? 'true' : parts.join(' AND ');
}

/**
 * `JOIN unnest($n::text[], ...) AS u(...) ON key = u's key`: joins `alias` to a list of keys
 * passed column by column as text arrays (appended to `values`).
 */
export function keyListJoin(
  shape: TableShape,
  alias: string,
  keys: readonly RowKey[],
  values: unknown[],
): string {
  const first = values.length + 1;
  const arrays = shape.keyColumns.map((_, i) => `$${first + i}::text[]`).join(', ');
  const names = shape.keyColumns.map((_, i) => `k${i}`);
  for (let i = 0; i < shape.keyColumns.length; i += 1) values.push(keys.map((key) => key[i]));
  const listed = `(${names.map((name, i) => `u.${name}::${shape.keyTypes[i]}`).join(', ')})`;
  return `JOIN unnest(${arrays}) AS u(${names.join(', ')}) ON ${keyTuple(shape, alias)} = ${listed}`;
}

/** `(k1, k2)` of `alias`'s key columns. */
export function keyTuple(shape: TableShape, alias: string): string {
  return `(${shape.keyColumns.map((k) => `${alias}.${k}`).join(', ')})`;
}

/** `($n::type, ...)`: a key passed as text parameters from `$first` on, cast to its types. */
export function keyParameters(shape: TableShape, first: number): string {
  return `(${shape.keyTypes.map((type, i) => `$${first + i}::${type}`).join(', ')})`;
}

/** `ARRAY[k1::text, ...]` of `alias`'s key: how a key leaves PostgreSQL. */
export function keyAsText(shape: TableShape, alias: string): string {
  return `ARRAY[${shape.keyColumns.map((k) => `${alias}.${k}::text`).join(', ')}]`;
}

/** A key as one string, for maps and sets. */
export function keyText(key: RowKey): string {
  return JSON.stringify(key);
}
