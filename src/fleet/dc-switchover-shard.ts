import type pg from 'pg';
import type { ConnectionPools } from '../postgres/connection-pools.ts';
import { restoreCopyChecks, setAsideCopyChecks } from './copy-checks.ts';
import type { ReseedPools } from './dc-reseed-copy.ts';
import { DC_SWITCHOVER } from './dc-switchover-preflight.ts';
import type { Fleet } from './fleet.ts';
import {
  createCopySubscription,
  dropCopySlot,
  dropSubscriptionLocally,
  ensurePublication,
  quoteIdent,
  SHARD_PUBLICATION,
  subscriptionName,
} from './shard-replication.ts';

const POLL_MS = 50;
const TERMINATE_POLL_MS = 5;

/** Application name of the switchover's own sessions, which its fence leaves alone. */
export const DC_SWITCHOVER_APPLICATION = 'mainstay-dc-switchover';

/** One shard being moved: its database and the two primaries. */
export interface ShardMove {
  readonly id: number;
  readonly database: string;
  /** The home now (the copy afterwards). */
  readonly oldHome: string;
  /** The copy now (the home afterwards). */
  readonly newHome: string;
}

/**
 * Fences a shard's database on its old home: new sessions default to read-only (the database
 * setting), transactions in flight get up to {@link DC_SWITCHOVER.drainWaitMs} to finish, then
 * every client session is ended (waiting for each to exit), twice, so that none opened before
 * the setting took effect survives. Replication is left alone: the walsender of the copy's
 * slot (it must send the last writes) and any apply worker. The switchover's own sessions
 * (`exempt`, {@link DC_SWITCHOVER_APPLICATION}) are spared; they write with the default off.
 */
export async function fenceDatabase(fleet: Fleet, move: ShardMove): Promise<void> {
  const admin = fleet.pools.pool(move.oldHome);
  await admin.query(
    `ALTER DATABASE ${quoteIdent(move.database)} SET default_transaction_read_only = on`,
  );
  const deadline = Date.now() + DC_SWITCHOVER.drainWaitMs;
  while (Date.now() < deadline && (await clientsInTransaction(admin, move.database)) > 0) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  await endClientSessions(admin, move.database);
  await endClientSessions(admin, move.database);
}

/**
 * Lifts the fence of {@link fenceDatabase}: the database setting reset, and the sessions opened
 * while it was set (which keep the read-only default for their lifetime) ended.
 */
export async function unfenceDatabase(fleet: Fleet, move: ShardMove): Promise<void> {
  const admin = fleet.pools.pool(move.oldHome);
  await admin.query(
    `ALTER DATABASE ${quoteIdent(move.database)} RESET default_transaction_read_only`,
  );
  await endClientSessions(admin, move.database);
}

/** Whether the database is fenced (its read-only default set) on `server`. */
export async function databaseFenced(
  fleet: Fleet,
  server: string,
  database: string,
): Promise<boolean> {
  return readOnlyByDefault(fleet.pools.pool(server), database);
}

async function readOnlyByDefault(admin: pg.Pool, database: string): Promise<boolean> {
  const { rowCount } = await admin.query(
    `SELECT 1 FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
      WHERE d.datname = $1 AND s.setrole = 0
        AND 'default_transaction_read_only=on' = ANY (s.setconfig)`,
    [database],
  );
  return (rowCount ?? 0) > 0;
}

async function clientsInTransaction(admin: pg.Pool, database: string): Promise<number> {
  const { rows } = await admin.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE datname = $1 AND backend_type = 'client backend' AND pid <> pg_backend_pid()
        AND xact_start IS NOT NULL AND application_name <> $2`,
    [database, DC_SWITCHOVER_APPLICATION],
  );
  return rows[0]?.n ?? 0;
}

/**
 * Ends every client session of `database` but the switchover's own, and waits (bounded) until
 * they are gone. `pg_terminate_backend`'s own wait polls every 100 ms, one session after
 * another, which inside the write pause adds up; so all are signalled at once and the list
 * polled instead. A session gone from `pg_stat_activity` has exited: it commits nothing more.
 */
async function endClientSessions(admin: pg.Pool, database: string): Promise<void> {
  const { rows } = await admin.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity
      WHERE datname = $1 AND backend_type = 'client backend' AND pid <> pg_backend_pid()
        AND application_name <> $2`,
    [database, DC_SWITCHOVER_APPLICATION],
  );
  const pids = rows.map((row) => row.pid);
  // A query of its own: in one query, nothing orders the call before the filters above.
  if (pids.length > 0)
    await admin.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [pids]);
  const deadline = Date.now() + DC_SWITCHOVER.terminateWaitMs;
  while (pids.length > 0) {
    const { rows: left } = await admin.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = ANY($1::int[])',
      [pids],
    );
    if ((left[0]?.n ?? 0) === 0) return;
    if (Date.now() > deadline)
      throw new Error(
        `sessions of ${database} still running ${DC_SWITCHOVER.terminateWaitMs} ms after they were ended`,
      );
    await new Promise((resolve) => setTimeout(resolve, TERMINATE_POLL_MS));
  }
}

