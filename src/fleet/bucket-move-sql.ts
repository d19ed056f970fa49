import type pg from 'pg';
import { BUCKET_MOVED_SQLSTATE } from '../postgres/pg-errors.ts';

/**
 * The machinery a bucket move installs in a shard database (decision 58), all in schema
 * `mainstay`, which the shard's publication leaves out: the moves this shard took part in
 * (`capturing` while the bucket's changes are logged, `moved` once it lives elsewhere: the
 * fence), the change log, the SQL form of the router's key -> bucket function, and one trigger
 * per moved table. Installed idempotently (`IF NOT EXISTS`, `CREATE OR REPLACE`): a rerun after a
 * crash installs it again over itself.
 */
const MACHINERY_SQL = `
CREATE SCHEMA IF NOT EXISTS mainstay;
CREATE TABLE IF NOT EXISTS mainstay.bucket_moves (
  bucket integer PRIMARY KEY CHECK (bucket >= 0),
  state text NOT NULL CHECK (state IN ('capturing', 'moved')),
  to_shard integer NOT NULL,
  changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS mainstay.bucket_move_changes (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  bucket integer,
  table_name text NOT NULL,
  key jsonb NOT NULL
);
CREATE OR REPLACE FUNCTION mainstay.bucket_of_key(p_key text, p_count integer) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
  SELECT CASE
    WHEN length(p_key) <= 47 AND p_key ~ '^[a-z][a-z0-9]{0,15}_[0-9A-HJKMNP-TV-Z]{30}$' THEN
      (strpos('0123456789ABCDEFGHJKMNPQRSTVWXYZ', substr(p_key, length(p_key) - 3, 1)) - 1) * 32768
      + (strpos('0123456789ABCDEFGHJKMNPQRSTVWXYZ', substr(p_key, length(p_key) - 2, 1)) - 1) * 1024
      + (strpos('0123456789ABCDEFGHJKMNPQRSTVWXYZ', substr(p_key, length(p_key) - 1, 1)) - 1) * 32
      + (strpos('0123456789ABCDEFGHJKMNPQRSTVWXYZ', substr(p_key, length(p_key), 1)) - 1)
    ELSE ((('x' || encode(substr(sha256(convert_to(p_key, 'UTF8')), 1, 4), 'hex'))::bit(32)::bigint
           % p_count))::integer
  END
$fn$;`;

/** Installs the move's tables and functions in a shard database (safe to repeat). */
export async function installMachinery(db: pg.Pool): Promise<void> {
  await db.query(MACHINERY_SQL);
}

/** A table as the move handles it: quoted name, key columns, and how a row's bucket is read. */
export interface MovedTable {
  /** The table's name in `public`, unquoted (as the rules and the change log name it). */
  readonly table: string;
  /** `public.<table>`, quoted. */
  readonly name: string;
  readonly keyColumns: readonly string[];
  readonly columns: readonly string[];
  /** `key`/`bucket`: the rows of one bucket move; `copy`: every row is copied, none deleted. */
  readonly kind: 'key' | 'bucket' | 'copy';
  /** The rule's column, quoted (`key` and `bucket` kinds). */
  readonly column: string | null;
}

/**
 * A table whose rows stay with the shard but name buckets (a `pinned` rule): the move refuses
 * while a row names the moving bucket, and fences new ones after it.
 */
export interface PinnedTable {
  readonly table: string;
  /** `public.<table>`, quoted. */
  readonly name: string;
  /** The columns holding keys (quoted), each with the prefix the router's key adds. */
  readonly keys: readonly { readonly column: string; readonly prefix: string }[];
  readonly reason: string;
}

/** The SQL condition that a row of a pinned table (over `alias`) names `bucket`. */
export function namesBucket(
  table: PinnedTable,
  alias: string,
  bucket: string,
  bucketCount: number,
): string {
  const terms = table.keys.map(({ column, prefix }) => {
    const key =
      prefix === '' ? `${alias}.${column}::text` : `${literal(prefix)} || ${alias}.${column}`;
    return `coalesce(mainstay.bucket_of_key(${key}, ${bucketCount}) = ${bucket}, false)`;
  });
  return `(${terms.join(' OR ')})`;
}

function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** The SQL expression of a row's bucket, over `alias` (a table alias, `NEW` or `OLD`). */
export function bucketExpression(table: MovedTable, alias: string, bucketCount: number): string {
  if (table.kind === 'copy' || table.column === null) return 'NULL::integer';
  const column = `${alias}.${table.column}`;
  return table.kind === 'bucket'
    ? `(${column})::integer`
    : `mainstay.bucket_of_key((${column})::text, ${bucketCount})`;
}

/** The row's primary key as a JSON object, over `alias`. */
export function keyObject(table: MovedTable, alias: string): string {
  const pairs = table.keyColumns.map(
    (column) => `'${column.slice(1, -1).replaceAll("'", "''")}', ${alias}.${column}`,
  );
  return `jsonb_build_object(${pairs.join(', ')})`;
}

function triggerFunctionName(table: MovedTable): string {
  return `mainstay."bucket_move_${table.table.replaceAll('"', '')}"`;
}

