import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { CatalogStore } from '../catalog/catalog-store.ts';
import { MainstayError } from '../errors/mainstay-error.ts';
import type { BucketCarrier, CarriedMove, CarryPlan } from '../migrations/bucket-carry.ts';
import { type BucketTables, keptPinned, pinnedRowsNaming, rowsText } from './bucket-move-plan.ts';
import {
  applyChanges,
  type BucketRows,
  bucketHash,
  CHANGE_BATCH_MAX,
  resyncTable,
} from './bucket-move-rows.ts';
import type { MovedTable } from './bucket-move-sql.ts';

/** Bounds of a bucket move's phases. */
export const BUCKET_MOVE_LIMITS = {
  /** Longest wait for the transactions open when capture began to end. */
  olderTransactionWaitMs: 30_000,
  /** Catch-up rounds before the cutover is tried whatever is left. */
  catchUpRoundMax: 50,
  /** A round that applied fewer changes than this leaves little enough for the pause. */
  catchUpSmallEnough: 100,
  /** Longest wait, inside the pause, for the bucket's writers in flight to commit. */
  pauseLockTimeoutMs: 5_000,
  /**
   * Longest pause: a cutover that has not reached the source's commit by then (a shard hung,
   * its queries never answered) has its source transaction ended, and the bucket's writes resume.
   */
  pauseMaxMs: 10_000,
  /** Longest wait for a shard's logical copy to apply what its home wrote. */
  copyApplyWaitMs: 30_000,
  /**
   * How long the source keeps the bucket's rows after the cutover, so that an UPDATE or DELETE
   * from a router that has not seen the new epoch yet (routers hear it by NOTIFY at once, and
   * poll every second) meets its row and the fence, instead of matching nothing.
   */
  staleRouterGraceMs: 3_000,
  /** Quick comparisons of the target's copy (the bucket's hashes) before one by key. */
  copyCompareAttemptMax: 3,
} as const;

/** The source and target databases of a move (pools without a client-side query bound). */
export interface MoveDatabases {
  readonly source: pg.Pool;
  readonly target: pg.Pool;
}

/**
 * Turns capture on for the bucket on the source: its earlier log entries dropped (a fresh copy
 * follows), its row in `mainstay.bucket_moves` set to `capturing` (lifting a fence a crash
 * between the fence and the catalog change left). Then waits until every transaction that had
 * written anything when capture committed has ended: one that wrote a row of the bucket before
 * its trigger could see the capture could commit after the copy's snapshot and be in neither.
 * Those are the transactions whose xids were assigned by then, all below the `xmax` of a
 * snapshot taken after the commit; the wait ends when the oldest running xid reaches it. (Not
 * the capture's own xid: a writer assigned a later xid, at its first write, while the capture
 * was still open, wrote before the capture was visible, and is not older than it.)
 */
export async function startCapture(db: pg.Pool, bucket: number, toShard: number): Promise<void> {
  const client = await db.connect();
  let xmax: string;
  try {
    await client.query('BEGIN');
    await client.query(
      'DELETE FROM mainstay.bucket_move_changes WHERE bucket = $1 OR bucket IS NULL',
      [bucket],
    );
    await client.query('DELETE FROM mainstay.bucket_move_pinned WHERE bucket = $1', [bucket]);
    await client.query(
      `INSERT INTO mainstay.bucket_moves (bucket, state, to_shard) VALUES ($1, 'capturing', $2)
       ON CONFLICT (bucket) DO UPDATE SET state = 'capturing', to_shard = $2, changed_at = now()`,
      [bucket, toShard],
    );
    await client.query('COMMIT');
    const { rows } = await client.query<{ xmax: string }>(
      'SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS xmax',
    );
    xmax = rows[0]?.xmax ?? '0';
    client.release();
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    client.release(true);
    throw error;
  }
  const deadline = Date.now() + BUCKET_MOVE_LIMITS.olderTransactionWaitMs;
  for (;;) {
    const { rows } = await db.query<{ done: boolean }>(
      'SELECT pg_snapshot_xmin(pg_current_snapshot()) >= $1::xid8 AS done',
      [xmax],
    );
    if (rows[0]?.done) return;
    if (Date.now() >= deadline)
      throw new MainstayError(
        'preflight_refused',
        `a transaction open since before the move began is still open after ${BUCKET_MOVE_LIMITS.olderTransactionWaitMs} ms`,
      );
    await sleep(50);
  }
}

