import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { MainstayError } from '../errors/mainstay-error.ts';
import { guardedPool } from '../postgres/guarded-pool.ts';
import { setAsideCopyChecks } from './copy-checks.ts';
import type { Fleet } from './fleet.ts';
import {
  dropSubscriptionLocally,
  ensureDatabase,
  ensureSubscription,
  quoteIdent,
  subscriptionName,
} from './shard-replication.ts';
import { migrateDatabase } from './shard-setup.ts';

/** Connect bound of the re-seed's own connections: a returning server that is not up reads as down. */
export const RESEED_CONNECT_TIMEOUT_MS = 3_000;
/** Tries at renaming a database while something keeps reconnecting to it. */
const RENAME_ATTEMPT_COUNT_MAX = 10;
/** How long a slot may stay held by a walsender that is being ended before the drop gives up. */
const SLOT_RELEASE_WAIT_MS = 15_000;
const POLL_MS = 100;

/**
 * Connections of the re-seed that may write to a fenced server. A fenced server starts with
 * `default_transaction_read_only = on`, so that nothing writes to it by mistake; the re-seed
 * turns that off for its own sessions only, and the server stays read-only for every other
 * client until the catalog lifts the fence. A data-centre switchover uses them the same way on
 * the shard databases it fences (dc-switchover-shard.ts), under its own application name.
 */
export class ReseedPools {
  readonly #fleet: Fleet;
  readonly #pools = new Map<string, pg.Pool>();
  readonly #applicationName: string;

  constructor(fleet: Fleet, applicationName = 'mainstay-reseed') {
    this.#fleet = fleet;
    this.#applicationName = applicationName;
  }

  /** A read-write pool on `database` of `serverId` (created on first use). */
  pool(serverId: string, database = 'postgres'): pg.Pool {
    const key = `${serverId}/${database}`;
    let pool = this.#pools.get(key);
    if (!pool) {
      pool = guardedPool({
        ...this.#fleet.connection(serverId),
        database,
        max: 2,
        connectionTimeoutMillis: RESEED_CONNECT_TIMEOUT_MS,
        application_name: this.#applicationName,
        options: '-c default_transaction_read_only=off',
      });
      this.#pools.set(key, pool);
    }
    return pool;
  }

  /** Closes the pool on one database, so that it holds no connection when it is renamed. */
  async close(serverId: string, database: string): Promise<void> {
    const key = `${serverId}/${database}`;
    const pool = this.#pools.get(key);
    this.#pools.delete(key);
    await pool?.end().catch(() => undefined);
  }

  async closeAll(): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((pool) => pool.end().catch(() => undefined)));
  }
}

/** Whether a database exists on the server behind `admin`. */
export async function databaseExists(admin: pg.Pool, database: string): Promise<boolean> {
  const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [
    database,
  ]);
  return (rowCount ?? 0) > 0;
}

/** Where one shard's copy is re-seeded: the returning server and the shard's current home. */
export interface CopySite {
  readonly database: string;
  /** The returning data centre's primary, which holds the quarantined copy. */
  readonly returning: string;
  /** The shard's current home primary. */
  readonly home: string;
  /** Name under which the returning database is kept. */
  readonly preservedAs: string;
}

/**
 * Cuts the returning database loose from every replication link and keeps it under
 * `site.preservedAs`: its subscription and publication, the logical slots on it, the detached
 * subscription the home kept as a record of the move, and the home's slot that the returning
 * copy used. Nothing of its data is touched: the lost tail stays there for the operator.
 */
export async function preserveReturningDatabase(
  fleet: Fleet,
  pools: ReseedPools,
  site: CopySite,
): Promise<void> {
  const returningDb = pools.pool(site.returning, site.database);
  await dropSubscriptionLocally(returningDb, site.database);
  await returningDb.query('DROP PUBLICATION IF EXISTS mainstay_shard');
  await pools.close(site.returning, site.database);
  await dropSlots(pools.pool(site.returning), { database: site.database });
  const homeDb = fleet.pools.pool(site.home, site.database);
  await dropSubscriptionLocally(homeDb, site.database);
  await dropSlots(fleet.pools.pool(site.home), { slot: subscriptionName(site.database) });
  await renameDatabase(pools.pool(site.returning), site.database, site.preservedAs);
}

/**
 * Drops logical slots (those of one database, or one by name), ending the walsender that holds
 * one first. Bounded: a slot still held after {@link SLOT_RELEASE_WAIT_MS} is an error.
 */
