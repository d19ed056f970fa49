import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { MainstayError } from '../errors/mainstay-error.ts';
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
-- The rows of pinned tables written naming a bucket while it is captured (their primary key):
-- the cutover reads these instead of scanning the tables under its pause.
CREATE TABLE IF NOT EXISTS mainstay.bucket_move_pinned (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  bucket integer NOT NULL,
  table_name text NOT NULL,
  key jsonb
);
CREATE INDEX IF NOT EXISTS bucket_move_pinned_bucket
  ON mainstay.bucket_move_pinned (bucket, table_name);
-- STABLE, not IMMUTABLE, as convert_to is: so the planner inlines it into the expression that
-- calls it (a fence trigger's WHEN, a move's filters) instead of calling a SQL function a row.
CREATE OR REPLACE FUNCTION mainstay.bucket_of_key(p_key text, p_count integer) RETURNS integer
LANGUAGE sql STABLE PARALLEL SAFE AS $fn$
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
  /** What the router's key adds before the column's value (`key` kind; else empty). */
  readonly prefix: string;
}

/**
 * A table whose rows stay with the shard but name buckets (a `pinned` rule): the move refuses
 * while a row names the moving bucket, and fences new ones after it.
 */
export interface PinnedTable {
  readonly table: string;
  /** The primary key's columns, quoted (none when the table has no primary key). */
  readonly keyColumns: readonly string[];
  /** Every update is logged while the bucket is captured, not only one of the key columns. */
  readonly updatesLogged: boolean;
  /** `public.<table>`, quoted. */
  readonly name: string;
  /** The columns holding keys (quoted), each with the prefix the router's key adds. */
  readonly keys: readonly { readonly column: string; readonly prefix: string }[];
  readonly reason: string;
}

/** The SQL expressions of the buckets a row of a pinned table (over `alias`) names. */
function pinnedBuckets(table: PinnedTable, alias: string, bucketCount: number): string[] {
  return table.keys.map(
    ({ column, prefix }) =>
      `mainstay.bucket_of_key(${routedKey(`${alias}.${column}`, prefix)}, ${bucketCount})`,
  );
}

/** The key the router hashes: `prefix` (a literal) before the value of `expression`, as text. */
function routedKey(expression: string, prefix: string): string {
  const text = `(${expression})::text`;
  return prefix === '' ? text : `'${prefix.replaceAll("'", "''")}' || ${text}`;
}

/** The SQL condition that a row of a pinned table (over `alias`) names `bucket`. */
export function namesBucket(
  table: PinnedTable,
  alias: string,
  bucket: string,
  bucketCount: number,
): string {
  const terms = pinnedBuckets(table, alias, bucketCount).map(
    (expression) => `coalesce(${expression} = ${bucket}, false)`,
  );
  return `(${terms.join(' OR ')})`;
}

/** A literal integer array of `buckets`, for a trigger's WHEN. */
function bucketSet(buckets: readonly number[]): string {
  return `'{${buckets.map((bucket) => Number(bucket)).join(',')}}'::integer[]`;
}

/** The SQL expression of a row's bucket, over `alias` (a table alias, `NEW` or `OLD`). */
export function bucketExpression(table: MovedTable, alias: string, bucketCount: number): string {
  if (table.kind === 'copy' || table.column === null) return 'NULL::integer';
  const column = `${alias}.${table.column}`;
  if (table.kind === 'bucket') return `(${column})::integer`;
  return `mainstay.bucket_of_key(${routedKey(column, table.prefix)}, ${bucketCount})`;
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
function triggerSql(table: MovedTable, bucketCount: number, fenced: readonly number[]): string {
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
${triggersOf(table, fn, bucketCount, fenced)}`;
}

/**
 * The triggers of a moved table. A `copy` table has one, fired by every change (it logs them
 * while any move captures). A table with a bucket rule has one per event, each with a `WHEN`
 * naming the buckets this shard has moves for (`fenced`, fixed when the triggers are made:
 * every move makes them again before it starts capturing), so for a row of any other bucket
 * the executor evaluates one expression and calls nothing.
 */
function triggersOf(
  table: MovedTable,
  fn: string,
  bucketCount: number,
  fenced: readonly number[],
): string {
  if (table.kind === 'copy')
    return `CREATE OR REPLACE TRIGGER mainstay_bucket_move BEFORE INSERT OR UPDATE OR DELETE
  ON ${table.name} FOR EACH ROW EXECUTE FUNCTION ${fn}();`;
  // The one trigger of every event that earlier releases made.
  const drop = `DROP TRIGGER IF EXISTS mainstay_bucket_move ON ${table.name};`;
  const named = (alias: string) =>
    `${bucketExpression(table, alias, bucketCount)} = ANY (${bucketSet(fenced)})`;
  return [
    drop,
    ...(
      [
        ['insert', 'INSERT', named('NEW')],
        ['update', 'UPDATE', `${named('NEW')} OR ${named('OLD')}`],
        ['delete', 'DELETE', named('OLD')],
      ] as const
    ).map(
      ([suffix, event, when]) => `CREATE OR REPLACE TRIGGER mainstay_bucket_move_${suffix}
  BEFORE ${event} ON ${table.name} FOR EACH ROW WHEN (${when}) EXECUTE FUNCTION ${fn}();`,
    ),
  ].join('\n');
}

/**
 * The trigger of a pinned table, on INSERT and on UPDATE (of its key columns only, unless its
 * rule logs every update: rows updated on every write, such as an account's totals, would pay a
 * trigger call each). Its `WHEN` names the buckets this shard
 * has moves for (`fenced`, fixed when the trigger is made: every move makes it again before it
 * starts capturing), so for any other row the executor evaluates one expression and calls
 * nothing. A row naming one of them takes the bucket's move row FOR SHARE (so the cutover waits
 * for such a writer in flight and holds new ones); while the bucket is captured the row's
 * primary key is logged in `mainstay.bucket_move_pinned` (so the cutover reads what was written
 * during the copy by key, not by a scan of the table under its pause); once the bucket has
 * moved, a row that comes to name it is refused (the fence). An update that leaves a row's key
 * columns as they were is not refused: the rows a move leaves behind are history.
 */
function pinnedTriggerSql(
  table: PinnedTable,
  bucketCount: number,
  fenced: readonly number[],
): string {
  const fn = `mainstay."bucket_pin_${table.table.replaceAll('"', '')}"`;
  const buckets = pinnedBuckets(table, 'NEW', bucketCount);
  const when = buckets.map((bucket) => `${bucket} = ANY (${bucketSet(fenced)})`).join(' OR ');
  const keyChanged = table.keys
    .map(({ column }) => `NEW.${column} IS DISTINCT FROM OLD.${column}`)
    .join(' OR ');
  const key =
    table.keyColumns.length === 0
      ? 'NULL::jsonb'
      : `jsonb_build_object(${table.keyColumns
          .map((column) => `'${column.slice(1, -1).replaceAll("'", "''")}', NEW.${column}`)
          .join(', ')})`;
  return `
CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  v_move record;
  v_refuse boolean := false;
BEGIN
  FOR v_move IN SELECT bucket, state FROM mainstay.bucket_moves
                 WHERE bucket = ANY (ARRAY[${buckets.join(', ')}]) FOR SHARE LOOP
    IF v_move.state = 'moved' THEN
      -- OLD is only read on an UPDATE: an INSERT has none.
      IF TG_OP = 'INSERT' THEN
        v_refuse := true;
      ELSIF ${keyChanged} THEN
        v_refuse := true;
      END IF;
      IF v_refuse THEN
        RAISE EXCEPTION 'bucket % of %.% has moved to another shard', v_move.bucket, TG_TABLE_SCHEMA, TG_TABLE_NAME
          USING ERRCODE = '${BUCKET_MOVED_SQLSTATE}';
      END IF;
    ELSIF v_move.state = 'capturing' THEN
      INSERT INTO mainstay.bucket_move_pinned (bucket, table_name, key)
      VALUES (v_move.bucket, TG_TABLE_NAME, ${key});
    END IF;
  END LOOP;
  RETURN NEW;
END
$fn$;
CREATE OR REPLACE TRIGGER mainstay_bucket_move
  BEFORE INSERT OR UPDATE${table.updatesLogged ? '' : ` OF ${table.keys.map(({ column }) => column).join(', ')}`}
  ON ${table.name} FOR EACH ROW WHEN (${when}) EXECUTE FUNCTION ${fn}();`;
}

/** How long making one table's triggers may wait for its lock before it tries again. */
export const FENCE_LOCK_TIMEOUT_MS = 2_000;
/** Tries at making one table's triggers before the move is refused. */
export const FENCE_LOCK_ATTEMPTS = 3;

/**
 * Installs (or replaces) the capture-and-fence triggers on every moved table and the fence
 * trigger on every pinned table, naming the buckets this shard has moves for and `moving`
 * (about to start capturing). Making a trigger takes a lock that waits for every transaction
 * open on the table and holds every writer that comes after it, so a transaction left open (a
 * client that hangs mid-transaction) would stall the table's writes behind the move: each table
 * waits at most {@link FENCE_LOCK_TIMEOUT_MS}, a few times, and then the move is refused
 * (`preflight_refused`, naming the table) with the writers never held longer than that.
 */
export async function installFences(
  db: pg.Pool,
  tables: { readonly moved: readonly MovedTable[]; readonly pinned: readonly PinnedTable[] },
  bucketCount: number,
  moving: number,
): Promise<void> {
  const { rows } = await db.query<{ bucket: number }>('SELECT bucket FROM mainstay.bucket_moves');
  const fenced = [...new Set([moving, ...rows.map((row) => row.bucket)])];
  const statements = [
    ...tables.moved.map((table) => ({
      table: table.table,
      sql: triggerSql(table, bucketCount, fenced),
    })),
    ...tables.pinned.map((table) => ({
      table: table.table,
      sql: pinnedTriggerSql(table, bucketCount, fenced),
    })),
  ];
  for (const { table, sql } of statements) await withBoundedLock(db, table, sql);
}

/** Runs `sql` in a transaction whose lock waits are bounded; tries again, then refuses. */
async function withBoundedLock(db: pg.Pool, table: string, sql: string): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    const client = await db.connect();
    try {
      await client.query('BEGIN');
      await client.query(`SET LOCAL lock_timeout = ${FENCE_LOCK_TIMEOUT_MS}`);
      await client.query(sql);
      await client.query('COMMIT');
      client.release();
      return;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      client.release();
      if ((error as { code?: string }).code !== '55P03') throw error;
      if (attempt >= FENCE_LOCK_ATTEMPTS)
        throw new MainstayError(
          'preflight_refused',
          `a transaction kept ${table} locked through ${FENCE_LOCK_ATTEMPTS} waits of ${FENCE_LOCK_TIMEOUT_MS} ms, so the move could not install its fence; nothing was moved`,
        );
      await sleep(200);
    }
  }
}
