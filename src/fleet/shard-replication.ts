import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { withQueryBound } from '../postgres/query-bound.ts';

/** Name of the publication in every shard database on its home primary. */
export const SHARD_PUBLICATION = 'mainstay_shard';

/** Subscription (and, on the publisher, replication slot) name of a shard's logical copy. */
export function subscriptionName(database: string): string {
  return `${database}_copy`;
}

/**
 * How long making a copy's subscription may wait. The subscription's logical slot on the home
 * starts from a snapshot taken once every transaction running there has ended, so `CREATE
 * SUBSCRIPTION` waits for the longest of them: a batch, a migration, a session left idle in a
 * transaction. The fleet pools' bound on one query (3 s) would give up on the client while the
 * server goes on making the slot. This one is long enough for a bank's ordinary transactions;
 * past it the step fails with the timeout, and its caller (a start, a failover's re-pointing of
 * the copies, a re-seed) reports it or tries again.
 */
const SLOT_CREATION_WAIT_MS = 120_000;

/**
 * Subscribes the shard copy in `copyDb` to the home's publication at `publisherConninfo`, which
 * makes its slot on the home (`homeDb`, the shard's database there). A slot of that name already
 * on the home belongs to no subscription, since the copy has none: it was left by a subscription
 * dropped without its slot (a re-seed drops it so, `slot_name = NONE`, in case the home is gone),
 * or by a `CREATE SUBSCRIPTION` given up on after the home made the slot. It is dropped first:
 * else the new subscription fails on its name (`replication slot ... already exists`), and every
 * retry with it, while the slot holds the home's WAL.
 *
 * `origin = none` keeps changes that arrived by replication from being sent back, so a later
 * reverse subscription (after a DC failover moves the home) cannot loop. `binary = true` sends
 * each column in its binary form (both sides run the same PostgreSQL binaries): no text output
 * on the home, no parsing on the copy, which is where a timestamp column cost most. `failover =
 * true` keeps the slot on the home's standby too. With `copyData`, every table is first copied
 * from the home.
 */
export async function createCopySubscription(
  copyDb: pg.Pool,
  homeDb: pg.Pool,
  database: string,
  publisherConninfo: string,
  copyData: boolean,
): Promise<void> {
  await dropCopySlot(homeDb, database);
  await copyDb.query(
    withQueryBound(
      `CREATE SUBSCRIPTION ${quoteIdent(subscriptionName(database))}
       CONNECTION ${quoteLiteral(publisherConninfo)} PUBLICATION ${SHARD_PUBLICATION}
       WITH (origin = none, copy_data = ${copyData}, failover = true, binary = true)`,
      SLOT_CREATION_WAIT_MS,
    ),
  );
}

/** Creates a database unless it exists (CREATE DATABASE has no IF NOT EXISTS). */
export async function ensureDatabase(admin: pg.Pool, database: string): Promise<void> {
  const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [
    database,
  ]);
  if (rowCount === 0) await admin.query(`CREATE DATABASE ${quoteIdent(database)}`);
}

/**
 * On a shard's home primary: publish schema `public` (the application tables; Mainstay's own
 * bookkeeping lives in schema `mainstay` and is never replicated).
 */
export async function ensurePublication(shardDb: pg.Pool): Promise<void> {
  const { rowCount } = await shardDb.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [
    SHARD_PUBLICATION,
  ]);
  if (rowCount === 0) {
    await shardDb.query(`CREATE PUBLICATION ${SHARD_PUBLICATION} FOR TABLES IN SCHEMA public`);
  }
}

/**
 * On the other DC's primary: subscribe to the home's publication, with an initial copy
 * ({@link createCopySubscription}). Refreshes an existing subscription so tables added by a
 * migration start replicating, and follows the home primary when its address changed.
 */
