import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { CatalogSnapshot, CatalogStore } from '../catalog/catalog-store.ts';
import { compareTable } from '../compare/table-compare.ts';
import { MainstayError } from '../errors/mainstay-error.ts';
import type { CarriedMove } from '../migrations/bucket-carry.ts';
import { guardedPool } from '../postgres/guarded-pool.ts';
import {
  BUCKET_MOVE_LIMITS,
  type CutoverReport,
  catchUp,
  cutover,
  type MoveDatabases,
  prepareCarry,
  startCapture,
} from './bucket-move-cutover.ts';
import {
  type BucketMoveInput,
  type BucketTables,
  carriedMoveOf,
  type MoveSide,
  type MoveSides,
  movedTablesOf,
  moveSidesOf,
} from './bucket-move-plan.ts';
import {
  type BucketRows,
  bucketHash,
  bucketRowCount,
  copyBucket,
  deleteBucket,
} from './bucket-move-rows.ts';
import { installFences, installMachinery, type MovedTable } from './bucket-move-sql.ts';
import type { Fleet } from './fleet.ts';
import { waitForCopyToApply } from './shard-replication.ts';

export type { BucketMoveInput } from './bucket-move-plan.ts';

/** The catalog flag naming a move under way: `{ bucket, fromShard, toShard }`, `''` when none. */
export const BUCKET_MOVE_FLAG = 'bucket_move';

/** A move under way, as recorded before its first change. */
export interface PendingMove {
  readonly bucket: number;
  readonly fromShard: number;
  readonly toShard: number;
}

/** The move recorded in the catalog, if one is under way. */
export async function readPendingMove(catalog: CatalogStore): Promise<PendingMove | null> {
  const value = await catalog.getFlag(BUCKET_MOVE_FLAG);
  if (!value) return null;
  return JSON.parse(value) as PendingMove;
}

/** What a move did, and what its verification found. */
export interface BucketMoveReport {
  readonly bucket: number;
  readonly fromShard: number;
  readonly toShard: number;
  /** Whether it continued a move a crash interrupted after its cutover. */
  readonly resumed: boolean;
  readonly tables: readonly string[];
  /** Tables whose rows stay on the source (none named the bucket); fenced for it after. */
  readonly pinnedTables: readonly string[];
  readonly copiedRows: number;
  readonly catchUpRounds: number;
  readonly changesApplied: number;
  /** The cutover (`null` when a resumed move had passed it already). */
  readonly cutover: CutoverReport | null;
  readonly deletedRows: number;
  readonly verification: { readonly ok: boolean; readonly problems: readonly string[] };
}

function pendingFor(pending: PendingMove | null, input: BucketMoveInput): PendingMove | null {
  return pending && pending.bucket === input.bucket && pending.toShard === input.toShard
    ? pending
    : null;
}

/**
 * Checks that the move may run now, changing nothing: the input against the catalog
 * (`bucket_move_invalid`), no other move under way, and every table of the source attributable
 * (`bucket_move_unattributed`). A move a crash interrupted passes, to be continued.
 */
export async function preflightBucketMove(fleet: Fleet, input: BucketMoveInput): Promise<void> {
  const snapshot = await loadSnapshot(fleet);
  const pending = await readPendingMove(fleet.catalog);
  if (pendingFor(pending, input)) return;
  if (pending)
    throw new MainstayError(
      'operation_in_progress',
      `the move of bucket ${pending.bucket} to shard ${pending.toShard} is under way; finish it first`,
    );
  const sides = moveSidesOf(snapshot, input);
  await withDatabases(fleet, sides, (dbs) =>
    movedTablesOf(dbs.source, fleet.shardMigrations, snapshot, sides.from.shardId, input.bucket),
  );
}