/** Whether `server` holds the shard's subscription (it is, or is becoming, the copy). */
export async function hasSubscription(
  fleet: Fleet,
  server: string,
  database: string,
): Promise<boolean> {
  const { rowCount } = await fleet.pools
    .pool(server, database)
    .query('SELECT 1 FROM pg_subscription WHERE subname = $1', [subscriptionName(database)]);
  return (rowCount ?? 0) > 0;
}

/**
 * Makes the copy the home, once it has applied everything its fenced home wrote: its
 * subscription dropped (and the slot on the old home), its CHECK constraints put back (as
 * copy-checks.ts does at a DC loss), every sequence of schema `public` set to at least the old
 * home's value (exact: the old home is fenced, so its sequences are final; no blind gap), and
 * the shard published. Safe to run again.
 */
export async function makeNewHome(fleet: Fleet, move: ShardMove, exempt: ReseedPools) {
  // First: a copy that was a switchover's old home is read-only by default, for its subscription
  // and constraints too. No router writes to it before the commit names it the home.
  await makeWritable(fleet.pools, move.newHome, move.database);
  const newHomeDb = fleet.pools.pool(move.newHome, move.database);
  await dropSubscriptionLocally(newHomeDb, move.database);
  await dropCopySlot(exempt.pool(move.oldHome, move.database), move.database);
  await restoreCopyChecks(newHomeDb);
  await carrySequences(fleet.pools.pool(move.oldHome, move.database), newHomeDb);
  await ensurePublication(newHomeDb);
}

/**
 * Resets a database's read-only default on its server (set on a copy that was the old home of a
 * DC switchover) and ends the client sessions opened under it, which keep it for their lifetime;
 * nothing when it was not set.
 */
export async function makeWritable(
  pools: ConnectionPools,
  server: string,
  database: string,
): Promise<void> {
  const admin = pools.pool(server);
  if (!(await readOnlyByDefault(admin, database))) return;
  await admin.query(`ALTER DATABASE ${quoteIdent(database)} RESET default_transaction_read_only`);
  await endClientSessions(admin, database);
  // The sessions ended include idle ones of `pools`' own: a new pool, so that the caller's next
  // query does not meet a session the server has terminated.
  pools.dropDatabase(server, database);
}

/** Sets each sequence of schema `public` on `to` to at least its value on `from`. */
async function carrySequences(from: pg.Pool, to: pg.Pool): Promise<number> {
  const { rows } = await from.query<{ name: string; last: string }>(
    `SELECT format('%I.%I', schemaname, sequencename) AS name, last_value::text AS last
       FROM pg_sequences WHERE schemaname = 'public' AND last_value IS NOT NULL`,
  );
  for (const row of rows) {
    await to.query(
      `SELECT setval($1::regclass, $2::bigint)
        WHERE coalesce((SELECT last_value FROM pg_sequences
                         WHERE format('%I.%I', schemaname, sequencename) = $1), $2::bigint - 1)
              < $2::bigint`,
      [row.name, row.last],
    );
  }
  return rows.length;
}

/**
 * Makes the old home the new copy without copying its data again (it holds exactly what the
 * new home holds: fenced, and applied up to its last write): its publication dropped, its CHECK
 * constraints set aside as on every copy, a subscription to the new home created with
 * `copy_data = false`. The subscription's slot on the new home starts at its current position,
 * so this runs before the new home takes its first write. A leftover slot of the same name on
 * the new home (from an earlier attempt) is dropped first. Safe to run again.
 */
export async function makeNewCopy(
  fleet: Fleet,
  move: ShardMove,
  exempt: ReseedPools,
): Promise<void> {
  const copyDb = exempt.pool(move.oldHome, move.database);
  await copyDb.query(`DROP PUBLICATION IF EXISTS ${SHARD_PUBLICATION}`);
  await setAsideCopyChecks(copyDb);
  if (await hasSubscription(fleet, move.oldHome, move.database)) return;
  await createCopySubscription(
    copyDb,
    fleet.pools.pool(move.newHome, move.database),
    move.database,
    fleet.publisherConninfo(move.newHome, move.database),
    false,
  );
}

/**
 * Undoes {@link makeNewCopy} and {@link makeNewHome} for a shard whose move was not committed
 * to the catalog: the old home's subscription (and its slot on the new home) dropped, its
 * CHECK constraints back, published again; the new home's publication dropped and, if its
 * subscription was dropped, subscribed again from the old home without a copy (the old home
 * was fenced, and the subscription is dropped only once it applied everything). Safe to run
 * again.
 */
export async function undoMove(fleet: Fleet, move: ShardMove, exempt: ReseedPools) {
  const oldHomeDb = exempt.pool(move.oldHome, move.database);
  const newHomeDb = fleet.pools.pool(move.newHome, move.database);
  if (await dropSubscriptionLocally(oldHomeDb, move.database))
    await dropCopySlot(newHomeDb, move.database);
  await restoreCopyChecks(oldHomeDb);
  await ensurePublication(oldHomeDb);
  if (await hasSubscription(fleet, move.newHome, move.database)) return;
  await newHomeDb.query(`DROP PUBLICATION IF EXISTS ${SHARD_PUBLICATION}`);
  await setAsideCopyChecks(newHomeDb);
  await createCopySubscription(
    newHomeDb,
    oldHomeDb,
    move.database,
    fleet.publisherConninfo(move.oldHome, move.database),
    false,
  );
}