/**
 * Applies the change log in rounds while writes go on, until a round finds little left (or the
 * round bound is reached). Returns the rounds run and the changes applied.
 */
export async function catchUp(
  dbs: MoveDatabases,
  tables: readonly MovedTable[],
  rows: BucketRows,
  signal?: AbortSignal,
): Promise<{ rounds: number; applied: number }> {
  let applied = 0;
  for (let round = 1; ; round += 1) {
    signal?.throwIfAborted();
    let inRound = 0;
    for (;;) {
      const n = await applyChanges(dbs.source, dbs.target, tables, rows);
      inRound += n;
      if (n < CHANGE_BATCH_MAX) break;
    }
    applied += inRound;
    if (
      inRound < BUCKET_MOVE_LIMITS.catchUpSmallEnough ||
      round >= BUCKET_MOVE_LIMITS.catchUpRoundMax
    )
      return { rounds: round, applied };
  }
}

/**
 * Compares the bucket's rows in every moved table between source and target (row count and the
 * sum of the rows' hashes, computed inside each server); a table that differs is copied again
 * whole and compared again. Returns the tables copied again; throws when one still differs.
 */
async function verifyOrResync(
  dbs: MoveDatabases,
  tables: readonly MovedTable[],
  rows: BucketRows,
): Promise<string[]> {
  const resynced: string[] = [];
  for (const table of tables) {
    if (table.kind === 'copy') continue;
    if ((await bucketHash(dbs.source, table, rows)) === (await bucketHash(dbs.target, table, rows)))
      continue;
    resynced.push(table.table);
    await resyncTable(dbs.source, dbs.target, table, rows);
    const [source, target] = [
      await bucketHash(dbs.source, table, rows),
      await bucketHash(dbs.target, table, rows),
    ];
    if (source !== target)
      throw new MainstayError(
        'state_conflict',
        `bucket ${rows.bucket} of ${table.table} differs between source and target after a second copy (${source} against ${target})`,
      );
  }
  return resynced;
}

/**
 * Refuses the cutover (nothing committed) when a pinned table no carrier takes gained a row
 * naming the bucket since capture began (logged by its trigger, so no table is scanned under
 * the pause): such rows stay on the source, and the bucket would leave them behind. Run under
 * the pause, so every writer of such a row has committed or waits for the fence.
 */
async function refuseIfPinned(
  holder: pg.ClientBase,
  tables: BucketTables,
  move: CarriedMove,
): Promise<void> {
  const kept = keptPinned(tables);
  const { rows } = await holder.query<{ table_name: string; n: number }>(
    `SELECT table_name, count(*)::int AS n FROM mainstay.bucket_move_pinned
      WHERE bucket = $1 AND table_name = ANY ($2::text[]) GROUP BY table_name ORDER BY 1`,
    [move.bucket, kept.map((table) => table.table)],
  );
  const problems = rows.map((row) => {
    const table = kept.find((t) => t.table === row.table_name);
    return `${row.table_name} (${rowsText(row.n)}; ${table?.reason ?? 'pinned'})`;
  });
  if (problems.length > 0)
    throw new MainstayError(
      'bucket_move_unattributed',
      `rows naming bucket ${move.bucket} were written to tables that keep their rows on the shard while it was copied: ${problems.join('; ')}; nothing was cut over`,
    );
}

/**
 * Once capture began, outside the pause: refuses when a pinned table no carrier takes has a row
 * naming the bucket (a scan, of what was written since the preflight too; what is written from
 * now on is logged), or a carrier refuses; then each carrier prepares (and copies early what
 * it can). Returns the carriers' plans, in order.
 */
export async function prepareCarry(
  dbs: MoveDatabases,
  tables: BucketTables,
  move: CarriedMove,
): Promise<CarryPlan[]> {
  const { carriers } = tables;
  const problems: string[] = [];
  for (const table of keptPinned(tables)) {
    const naming = await pinnedRowsNaming(dbs.source, table, move.bucket, move.bucketCount);
    if (naming > 0)
      problems.push(
        `${table.table} (bucket ${move.bucket} named by ${rowsText(naming)}; ${table.reason})`,
      );
  }
  for (const carrier of carriers) problems.push(...(await carrier.refusals(dbs.source, move)));
  if (problems.length > 0)
    throw new MainstayError(
      'bucket_move_unattributed',
      `shard ${move.fromShard} holds rows a move of bucket ${move.bucket} cannot take or leave behind: ${problems.join('; ')}`,
    );
  const plans: CarryPlan[] = [];
  for (const carrier of carriers) plans.push(await carrier.prepare(dbs.source, dbs.target, move));
  return plans;
}