export async function ensureSubscription(
  copyDb: pg.Pool,
  homeDb: pg.Pool,
  database: string,
  publisherConninfo: string,
): Promise<void> {
  const name = subscriptionName(database);
  const { rows } = await copyDb.query<{
    subenabled: boolean;
    subconninfo: string;
    subbinary: boolean;
  }>('SELECT subenabled, subconninfo, subbinary FROM pg_subscription WHERE subname = $1', [name]);
  if (rows.length === 0) {
    // The initial copy brings every row from the home: rows a migration seeded on the copy too
    // (reference data such as a currency table) would fail it on their keys, forever.
    await emptyPublicTables(copyDb);
    await createCopySubscription(copyDb, homeDb, database, publisherConninfo, true);
    return;
  }
  if (rows[0] && !rows[0].subbinary) {
    // Made before copies went binary: the apply worker restarts with it and goes on from its
    // origin's position.
    await copyDb.query(`ALTER SUBSCRIPTION ${quoteIdent(name)} SET (binary = true)`);
  }
  if (rows[0] && rows[0].subconninfo !== publisherConninfo) {
    // The home primary moved (another port, another home directory): follow it.
    await copyDb.query(
      `ALTER SUBSCRIPTION ${quoteIdent(name)} CONNECTION ${quoteLiteral(publisherConninfo)}`,
    );
  }
  if (rows[0]?.subenabled) {
    await copyDb.query(`ALTER SUBSCRIPTION ${quoteIdent(name)} REFRESH PUBLICATION`);
  }
}

/**
 * The last position of the home's WAL that a copy has applied, from its replication origin
 * (kept durably with the applied data, so it is right even after the publisher is gone).
 */
export async function appliedRemoteLsn(copyDb: pg.Pool, database: string): Promise<string | null> {
  const { rows } = await copyDb.query<{ lsn: string | null }>(
    `SELECT pg_replication_origin_progress('pg_' || s.oid, true)::text AS lsn
     FROM pg_subscription s WHERE s.subname = $1`,
    [subscriptionName(database)],
  );
  return rows[0]?.lsn ?? null;
}

/**
 * Waits until a shard's copy has applied everything its home had written when this was called:
 * the position the copy's apply worker last reported back (`latest_end_lsn`) reaches the home's
 * WAL position. `false` when it has not within `timeoutMs`. A comparison of home and copy waits
 * here before it reads again the rows it found different (decision 53).
 */
export async function waitForCopyToApply(
  homeDb: pg.Pool,
  copyDb: pg.Pool,
  database: string,
  timeoutMs: number,
): Promise<boolean> {
  const { rows } = await homeDb.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows: reached } = await copyDb.query<{ done: boolean }>(
      `SELECT coalesce(bool_or(latest_end_lsn >= $2::pg_lsn), false) AS done
         FROM pg_stat_subscription WHERE subname = $1`,
      [subscriptionName(database), rows[0]?.lsn],
    );
    if (reached[0]?.done) return true;
    if (Date.now() >= deadline) return false;
    await sleep(50);
  }
}

/**
 * Cuts a copy loose from a publisher that is gone: disables the subscription and drops its
 * claim on the remote slot (which cannot be reached to drop). The subscription object stays,
 * as a record, until the copy is re-seeded.
 */
export async function detachSubscription(copyDb: pg.Pool, database: string): Promise<void> {
  const name = quoteIdent(subscriptionName(database));
  const { rowCount } = await copyDb.query('SELECT 1 FROM pg_subscription WHERE subname = $1', [
    subscriptionName(database),
  ]);
  if (rowCount === 0) return;
  await copyDb.query(`ALTER SUBSCRIPTION ${name} DISABLE`);
  await copyDb.query(`ALTER SUBSCRIPTION ${name} SET (slot_name = NONE)`);
}

/**
 * Logical replication does not carry sequence positions, so a copy's sequences lag its home's.
 * Before a copy takes writes as the new home, every sequence in schema `public` jumps ahead by
 * `gap`, so values it hands out cannot collide with ones the lost home already used.
 */