/**
 * Gives up a move that stopped before its cutover (the undo of the ops step): capture turned off
 * on the source (its row in `mainstay.bucket_moves` deleted, which also lifts a fence a crash
 * left between the fence and the map), the log emptied, the target's partial rows deleted, the
 * flag cleared. Past the cutover there is nothing to give up: `state_conflict`, run the move
 * again to finish it. Returns whether a move was given up.
 */
export async function abandonBucketMove(fleet: Fleet, input: BucketMoveInput): Promise<boolean> {
  const pending = pendingFor(await readPendingMove(fleet.catalog), input);
  if (!pending) return false;
  const snapshot = await loadSnapshot(fleet);
  const current = snapshot.buckets.find((r) => input.bucket >= r.first && input.bucket <= r.last);
  if (current?.shardId !== pending.fromShard)
    throw new MainstayError(
      'state_conflict',
      `bucket ${input.bucket} is past its cutover to shard ${pending.toShard}; run the move again to finish it`,
    );
  const sides = moveSidesOf(snapshot, input, pending.fromShard);
  await withDatabases(fleet, sides, async (dbs) => {
    // The source committed the cutover (and carried its pinned rows out with it) but the map was
    // not changed: only finishing the move makes those rows arrive.
    const { rows: decided } = await dbs.source
      .query<{ state: string }>('SELECT state FROM mainstay.bucket_moves WHERE bucket = $1', [
        input.bucket,
      ])
      // A source the move never reached has no machinery yet: nothing was cut over there.
      .catch((error: { code?: string }) => {
        if (error.code === '42P01') return { rows: [] as { state: string }[] };
        throw error;
      });
    if (decided[0]?.state === 'moved')
      throw new MainstayError(
        'state_conflict',
        `bucket ${input.bucket} was cut over on shard ${pending.fromShard} already; run the move again to finish it`,
      );
    const { moved: tables, carriers } = await movedTablesOf(
      dbs.source,
      fleet.shardMigrations,
      snapshot,
      pending.fromShard,
      input.bucket,
      false,
    );
    await installMachinery(dbs.target);
    await dbs.source.query('DELETE FROM mainstay.bucket_moves WHERE bucket = $1', [input.bucket]);
    await dbs.source.query(
      'DELETE FROM mainstay.bucket_move_changes WHERE bucket = $1 OR bucket IS NULL',
      [input.bucket],
    );
    await dbs.source.query('DELETE FROM mainstay.bucket_move_pinned WHERE bucket = $1', [
      input.bucket,
    ]);
    await deleteBucket(dbs.target, tables, {
      bucket: input.bucket,
      bucketCount: snapshot.bucketCount,
    });
    const carried = carriedMoveOf(snapshot, { ...pending, bucket: input.bucket });
    for (const carrier of carriers) await carrier.abandon(dbs.target, carried);
  });
  await fleet.catalog.setFlag(BUCKET_MOVE_FLAG, '');
  return true;
}

async function loadSnapshot(fleet: Fleet): Promise<CatalogSnapshot> {
  const snapshot = await fleet.refreshCatalog();
  if (!snapshot) throw new MainstayError('catalog_unavailable', 'the catalog is empty');
  return snapshot;
}

/**
 * Moves one bucket to another shard online (decision 58): capture, copy, catch up, a cutover
 * with the bucket's writes paused, the source's rows deleted, every copy verified. Recorded in
 * the catalog before its first change, so a rerun after a crash continues it: past the cutover
 * it cleans up; before it, it starts over (the map still has the bucket on the source).
 */