/** What the cutover did. */
export interface CutoverReport {
  /** From asking for the bucket's lock to the catalog change: writes to the bucket waited. */
  readonly pauseMs: number;
  readonly applied: number;
  readonly resynced: readonly string[];
  /** Pinned rows the carriers closed out on the source and made arrive on the target. */
  readonly carried: { readonly departed: number; readonly arrived: number };
  readonly epoch: number;
}

/**
 * The carriers' part of the cutover, inside the source's transaction (the bucket's writers
 * held): each closes the bucket's pinned rows out on the source, then makes them arrive in one
 * transaction of the target, which the caller commits after the source's. Returns the target's
 * client, its transaction open.
 */
async function carry(
  holder: pg.ClientBase,
  target: pg.Pool,
  carriers: readonly BucketCarrier[],
  move: CarriedMove,
  plans: readonly CarryPlan[],
): Promise<{ client: pg.PoolClient; departed: number; arrived: number }> {
  let departed = 0;
  for (const [n, carrier] of carriers.entries())
    departed += await carrier.depart(holder, move, plans[n]);
  const client = await target.connect();
  let arrived = 0;
  try {
    await client.query('BEGIN');
    for (const [n, carrier] of carriers.entries())
      arrived += await carrier.arrive(holder, client, move, plans[n]);
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    client.release(true);
    throw error;
  }
  return { client, departed, arrived };
}

/**
 * Applies the change log up to its last entry as the held cutover sees it (no writer of the
 * bucket can add to it now); returns how many changes were applied.
 */
async function applyRestOfLog(
  holder: pg.ClientBase,
  dbs: MoveDatabases,
  moved: BucketTables['moved'],
  move: CarriedMove,
): Promise<number> {
  const { rows: last } = await holder.query<{ seq: string | null }>(
    'SELECT max(seq)::text AS seq FROM mainstay.bucket_move_changes',
  );
  const through = last[0]?.seq ?? '0';
  let applied = 0;
  for (;;) {
    const n = await applyChanges(dbs.source, dbs.target, moved, move, through);
    applied += n;
    if (n === 0) return applied;
  }
}

/**
 * The part of the cutover that pauses the bucket's writes, on `holder`'s transaction of the
 * source: hold, apply the rest of the log, verify, carry, fence, commit. Answers with the
 * target's transaction of the carried rows still open (the caller commits it); when it fails
 * after carrying, that connection is dropped (which rolls it back) without waiting on the
 * target, which may be the shard that hangs.
 */
async function pausedWork(
  holder: pg.ClientBase,
  dbs: MoveDatabases,
  tables: BucketTables,
  move: CarriedMove,
  plans: readonly CarryPlan[],
  watchdog: { committing(): void },
) {
  await holder.query('BEGIN');
  await holder.query(`SET LOCAL lock_timeout = ${BUCKET_MOVE_LIMITS.pauseLockTimeoutMs}`);
  for (const [n, carrier] of tables.carriers.entries()) await carrier.hold(holder, move, plans[n]);
  await holder.query('SELECT 1 FROM mainstay.bucket_moves WHERE bucket = $1 FOR UPDATE', [
    move.bucket,
  ]);
  const applied = await applyRestOfLog(holder, dbs, tables.moved, move);
  const resynced = await verifyOrResync(dbs, tables.moved, move);
  await refuseIfPinned(holder, tables, move);
  const carried = await carry(holder, dbs.target, tables.carriers, move, plans);
  try {
    await holder.query(
      `UPDATE mainstay.bucket_moves SET state = 'moved', changed_at = now() WHERE bucket = $1`,
      [move.bucket],
    );
    watchdog.committing();
    await holder.query('COMMIT');
  } catch (error) {
    carried.client.release(true);
    throw error;
  }
  return { applied, resynced, carried };
}

/**
 * The cutover, with the bucket's writes paused and every other write flowing: takes the bucket's
 * move row FOR UPDATE on the source (waiting for the writers in flight, holding new ones in the
 * trigger), applies the rest of the log, verifies source against target, marks the bucket
 * `moved` (the fence) and commits, then commits the new map to the catalog. The held writers
 * wake to the fence, and their routers retry on the new shard once they see the new epoch.
 */