async function dropSlots(
  admin: pg.Pool,
  which: { readonly database?: string; readonly slot?: string },
): Promise<void> {
  const filter = `slot_type = 'logical' AND (database = $1 OR slot_name = $2)`;
  const args = [which.database ?? null, which.slot ?? null];
  const deadline = Date.now() + SLOT_RELEASE_WAIT_MS;
  for (;;) {
    await admin.query(
      `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots
       WHERE ${filter} AND active_pid IS NOT NULL`,
      args,
    );
    await admin.query(
      `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
       WHERE ${filter} AND NOT active`,
      args,
    );
    const { rows } = await admin.query<{ name: string }>(
      `SELECT slot_name AS name FROM pg_replication_slots WHERE ${filter}`,
      args,
    );
    if (rows.length === 0) return;
    if (Date.now() > deadline) {
      throw new MainstayError(
        'reseed_incomplete',
        `replication slots ${rows.map((r) => r.name).join(', ')} stayed in use for ${SLOT_RELEASE_WAIT_MS} ms`,
      );
    }
    await sleep(POLL_MS);
  }
}

/**
 * Renames a database, which PostgreSQL allows only while nobody is connected to it. New
 * connections are refused first (the topology probe would reconnect between the terminate and
 * the rename), then allowed again under the new name so the operator can read it.
 */
async function renameDatabase(admin: pg.Pool, from: string, to: string): Promise<void> {
  await admin.query(`ALTER DATABASE ${quoteIdent(from)} ALLOW_CONNECTIONS false`);
  for (let attempt = 1; ; attempt += 1) {
    await admin.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
      [from],
    );
    try {
      await admin.query(`ALTER DATABASE ${quoteIdent(from)} RENAME TO ${quoteIdent(to)}`);
      break;
    } catch (error) {
      const inUse = (error as { code?: string }).code === '55006';
      if (!inUse || attempt >= RENAME_ATTEMPT_COUNT_MAX) {
        throw new MainstayError('reseed_incomplete', `cannot rename ${from} to ${to}`, {
          cause: error,
        });
      }
      await sleep(POLL_MS * attempt);
    }
  }
  await admin.query(`ALTER DATABASE ${quoteIdent(to)} ALLOW_CONNECTIONS true`);
}

/**
 * Creates the fresh copy database on the returning server, migrates it like every shard
 * database, and subscribes it to the home with an initial copy. Returns the home's WAL position
 * taken before the subscription, which the copy must pass to count as caught up.
 */
export async function subscribeFreshCopy(
  fleet: Fleet,
  pools: ReseedPools,
  site: CopySite,
  migrations: Parameters<typeof migrateDatabase>[1],
): Promise<string> {
  await ensureDatabase(pools.pool(site.returning), site.database);
  const copyDb = pools.pool(site.returning, site.database);
  await migrateDatabase(copyDb, migrations);
  await setAsideCopyChecks(copyDb);
  const homeDb = fleet.pools.pool(site.home, site.database);
  const { rows } = await homeDb.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
  const startLsn = rows[0]?.lsn ?? '0/0';
  await ensureSubscription(
    copyDb,
    homeDb,
    site.database,
    fleet.publisherConninfo(site.home, site.database),
  );
  return startLsn;
}

/** Where a copy's initial synchronisation stands. */
export interface CatchUpState {
  readonly tables: number;
  readonly tablesReady: number;
  /** Whether the subscription received the home's WAL past the position taken at the start. */
  readonly pastStart: boolean;
}

/** Reads a fresh copy's progress: per-table sync states and the apply worker's position. */
export async function catchUpState(
  copyDb: pg.Pool,
  database: string,
  startLsn: string,
): Promise<CatchUpState> {
  const { rows } = await copyDb.query<CatchUpState>(
    `SELECT (SELECT count(*) FROM pg_subscription_rel r WHERE r.srsubid = s.oid)::int AS tables,
            (SELECT count(*) FROM pg_subscription_rel r
              WHERE r.srsubid = s.oid AND r.srsubstate = 'r')::int AS "tablesReady",
            coalesce((SELECT greatest(st.received_lsn, st.latest_end_lsn) >= $2::pg_lsn
                        FROM pg_stat_subscription st
                       WHERE st.subid = s.oid AND st.relid IS NULL
                       LIMIT 1), false) AS "pastStart"
     FROM pg_subscription s WHERE s.subname = $1`,
    [subscriptionName(database), startLsn],
  );
  return rows[0] ?? { tables: 0, tablesReady: 0, pastStart: false };
}