export async function moveBucket(
  fleet: Fleet,
  input: BucketMoveInput,
  signal?: AbortSignal,
): Promise<BucketMoveReport> {
  const end = fleet.planned.begin(`move of bucket ${input.bucket}`, []);
  try {
    const snapshot = await loadSnapshot(fleet);
    const pending = pendingFor(await readPendingMove(fleet.catalog), input);
    const sides = moveSidesOf(snapshot, input, pending?.fromShard);
    const move = {
      bucket: input.bucket,
      bucketCount: snapshot.bucketCount,
      fromShard: sides.from.shardId,
      toShard: sides.to.shardId,
    };
    const report = await withDatabases(fleet, sides, async (dbs) => {
      const tables = await movedTablesOf(
        dbs.source,
        fleet.shardMigrations,
        snapshot,
        move.fromShard,
        move.bucket,
      );
      await fleet.catalog.setFlag(BUCKET_MOVE_FLAG, JSON.stringify(pendingOf(move)));
      const pastCutover =
        snapshot.buckets.find((r) => move.bucket >= r.first && move.bucket <= r.last)?.shardId ===
        move.toShard;
      const moved = pastCutover
        ? null
        : await copyAndCutOver(dbs, fleet, tables, carriedMoveOf(snapshot, move), signal);
      const cleaned = await cleanUp(fleet, dbs, sides, tables.moved, move);
      return {
        ...move,
        resumed: pastCutover,
        tables: tables.moved.map((table) => table.table),
        pinnedTables: tables.pinned.map((table) => table.table),
        copiedRows: moved?.copiedRows ?? 0,
        catchUpRounds: moved?.rounds ?? 0,
        changesApplied: (moved?.applied ?? 0) + (moved?.cutover.applied ?? 0),
        cutover: moved?.cutover ?? null,
        ...cleaned,
      };
    });
    await fleet.catalog.setFlag(BUCKET_MOVE_FLAG, '');
    const { bucketCount: _count, ...shown } = report;
    return shown;
  } finally {
    end();
  }
}

function pendingOf(move: PendingMove): PendingMove {
  return { bucket: move.bucket, fromShard: move.fromShard, toShard: move.toShard };
}

async function copyAndCutOver(
  dbs: MoveDatabases,
  fleet: Fleet,
  { moved: tables, pinned, carriers }: BucketTables,
  move: CarriedMove,
  signal?: AbortSignal,
) {
  await installMachinery(dbs.source);
  await installMachinery(dbs.target);
  // A fence the target kept from moving this bucket away earlier is lifted before it returns.
  await dbs.target.query('DELETE FROM mainstay.bucket_moves WHERE bucket = $1', [move.bucket]);
  await installFences(dbs.source, { moved: tables, pinned }, move.bucketCount, move.bucket);
  await startCapture(dbs.source, move.bucket, move.toShard);
  const plans = await prepareCarry(dbs, { moved: tables, pinned, carriers }, move);
  signal?.throwIfAborted();
  const copiedRows = await copyBucket(dbs.source, dbs.target, tables, move);
  const { rounds, applied } = await catchUp(dbs, tables, move, signal);
  const report = await cutover(
    dbs,
    fleet.catalog,
    { moved: tables, pinned, carriers },
    move,
    plans,
  );
  await fleet.refreshCatalog();
  return { copiedRows, rounds, applied, cutover: report };
}

/**
 * After the cutover: the bucket's rows deleted from the source and its change log emptied (the
 * triggers stay, as the fence), then verified: none left on the source or its copy, and the
 * target's copy holding the same rows as the target.
 */
async function cleanUp(
  fleet: Fleet,
  dbs: MoveDatabases,
  sides: MoveSides,
  tables: readonly MovedTable[],
  move: BucketRows,
): Promise<{ deletedRows: number; verification: BucketMoveReport['verification'] }> {
  await sleep(BUCKET_MOVE_LIMITS.staleRouterGraceMs);
  const deletedRows = await deleteBucket(dbs.source, tables, move);
  await dbs.source.query(
    'DELETE FROM mainstay.bucket_move_changes WHERE bucket = $1 OR bucket IS NULL',
    [move.bucket],
  );
  await dbs.source.query('DELETE FROM mainstay.bucket_move_pinned WHERE bucket = $1', [
    move.bucket,
  ]);
  const problems: string[] = [];
  const targetCopy = await copyOf(fleet, sides.to, dbs.target, problems);
  const sourceCopy = await copyOf(fleet, sides.from, dbs.source, problems);
  for (const table of tables) {
    if (table.kind === 'copy') continue;
    for (const [where, db] of [
      ['source', dbs.source],
      ['source copy', sourceCopy],
    ] as const) {
      const left = db ? await bucketRowCount(db, table, move) : 0;
      if (left > 0)
        problems.push(`${table.table}: ${left} rows of the bucket left on the ${where}`);
    }
    if (!targetCopy) continue;
    const differs = await copyDiffers(dbs.target, targetCopy, sides.to.database, table, move);
    if (differs) problems.push(`${table.table}: the target's copy differs (${differs})`);
  }
  return { deletedRows, verification: { ok: problems.length === 0, problems } };
}

