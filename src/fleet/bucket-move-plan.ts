import type pg from 'pg';
import type { CatalogSnapshot } from '../catalog/catalog-store.ts';
import { primaryOf } from '../catalog/primary-of.ts';
import { quoteIdent, tableShapeOf } from '../compare/table-shape.ts';
import { MainstayError } from '../errors/mainstay-error.ts';
import type { BucketCarrier, CarriedMove } from '../migrations/bucket-carry.ts';
import { type BucketRule, bucketRulesOf } from '../migrations/bucket-rule.ts';
import type { MigrationSet } from '../migrations/migration.ts';
import {
  bucketExpression,
  installMachinery,
  type MovedTable,
  namesBucket,
  type PinnedTable,
} from './bucket-move-sql.ts';

/** What a bucket move is asked to do. */
export interface BucketMoveInput {
  readonly bucket: number;
  readonly toShard: number;
}

/** One side of a move: a shard, its database, and the servers holding it now. */
export interface MoveSide {
  readonly shardId: number;
  readonly database: string;
  /** The shard's home primary. */
  readonly primary: string;
  /** The other DC's primary, which holds the shard's logical copy (`null` without one). */
  readonly copy: string | null;
}

/** Where the bucket moves from and to, as the catalog says now. */
export interface MoveSides {
  readonly from: MoveSide;
  readonly to: MoveSide;
}

function sideOf(snapshot: CatalogSnapshot, shardId: number): MoveSide {
  const shard = snapshot.shards.find((s) => s.id === shardId);
  if (!shard) throw new MainstayError('bucket_move_invalid', `there is no shard ${shardId}`);
  const primary = primaryOf(snapshot, shard.homeDc);
  if (!primary)
    throw new MainstayError(
      'preflight_refused',
      `shard ${shardId} has no writable primary in ${shard.homeDc} now`,
    );
  return {
    shardId,
    database: shard.database,
    primary,
    copy: shard.copyState === 'replicating' ? (primaryOf(snapshot, shard.copyDc) ?? null) : null,
  };
}

/**
 * Checks the input against the catalog: a bucket of the map, an existing shard that is not the
 * bucket's own. `fromShard` names the source when a move already under way is resumed (after its
 * cutover the map says the bucket is on the target).
 */
export function moveSidesOf(
  snapshot: CatalogSnapshot,
  input: BucketMoveInput,
  fromShard?: number,
): MoveSides {
  const { bucket, toShard } = input;
  if (!Number.isInteger(bucket) || bucket < 0 || bucket >= snapshot.bucketCount)
    throw new MainstayError(
      'bucket_move_invalid',
      `bucket ${bucket} is not in the map (buckets 0 to ${snapshot.bucketCount - 1})`,
    );
  if (!snapshot.shards.some((s) => s.id === toShard))
    throw new MainstayError(
      'bucket_move_invalid',
      `there is no shard ${toShard} (shards ${snapshot.shards.map((s) => s.id).join(', ')})`,
    );
  const current = snapshot.buckets.find((r) => bucket >= r.first && bucket <= r.last)?.shardId;
  const from = fromShard ?? current;
  if (from === undefined)
    throw new MainstayError('bucket_move_invalid', `bucket ${bucket} is in no shard of the map`);
  if (from === toShard)
    throw new MainstayError(
      'bucket_move_invalid',
      `bucket ${bucket} is on shard ${toShard} already; nothing to move`,
    );
  return { from: sideOf(snapshot, from), to: sideOf(snapshot, toShard) };
}

/** Every ordinary table in schema `public` of the database `db` is in. */
async function publicTables(db: pg.Pool): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    `SELECT c.relname::text AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1`,
  );
  return rows.map((row) => row.name);
}

/** Whether `table` holds any row. */
async function hasRows(db: pg.Pool, table: string): Promise<boolean> {
  const { rows } = await db.query(`SELECT 1 FROM public.${quoteIdent(table)} LIMIT 1`);
  return rows.length > 0;
}

/**
 * The tables a move handles: those whose rows of the bucket move, those pinned, and the
 * carriers of the sets that carry their pinned rows (which a move then does not count).
 */
export interface BucketTables {
  readonly moved: MovedTable[];
  readonly pinned: PinnedTable[];
  readonly carriers: readonly BucketCarrier[];
}

/** The pinned tables no carrier takes: their rows naming the moving bucket refuse the move. */
export function keptPinned({ pinned, carriers }: BucketTables): PinnedTable[] {
  const carried = new Set(carriers.flatMap((carrier) => carrier.tables));
  return pinned.filter((table) => !carried.has(table.table));
}

/** The carriers the sets declare, and the pinned tables they carry. */
function carriersOf(sets: readonly MigrationSet[]) {
  const carriers = sets.flatMap((set) => (set.bucketCarrier ? [set.bucketCarrier] : []));
  return { carriers, carried: new Set(carriers.flatMap((carrier) => carrier.tables)) };
}