export async function advanceSequences(db: pg.Pool, gap: number): Promise<number> {
  const { rows } = await db.query<{ name: string }>(
    `SELECT format('%I.%I', schemaname, sequencename) AS name FROM pg_sequences WHERE schemaname = 'public'`,
  );
  for (const row of rows) {
    await db.query(
      "SELECT setval($1::regclass, coalesce((SELECT last_value FROM pg_sequences WHERE format('%I.%I', schemaname, sequencename) = $1), 0) + $2)",
      [row.name, gap],
    );
  }
  return rows.length;
}

/** Whether the home primary holds the logical slot of a shard's copy. */
export async function hasCopySlot(homeDb: pg.Pool, database: string): Promise<boolean> {
  const { rowCount } = await homeDb.query(
    `SELECT 1 FROM pg_replication_slots
     WHERE slot_name = $1 AND slot_type = 'logical' AND invalidation_reason IS NULL`,
    [subscriptionName(database)],
  );
  return (rowCount ?? 0) > 0;
}

/**
 * Ends the publisher's walsender still bound to a copy's slot. When the subscriber's server was
 * killed, that walsender lingers until a timeout, and the slot stays "active" for it, so the
 * promoted server's apply worker could not take the slot over.
 */
export async function releaseCopySlot(homeDb: pg.Pool, database: string): Promise<void> {
  await homeDb.query(
    `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots
     WHERE slot_name = $1 AND active_pid IS NOT NULL`,
    [subscriptionName(database)],
  );
}

/**
 * Starts a copy over: drops its subscription (not its slot on the home, which may be gone with
 * its server), empties its tables and subscribes again with an initial copy and a new slot.
 * Used when the copy's position is lost (its slot did not survive a failover): resuming would
 * silently skip changes, so the copy is rebuilt from the home instead.
 */
export async function reseedCopy(
  copyDb: pg.Pool,
  homeDb: pg.Pool,
  database: string,
  publisherConninfo: string,
): Promise<void> {
  await dropSubscriptionLocally(copyDb, database);
  await ensureSubscription(copyDb, homeDb, database, publisherConninfo);
}