export async function cutover(
  dbs: MoveDatabases,
  catalog: CatalogStore,
  tables: BucketTables,
  move: CarriedMove,
  plans: readonly CarryPlan[],
): Promise<CutoverReport> {
  const holder = await dbs.source.connect();
  const started = performance.now();
  let watchdog: Awaited<ReturnType<typeof pauseWatchdog>> | null = null;
  let done: Awaited<ReturnType<typeof pausedWork>>;
  try {
    // Inside the try: a failure to read the session's pid releases the holder too.
    watchdog = await pauseWatchdog(dbs.source, holder, BUCKET_MOVE_LIMITS.pauseMaxMs);
    const work = pausedWork(holder, dbs, tables, move, plans, watchdog);
    work.catch(() => undefined);
    // The bound ends the wait too: work waiting on a hung target is left to fail by itself
    // (its next query on the ended session), and the move answers now.
    done = await Promise.race([work, watchdog.ended]);
    holder.release();
  } catch (error) {
    watchdog?.stop();
    if (watchdog?.fired) {
      holder.release(true);
      throw new MainstayError(
        'bucket_move_aborted',
        `the cutover of bucket ${move.bucket} did not reach its commit within ${BUCKET_MOVE_LIMITS.pauseMaxMs} ms, so its pause was ended on shard ${move.fromShard} and its writes resumed there; nothing was cut over`,
        { cause: error },
      );
    }
    await holder.query('ROLLBACK').catch(() => undefined);
    holder.release(true);
    throw error;
  }
  const { applied, resynced, carried } = done;
  // The source decided: its departures are durable with the fence. A failure from here on is
  // finished by running the move again, which makes them arrive again (a repeat is harmless).
  await carried.client.query('COMMIT').finally(() => carried.client.release());
  const epoch = await commitMove(catalog, move);
  return {
    pauseMs: performance.now() - started,
    applied,
    resynced,
    carried: { departed: carried.departed, arrived: carried.arrived },
    epoch,
  };
}

/**
 * Bounds the pause against a hang. The cutover's work waits on both shards, and a shard that
 * stopped answering (a hung primary: its queries neither fail nor finish) would hold the
 * bucket's writes for as long as it hangs. After `limitMs`, unless the cutover has begun its
 * commit, the source's session of the cutover is terminated from another connection: its
 * transaction rolls back (no departure, no fence), its locks go, and the bucket's writers go on
 * at the source. The cutover itself fails once its next query meets the ended session. The
 * decision is taken once, in one turn of the event loop: either the commit was begun (the
 * watchdog then does nothing) or the session is ended (the commit is then never sent).
 */
async function pauseWatchdog(source: pg.Pool, holder: pg.ClientBase, limitMs: number) {
  const { rows } = await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  const pid = rows[0]?.pid;
  // The ended session reports its end as an error event of the client, which the pool does not
  // listen for while the client is checked out: unheard, it would end the process.
  holder.on('error', () => undefined);
  let state: 'watching' | 'committing' | 'fired' = 'watching';
  let fire: (error: Error) => void = () => undefined;
  const ended = new Promise<never>((_, reject) => {
    fire = reject;
  });
  ended.catch(() => undefined);
  const timer = setTimeout(() => {
    if (state !== 'watching') return;
    state = 'fired';
    source.query('SELECT pg_terminate_backend($1)', [pid]).catch(() => undefined);
    fire(new Error(`the pause reached its bound of ${limitMs} ms`));
  }, limitMs);
  return {
    /** Rejects when the pause is ended by its bound; never settles otherwise. */
    ended,
    get fired() {
      return state === 'fired';
    },
    /** Called right before the source's COMMIT is sent: throws when the pause was ended. */
    committing() {
      if (state === 'fired') throw new Error('the pause was ended by its bound before the commit');
      state = 'committing';
      clearTimeout(timer);
    },
    stop() {
      clearTimeout(timer);
    },
  };
}

/** The new map: the bucket on the target shard, at a new epoch. */
export async function commitMove(
  catalog: CatalogStore,
  move: { readonly bucket: number; readonly fromShard: number; readonly toShard: number },
): Promise<number> {
  return catalog.commitChange(
    `bucket ${move.bucket} moved from shard ${move.fromShard} to shard ${move.toShard}`,
    { buckets: [{ bucket: move.bucket, shardId: move.toShard }] },
    { bucket: move.bucket, fromShard: move.fromShard, toShard: move.toShard },
  );
}
