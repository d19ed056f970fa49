import type pg from 'pg';
import { guardedPool } from '../postgres/guarded-pool.ts';

/** One key's last write, as a router records it after the commit. */
export interface RecentWrite {
  readonly key: string;
  readonly shardId: number;
  /** Catalog epoch of the write: an entry from before the shard's lineage epoch is void. */
  readonly epoch: number;
  /** WAL position just past the commit, in PostgreSQL's text form. */
  readonly lsn: string;
}

/** What the store holds for a key looked up. */
export type RecentWriteEntry = Omit<RecentWrite, 'key'>;

/**
 * The shared recent-write store (decision 35): where every router of the fleet, in any process,
 * records the keys it wrote and looks up another process's writes before it lets a replica serve
 * a `session` read. It lives beside the catalog, which every router reaches already and which
 * stands in neither data centre, so it stays up when a shard does not.
 */
export interface RecentWriteStore {
  /** Records writes (the later position wins per key); resolves once they are stored. */
  record(writes: readonly RecentWrite[], timeoutMs: number): Promise<void>;
  /** The entries of `keys` written less than `ageMsMax` ago (by the store's clock). */
  lookup(
    keys: readonly string[],
    ageMsMax: number,
    timeoutMs: number,
  ): Promise<Map<string, RecentWriteEntry>>;
  /** Deletes entries older than `ageMsMax`; returns how many. */
  prune(ageMsMax: number, timeoutMs: number): Promise<number>;
  close(): Promise<void>;
}

/**
 * The hash is PostgreSQL's `hashtextextended`, computed by the server: the key travels as text
 * and is never stored, and the router spends no CPU on it. Rows are locked in hash order and a
 * batch is deduplicated by hash first, so two routers upserting overlapping batches never
 * deadlock and one statement never touches a row twice.
 */
const RECORD_SQL = `
INSERT INTO recent_writes AS w (key_hash, shard_id, epoch, lsn, written_at)
SELECT DISTINCT ON (h) h, s, e, l, now()
FROM (SELECT hashtextextended(k, 0) AS h, s, e, l
      FROM unnest($1::text[], $2::int[], $3::bigint[], $4::pg_lsn[]) AS u(k, s, e, l)) AS x
ORDER BY h, e DESC, l DESC
ON CONFLICT (key_hash) DO UPDATE SET
  lsn = CASE WHEN w.shard_id = EXCLUDED.shard_id AND w.epoch = EXCLUDED.epoch AND w.lsn > EXCLUDED.lsn
             THEN w.lsn ELSE EXCLUDED.lsn END,
  shard_id = EXCLUDED.shard_id,
  epoch = GREATEST(w.epoch, EXCLUDED.epoch),
  written_at = now()`;

const LOOKUP_SQL = `
SELECT k AS key, w.shard_id, w.epoch::int AS epoch, w.lsn::text AS lsn
FROM unnest($1::text[]) AS k
JOIN recent_writes w ON w.key_hash = hashtextextended(k, 0)
WHERE w.written_at > now() - $2::int * interval '1 millisecond'`;

const PRUNE_SQL = `DELETE FROM recent_writes WHERE written_at <= now() - $1::int * interval '1 millisecond'`;

/** Connections of the store's own pool: lookups and records are batched, so few are needed. */
export const RECENT_WRITE_POOL_SIZE_MAX = 4;

/**
 * The store in the catalog database (table `recent_writes`, catalog migration 3), over a pool of
 * its own so that its traffic never queues behind catalog reloads or the LISTEN connection.
 */
export class PostgresRecentWriteStore implements RecentWriteStore {
  readonly #pool: pg.Pool;

  constructor(connection: pg.PoolConfig, connectTimeoutMs = 1_000) {
    this.#pool = guardedPool({
      ...connection,
      max: RECENT_WRITE_POOL_SIZE_MAX,
      connectionTimeoutMillis: connectTimeoutMs,
      idleTimeoutMillis: 10_000,
      application_name: 'mainstay-recent-writes',
    });
  }

  async record(writes: readonly RecentWrite[], timeoutMs: number): Promise<void> {
    if (writes.length === 0) return;
    await this.#pool.query({
      // Named: each connection parses and plans it once, the witness's share of every write.
      name: 'mainstay_recent_writes_record',
      text: RECORD_SQL,
      values: [
        writes.map((write) => write.key),
        writes.map((write) => write.shardId),
        writes.map((write) => write.epoch),
        writes.map((write) => write.lsn),
      ],
      query_timeout: timeoutMs,
    } as pg.QueryConfig);
  }

  async lookup(
    keys: readonly string[],
    ageMsMax: number,
    timeoutMs: number,
  ): Promise<Map<string, RecentWriteEntry>> {
    const found = new Map<string, RecentWriteEntry>();
    if (keys.length === 0) return found;
    const { rows } = await this.#pool.query<{
      key: string;
      shard_id: number;
      epoch: number;
      lsn: string;
    }>({
      name: 'mainstay_recent_writes_lookup',
      text: LOOKUP_SQL,
      values: [keys, Math.round(ageMsMax)],
      query_timeout: timeoutMs,
    } as pg.QueryConfig);
    for (const row of rows) {
      found.set(row.key, { shardId: row.shard_id, epoch: row.epoch, lsn: row.lsn });
    }
    return found;
  }

  async prune(ageMsMax: number, timeoutMs: number): Promise<number> {
    const result = await this.#pool.query({
      text: PRUNE_SQL,
      values: [Math.round(ageMsMax)],
      query_timeout: timeoutMs,
    } as pg.QueryConfig);
    return result.rowCount ?? 0;
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}