/** Empties every table of schema `public` on a copy about to be subscribed with an initial copy. */
async function emptyPublicTables(copyDb: pg.Pool): Promise<void> {
  const { rows } = await copyDb.query<{ name: string }>(
    `SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables WHERE schemaname = 'public'`,
  );
  if (rows.length > 0) await copyDb.query(`TRUNCATE ${rows.map((row) => row.name).join(', ')}`);
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export function quoteLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/**
 * Drops a shard's subscription (if any) without touching the slot it used on the publisher,
 * which may be unreachable or about to be dropped there by the caller: disable it, let go of
 * the slot, drop it. Returns whether there was one.
 */
export async function dropSubscriptionLocally(db: pg.Pool, database: string): Promise<boolean> {
  const name = quoteIdent(subscriptionName(database));
  const { rowCount } = await db.query('SELECT 1 FROM pg_subscription WHERE subname = $1', [
    subscriptionName(database),
  ]);
  if ((rowCount ?? 0) === 0) return false;
  await db.query(`ALTER SUBSCRIPTION ${name} DISABLE`);
  await db.query(`ALTER SUBSCRIPTION ${name} SET (slot_name = NONE)`);
  await db.query(`DROP SUBSCRIPTION ${name}`);
  return true;
}

/**
 * Whether the home's slot has confirmed changes a copy does not hold. When the server holding a
 * copy fails and its replica is promoted, the replica's replication origin can trail what the
 * dead server had applied and confirmed to the publisher (its last commits had not reached the
 * replica). The publisher cannot send from before the slot's confirmed position, so resuming
 * would silently skip those changes: such a copy must be re-seeded instead.
 *
 * The slot's position also moves over WAL the copy never needed (other databases, idle
 * keepalives), so a copy that trails it is checked further: the home's WAL between the two
 * positions is read (`pg_walinspect`) for row changes in this database. Only when there are
 * some, or the WAL cannot be read (gone, too long to read), is the copy behind. A copy with no
 * recorded progress counts as behind.
 */
export async function copyBehindSlot(
  homeDb: pg.Pool,
  copyDb: pg.Pool,
  database: string,
): Promise<boolean> {
  const { rows } = await homeDb.query<{ confirmed: string | null }>(
    `SELECT confirmed_flush_lsn::text AS confirmed FROM pg_replication_slots
     WHERE slot_name = $1 AND slot_type = 'logical'`,
    [subscriptionName(database)],
  );
  const confirmed = rows[0]?.confirmed ?? null;
  if (confirmed === null) return false;
  const applied = await appliedRemoteLsn(copyDb, database);
  if (applied === null) return true;
  const { rows: compared } = await homeDb.query<{ behind: boolean }>(
    'SELECT $1::pg_lsn < $2::pg_lsn AS behind',
    [applied, confirmed],
  );
  if (!(compared[0]?.behind ?? true)) return false;
  return rowChangesBetween(homeDb, applied, confirmed);
}

/** The most WAL {@link rowChangesBetween} reads; beyond it, changes are assumed. */
const WAL_INSPECT_BYTES_MAX = 256 * 1024 * 1024;

/** Heap record types that change rows (and so would have been published). */
const ROW_CHANGE_RECORDS = ['INSERT', 'DELETE', 'UPDATE', 'HOT_UPDATE', 'TRUNCATE', 'MULTI_INSERT'];

/**
 * Whether the home's WAL in [from, to) holds row changes of the database `homeDb` is connected
 * to. Any doubt (WAL removed, too long a span, no `pg_walinspect`) answers yes.
 */
async function rowChangesBetween(homeDb: pg.Pool, from: string, to: string): Promise<boolean> {
  try {
    const { rows: span } = await homeDb.query<{ bytes: number }>(
      'SELECT pg_wal_lsn_diff($2::pg_lsn, $1::pg_lsn)::float8 AS bytes',
      [from, to],
    );
    if ((span[0]?.bytes ?? Number.POSITIVE_INFINITY) > WAL_INSPECT_BYTES_MAX) return true;
    await homeDb.query('CREATE EXTENSION IF NOT EXISTS pg_walinspect SCHEMA mainstay');
    const { rows } = await homeDb.query<{ changed: boolean }>(
      `SELECT EXISTS (
         SELECT 1 FROM mainstay.pg_get_wal_records_info($1::pg_lsn, $2::pg_lsn) r
          WHERE r.resource_manager IN ('Heap', 'Heap2')
            AND split_part(r.record_type, '+', 1) = ANY ($3::text[])
            AND (split_part(r.record_type, '+', 1) = 'TRUNCATE'
                 OR r.block_ref LIKE '%/' || (SELECT oid FROM pg_database
                                              WHERE datname = current_database()) || '/%')
       ) AS changed`,
      [from, to, ROW_CHANGE_RECORDS],
    );
    return rows[0]?.changed ?? true;
  } catch {
    return true;
  }
}

/** How long {@link dropCopySlot} keeps trying while a terminated walsender lets go of the slot. */
const SLOT_DROP_WAIT_MS = 5_000;

/**
 * Drops the home's logical slot of a shard's copy (before the copy is re-seeded with a fresh
 * slot of the same name), ending the walsender still bound to it first. Returns whether a slot
 * was dropped; throws if it stays in use past the wait.
 */
export async function dropCopySlot(homeDb: pg.Pool, database: string): Promise<boolean> {
  const slot = subscriptionName(database);
  const deadline = Date.now() + SLOT_DROP_WAIT_MS;
  for (;;) {
    await releaseCopySlot(homeDb, database);
    const { rows } = await homeDb.query<{ dropped: boolean | null }>(
      `SELECT CASE WHEN active THEN false ELSE pg_drop_replication_slot(slot_name) IS NULL END AS dropped
       FROM pg_replication_slots WHERE slot_name = $1`,
      [slot],
    );
    const row = rows[0];
    if (!row) return false;
    if (row.dropped) return true;
    if (Date.now() > deadline)
      throw new Error(`slot ${slot} is still in use after ${SLOT_DROP_WAIT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