/**
 * Whether the copy's rows of the bucket differ from the home's, compared while the bucket's
 * writes go on: the home's hashes first, then the copy's once it has applied the home's WAL as
 * of after them. A write between the two shows as a difference, so a difference is compared
 * again, a few times; when writes keep coming, the table is compared by key (decision 53),
 * rows in flight read again after the copy caught up. Returns what differs, or `null`.
 */
async function copyDiffers(
  home: pg.Pool,
  copy: pg.Pool,
  database: string,
  table: MovedTable,
  move: BucketRows,
): Promise<string | null> {
  const settle = async () => {
    await waitForCopyToApply(home, copy, database, BUCKET_MOVE_LIMITS.copyApplyWaitMs);
  };
  for (let attempt = 0; attempt < BUCKET_MOVE_LIMITS.copyCompareAttemptMax; attempt += 1) {
    const atHome = await bucketHash(home, table, move);
    await settle();
    if (atHome === (await bucketHash(copy, table, move))) return null;
    await sleep(100);
  }
  // Busy: the whole table compared by key, rows in flight read again once the copy caught up.
  const found = await compareTable(home, copy, table.name, { settle, recheckRounds: 5 });
  const counts = [found.missing.length, found.extra.length, found.different.length];
  return counts.some((n) => n > 0)
    ? `${counts[0]} missing, ${counts[1]} extra, ${counts[2]} different`
    : null;
}

/** The shard's copy database, once it has applied everything its home has written. */
async function copyOf(
  fleet: Fleet,
  side: MoveSide,
  home: pg.Pool,
  problems: string[],
): Promise<pg.Pool | null> {
  if (!side.copy) return null;
  const copy = fleet.pools.pool(side.copy, side.database);
  // Schema `mainstay` is not replicated: the copy gets the bucket function for the checks.
  await installMachinery(copy);
  const applied = await waitForCopyToApply(
    home,
    copy,
    side.database,
    BUCKET_MOVE_LIMITS.copyApplyWaitMs,
  );
  if (!applied)
    problems.push(`the copy of shard ${side.shardId} on ${side.copy} is behind its home`);
  return copy;
}

/** Runs `work` with pools on the source's and the target's home primaries, closed after. */
async function withDatabases<T>(
  fleet: Fleet,
  sides: MoveSides,
  work: (dbs: MoveDatabases) => Promise<T>,
): Promise<T> {
  const open = (side: MoveSide) => {
    const pool = guardedPool({
      ...fleet.connection(side.primary),
      database: side.database,
      max: 4,
      application_name: 'mainstay-bucket-move',
    });
    return pool;
  };
  const dbs = { source: open(sides.from), target: open(sides.to) };
  let result: T;
  try {
    result = await work(dbs);
  } catch (error) {
    // Not waited for: a connection still in a query on a hung server (a cutover given up at
    // its bound) would hold the failure's answer up; the pools end once their queries do.
    for (const pool of [dbs.source, dbs.target]) pool.end().catch(() => undefined);
    throw error;
  }
  await Promise.all([dbs.source.end(), dbs.target.end()]);
  return result;
}