/**
 * The move as a carrier sees it: for each side a bucket of its shard that stays there (the
 * first of its map that is not the moving one; the moving one for a shard with no other, such
 * as a new shard the bucket is the first to reach), and the key-to-bucket condition.
 */
export function carriedMoveOf(
  snapshot: CatalogSnapshot,
  move: { readonly bucket: number; readonly fromShard: number; readonly toShard: number },
): CarriedMove {
  const homeOf = (shardId: number) => {
    for (const range of snapshot.buckets.filter((r) => r.shardId === shardId))
      for (let bucket = range.first; bucket <= range.last; bucket += 1)
        if (bucket !== move.bucket) return bucket;
    return move.bucket;
  };
  const { bucketCount } = snapshot;
  return {
    ...move,
    bucketCount,
    sourceHomeBucket: homeOf(move.fromShard),
    targetHomeBucket: homeOf(move.toShard),
    namesBucket: (expression) =>
      `coalesce(mainstay.bucket_of_key((${expression})::text, ${bucketCount}) = ${Number(move.bucket)}, false)`,
    logged: async (db, table) => {
      const { rows } = await db.query<{ key: Record<string, unknown> }>(
        `SELECT DISTINCT key FROM mainstay.bucket_move_pinned
          WHERE bucket = $1 AND table_name = $2 AND key IS NOT NULL`,
        [move.bucket, table],
      );
      return rows.map((row) => row.key);
    },
  };
}

/**
 * The tables a move of one bucket handles, from the rules the shard's migration sets declare,
 * checked against the source database: every table in `public` has a rule (none counts as
 * `unattributed`), an `unattributed` table is empty, a `pinned` table has no row naming the
 * moving bucket, a moved table has a primary key, and no row contradicts its rule (a row whose
 * bucket, read by the rule, is not one of the source's: the rule is wrong, and a move by it
 * would leave rows behind; the moving bucket counts as the source's). Any failure is
 * `bucket_move_unattributed`, naming every table at fault; no row is changed (the move's
 * functions are installed in schema `mainstay`, which nothing else uses).
 */
export async function movedTablesOf(
  source: pg.Pool,
  sets: readonly MigrationSet[],
  snapshot: CatalogSnapshot,
  sourceShard: number,
  movingBucket: number,
  /** `false` when giving a move up: rows naming the bucket in a pinned table do not matter. */
  refusePinnedRows = true,
): Promise<BucketTables> {
  const rules = bucketRulesOf(sets);
  // The rule check below runs the key -> bucket function, which lives with the move's machinery.
  await installMachinery(source);
  const problems: string[] = [];
  const tables: MovedTable[] = [];
  const pinned: PinnedTable[] = [];
  const sourceBuckets = snapshot.buckets
    .filter((range) => range.shardId === sourceShard)
    .flatMap((range) =>
      Array.from({ length: range.last - range.first + 1 }, (_, i) => range.first + i),
    )
    // After a cutover a crash interrupted, the map has the bucket on the target already.
    .concat(movingBucket);
  const { carriers, carried } = carriersOf(sets);
  const check = {
    source,
    snapshot,
    movingBucket,
    // Rows a carrier takes are not counted; it is asked for its refusals below.
    refusePinnedRows: (table: string) => refusePinnedRows && !carried.has(table),
    sourceBuckets,
    problems,
  };
  for (const table of await publicTables(source)) {
    const rule: BucketRule = rules.get(table) ?? {
      kind: 'unattributed',
      reason: 'no rule declared',
    };
    if (rule.kind === 'shard') continue;
    if (rule.kind === 'unattributed') {
      if (await hasRows(source, table)) problems.push(`${table} (${rule.reason})`);
    } else if (rule.kind === 'pinned') {
      const found = await checkedPinned(check, table, rule);
      if (found) pinned.push(found);
    } else {
      const moved = await checkedMoved(check, table, rule);
      if (moved) tables.push(moved);
    }
  }
  if (refusePinnedRows && problems.length === 0) {
    const move = carriedMoveOf(snapshot, {
      bucket: movingBucket,
      fromShard: sourceShard,
      // The target does not matter to a refusal; any other shard stands in.
      toShard: snapshot.shards.find((shard) => shard.id !== sourceShard)?.id ?? sourceShard,
    });
    for (const carrier of carriers) problems.push(...(await carrier.refusals(source, move)));
  }
  if (problems.length > 0)
    throw new MainstayError(
      'bucket_move_unattributed',
      `shard ${sourceShard} holds rows a move of bucket ${movingBucket} cannot take or leave behind: ${problems.join('; ')}`,
    );
  return { moved: tables, pinned, carriers };
}

/** What the checks of one table need, and where they note a problem. */
interface TableCheck {
  readonly source: pg.Pool;
  readonly snapshot: CatalogSnapshot;
  readonly movingBucket: number;
  /** Whether rows of the pinned table naming the bucket refuse the move. */
  readonly refusePinnedRows: (table: string) => boolean;
  /** The source's buckets, the moving one among them. */
  readonly sourceBuckets: readonly number[];
  readonly problems: string[];
}