/**
 * The trigger of one table: for each bucket the row is in (before and after), it takes the
 * bucket's move row FOR SHARE (so the cutover's FOR UPDATE waits for writers in flight and
 * holds new ones: the pause), refuses the write when the bucket has moved away (the fence, with
 * the SQLSTATE the router retries on), and logs the row's key while the move captures. A `copy`
 * table has no bucket: its changes are logged while any move from this shard captures.
 */
function triggerSql(table: MovedTable, bucketCount: number): string {
  const fn = triggerFunctionName(table);
  const body =
    table.kind === 'copy'
      ? `IF EXISTS (SELECT 1 FROM mainstay.bucket_moves WHERE state = 'capturing') THEN
    INSERT INTO mainstay.bucket_move_changes (bucket, table_name, key)
    VALUES (NULL, TG_TABLE_NAME, CASE WHEN TG_OP = 'DELETE' THEN ${keyObject(table, 'OLD')}
                                      ELSE ${keyObject(table, 'NEW')} END);
  END IF;`
      : `IF TG_OP <> 'DELETE' THEN
    v_buckets := array_append(v_buckets, ${bucketExpression(table, 'NEW', bucketCount)});
    v_keys := array_append(v_keys, ${keyObject(table, 'NEW')});
  END IF;
  IF TG_OP <> 'INSERT' THEN
    v_buckets := array_append(v_buckets, ${bucketExpression(table, 'OLD', bucketCount)});
    v_keys := array_append(v_keys, ${keyObject(table, 'OLD')});
  END IF;
  FOR i IN 1 .. cardinality(v_buckets) LOOP
    SELECT state INTO v_state FROM mainstay.bucket_moves WHERE bucket = v_buckets[i] FOR SHARE;
    IF v_state = 'moved' THEN
      RAISE EXCEPTION 'bucket % of %.% has moved to another shard', v_buckets[i], TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = '${BUCKET_MOVED_SQLSTATE}';
    ELSIF v_state = 'capturing' THEN
      INSERT INTO mainstay.bucket_move_changes (bucket, table_name, key)
      VALUES (v_buckets[i], TG_TABLE_NAME, v_keys[i]);
    END IF;
    v_state := NULL;
  END LOOP;`;
  return `
CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  v_buckets integer[] := '{}';
  v_keys jsonb[] := '{}';
  v_state text;
BEGIN
  ${body}
  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
  RETURN NEW;
END
$fn$;
CREATE OR REPLACE TRIGGER mainstay_bucket_move BEFORE INSERT OR UPDATE OR DELETE ON ${table.name}
  FOR EACH ROW EXECUTE FUNCTION ${fn}();`;
}

/**
 * The trigger of a pinned table, on INSERT and on an UPDATE that sets one of its key columns
 * (rows name buckets only through those): when the row names a bucket being moved from this
 * shard or moved away, it takes the bucket's move row FOR SHARE (so the cutover, which checks
 * that no row names the bucket, waits for such a writer in flight and holds new ones), and
 * refuses the write once the bucket has moved (the fence). Nothing is logged: the rows stay.
 * Per row it computes the row's buckets in SQL and probes the moves' table once.
 */
function pinnedTriggerSql(table: PinnedTable, bucketCount: number): string {
  const fn = `mainstay."bucket_pin_${table.table.replaceAll('"', '')}"`;
  const buckets = table.keys.map(({ column, prefix }) => {
    const key = prefix === '' ? `NEW.${column}::text` : `${literal(prefix)} || NEW.${column}`;
    return `mainstay.bucket_of_key(${key}, ${bucketCount})`;
  });
  const columns = table.keys.map(({ column }) => column).join(', ');
  return `
CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  v_move record;
BEGIN
  FOR v_move IN SELECT bucket, state FROM mainstay.bucket_moves
                 WHERE bucket = ANY (ARRAY[${buckets.join(', ')}]) FOR SHARE LOOP
    IF v_move.state = 'moved' THEN
      RAISE EXCEPTION 'bucket % of %.% has moved to another shard', v_move.bucket, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = '${BUCKET_MOVED_SQLSTATE}';
    END IF;
  END LOOP;
  RETURN NEW;
END
$fn$;
CREATE OR REPLACE TRIGGER mainstay_bucket_move BEFORE INSERT OR UPDATE OF ${columns} ON ${table.name}
  FOR EACH ROW EXECUTE FUNCTION ${fn}();`;
}

/** Installs (or replaces) the fence trigger on every pinned table. */
export async function installPinnedTriggers(
  db: pg.Pool,
  tables: readonly PinnedTable[],
  bucketCount: number,
): Promise<void> {
  for (const table of tables) await db.query(pinnedTriggerSql(table, bucketCount));
}

/** Installs (or replaces) the capture-and-fence trigger on every moved table. */
export async function installTriggers(
  db: pg.Pool,
  tables: readonly MovedTable[],
  bucketCount: number,
): Promise<void> {
  for (const table of tables) await db.query(triggerSql(table, bucketCount));
}