function problemOf(table: string, error: unknown): string {
  return `${table} (${error instanceof Error ? error.message : String(error)})`;
}

/** A pinned table, or `null` with a problem noted: its columns, and no row naming the bucket. */
async function checkedPinned(
  check: TableCheck,
  table: string,
  rule: Extract<BucketRule, { kind: 'pinned' }>,
): Promise<PinnedTable | null> {
  const found = await pinnedTable(check.source, table, rule).catch((error: unknown) => {
    check.problems.push(problemOf(table, error));
    return null;
  });
  if (!found || !check.refusePinnedRows(table)) return found;
  const naming = await pinnedRowsNaming(
    check.source,
    found,
    check.movingBucket,
    check.snapshot.bucketCount,
  );
  if (naming > 0)
    check.problems.push(
      `${table} (bucket ${check.movingBucket} named by ${rowsText(naming)}; ${rule.reason})`,
    );
  return found;
}

/**
 * A moved table, or `null` with a problem noted: its primary key and rule column, and (but for
 * a `copy` table) every row's bucket one of the source's.
 */
async function checkedMoved(
  check: TableCheck,
  table: string,
  rule: Extract<BucketRule, { kind: 'key' | 'bucket' | 'copy' }>,
): Promise<MovedTable | null> {
  const moved = await movedTable(check.source, table, rule).catch((error: unknown) => {
    check.problems.push(problemOf(table, error));
    return null;
  });
  if (!moved || moved.kind === 'copy') return moved;
  const { rows } = await check.source.query(
    `SELECT 1 FROM ${moved.name} t
      WHERE coalesce(${bucketExpression(moved, 't', check.snapshot.bucketCount)} = ANY ($1::integer[]), false) = false
      LIMIT 1`,
    [check.sourceBuckets],
  );
  if (rows.length > 0)
    check.problems.push(
      `${table} (a row's ${rule.kind} column is empty or names a bucket of another shard)`,
    );
  return moved;
}

/** `1 row`, `5 rows`, `1,000+ rows` (a count stops at 1,000). */
export function rowsText(n: number): string {
  return n === 1 ? '1 row' : `${n.toLocaleString('en-US')}${n >= 1_000 ? '+' : ''} rows`;
}

/** How many rows of a pinned table name `bucket` (counted up to 1,000). */
export async function pinnedRowsNaming(
  db: pg.Pool | pg.ClientBase,
  table: PinnedTable,
  bucket: number,
  bucketCount: number,
): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM (SELECT 1 FROM ${table.name} t
      WHERE ${namesBucket(table, 't', String(Number(bucket)), bucketCount)} LIMIT 1000) s`,
  );
  return rows[0]?.n ?? 0;
}

/**
 * The pinned tables the sets declare that exist in `db` (what a move fences on its source), for
 * measuring what the fence costs.
 */
export async function pinnedTablesOf(
  db: pg.Pool,
  sets: readonly MigrationSet[],
): Promise<PinnedTable[]> {
  const present = new Set(await publicTables(db));
  const tables: PinnedTable[] = [];
  for (const [table, rule] of bucketRulesOf(sets))
    if (rule.kind === 'pinned' && present.has(table))
      tables.push(await pinnedTable(db, table, rule));
  return tables;
}

async function pinnedTable(
  db: pg.Pool,
  table: string,
  rule: Extract<BucketRule, { kind: 'pinned' }>,
): Promise<PinnedTable> {
  const name = `public.${quoteIdent(table)}`;
  const { rows } = await db.query<{ name: string }>(
    `SELECT attname::text AS name FROM pg_attribute
      WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped`,
    [name],
  );
  const columns = new Set(rows.map((row) => row.name));
  const keys = rule.columns.map((entry) => {
    const { column, prefix } = typeof entry === 'string' ? { column: entry, prefix: '' } : entry;
    if (!columns.has(column)) throw new Error(`its rule names column ${column}, which it lacks`);
    return { column: quoteIdent(column), prefix };
  });
  const { rows: primary } = await db.query<{ name: string }>(
    `SELECT a.attname::text AS name
       FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
      WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)`,
    [name],
  );
  const keyColumns = primary.map((row) => quoteIdent(row.name));
  return {
    table,
    name,
    keyColumns,
    keys,
    reason: rule.reason,
    updatesLogged: rule.updatesLogged === true,
  };
}

async function movedTable(
  db: pg.Pool,
  table: string,
  rule: Extract<BucketRule, { kind: 'key' | 'bucket' | 'copy' }>,
): Promise<MovedTable> {
  const shape = await tableShapeOf(db, `public.${table}`);
  const column = rule.kind === 'copy' ? null : quoteIdent(rule.column);
  if (column !== null && !shape.columns.includes(column))
    throw new Error(`its rule names column ${column}, which it lacks`);
  return {
    table,
    name: shape.name,
    keyColumns: shape.keyColumns,
    columns: shape.columns,
    kind: rule.kind,
    column,
    prefix: rule.kind === 'key' ? (rule.prefix ?? '') : '',
  };
}
