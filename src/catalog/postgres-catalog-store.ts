import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { MainstayError } from '../errors/mainstay-error.ts';
import type { CopyState } from '../topology/copy-state.ts';
import type {
  BucketRange,
  CatalogChange,
  CatalogEvent,
  CatalogSeed,
  CatalogServer,
  CatalogSnapshot,
  CatalogStore,
} from './catalog-store.ts';
import { EVENT_COUNT_MAX, ROOT_SECRET_FLAG } from './catalog-store.ts';
import { PostgresRecentWriteStore, type RecentWriteStore } from './recent-write-store.ts';

/** Channel on which every epoch change is announced, so routers can follow without polling. */
export const CATALOG_CHANNEL = 'mainstay_catalog';

interface ServerRow {
  id: string;
  dc: string | null;
  role: CatalogServer['role'];
  host: string;
  port: number;
  upstream: string | null;
  fenced_at_epoch: string | null;
}

/** The catalog kept in a PostgreSQL database (by default on the witness server). */
export class PostgresCatalogStore implements CatalogStore {
  readonly #pool: pg.Pool;
  readonly #listeners = new Set<(epoch: number) => void>();
  #listening: Promise<pg.PoolClient> | null = null;
  #recentWrites: PostgresRecentWriteStore | null = null;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /** The shared recent-write store in the catalog database, on a pool of its own (made once). */
  recentWriteStore(): RecentWriteStore {
    const { host, port, user, password, database, ssl } = this.#pool.options;
    this.#recentWrites ??= new PostgresRecentWriteStore({
      host,
      port,
      user,
      password,
      database,
      ssl,
    } as pg.PoolConfig);
    return this.#recentWrites;
  }

  async load(): Promise<CatalogSnapshot | null> {
    return this.#inTransaction(
      'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY',
      async (client) => {
        const head = (
          await client.query<{ epoch: string; bucket_count: number }>(
            'SELECT epoch, bucket_count FROM catalog_epoch',
          )
        ).rows[0];
        if (!head) return null;
        const dcs = await client.query<{ id: string; synchronous_commit: string }>(
          'SELECT id, synchronous_commit FROM data_centres ORDER BY id',
        );
        const servers = await client.query<ServerRow>(
          'SELECT id, dc, role, host, port, upstream, fenced_at_epoch FROM servers ORDER BY id',
        );
        const shards = await client.query<{
          id: number;
          database: string;
          home_dc: string;
          copy_dc: string;
          copy_state: CopyState;
          lineage_epoch: string;
        }>(
          'SELECT id, database, home_dc, copy_dc, copy_state, lineage_epoch FROM shards ORDER BY id',
        );
        const buckets = await client.query<BucketRange>(BUCKET_RANGES_SQL);
        return {
          epoch: Number(head.epoch),
          bucketCount: head.bucket_count,
          dataCentres: dcs.rows.map((row) => ({
            id: row.id,
            synchronousCommit: row.synchronous_commit,
          })),
          servers: servers.rows.map(({ fenced_at_epoch, ...row }) => ({
            ...row,
            fencedAtEpoch: fenced_at_epoch === null ? null : Number(fenced_at_epoch),
          })),
          shards: shards.rows.map((row) => ({
            id: row.id,
            database: row.database,
            homeDc: row.home_dc,
            copyDc: row.copy_dc,
            copyState: row.copy_state,
            lineageEpoch: Number(row.lineage_epoch),
          })),
          buckets: buckets.rows,
        };
      },
    );
  }

  async initialize(seed: CatalogSeed): Promise<CatalogSnapshot> {
    await this.#inTransaction('BEGIN', async (client) => {
      await client.query('LOCK TABLE catalog_epoch IN EXCLUSIVE MODE');
      const existing = await client.query('SELECT 1 FROM catalog_epoch');
      if (existing.rowCount === 0) await insertSeed(client, seed);
      await client.query(
        'INSERT INTO catalog_flags (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING',
        [ROOT_SECRET_FLAG, randomBytes(32).toString('base64url')],
      );
    });
    const snapshot = await this.load();
    if (!snapshot) throw new Error('catalog is empty right after initialization');
    return snapshot;
  }

  async updateDeclared(declared: {
    readonly servers: readonly Pick<CatalogServer, 'id' | 'host' | 'port'>[];
    readonly dataCentres: CatalogSnapshot['dataCentres'];
  }): Promise<void> {
    for (const dc of declared.dataCentres) {
      await this.#pool.query('UPDATE data_centres SET synchronous_commit = $2 WHERE id = $1', [
        dc.id,
        dc.synchronousCommit,
      ]);
    }
    for (const server of declared.servers) {
      await this.#pool.query('UPDATE servers SET host = $2, port = $3 WHERE id = $1', [
        server.id,
        server.host,
        server.port,
      ]);
    }
  }

  async bumpEpoch(reason: string): Promise<number> {
    return this.commitChange(reason, {});
  }

  async commitChange(
    reason: string,
    change: CatalogChange,
    detail: Readonly<Record<string, unknown>> = {},
  ): Promise<number> {
    return this.#inTransaction('BEGIN', async (client) => {
      const bumped = await client.query<{ epoch: string }>(
        `UPDATE catalog_epoch SET epoch = epoch + 1, changed_at = now(), reason = $1 RETURNING epoch`,
        [reason],
      );
      const epoch = Number(bumped.rows[0]?.epoch ?? Number.NaN);
      if (Number.isNaN(epoch))
        throw new MainstayError('catalog_unavailable', 'catalog is not initialized');
      await applyServerChanges(client, change, epoch);
      for (const shard of change.shards ?? []) {
        await client.query(
          `UPDATE shards SET home_dc = coalesce($2, home_dc), copy_dc = coalesce($3, copy_dc),
                  copy_state = coalesce($4, copy_state),
                  lineage_epoch = CASE WHEN $2 IS NOT NULL AND $2 <> home_dc THEN $5 ELSE lineage_epoch END
           WHERE id = $1`,
          [shard.id, shard.homeDc ?? null, shard.copyDc ?? null, shard.copyState ?? null, epoch],
        );
      }
      await moveBuckets(client, change.buckets ?? []);
      await client.query('INSERT INTO catalog_events (epoch, reason, detail) VALUES ($1, $2, $3)', [
        epoch,
        reason,
        JSON.stringify({ ...detail, change }),
      ]);
      await client.query('SELECT pg_notify($1, $2)', [CATALOG_CHANNEL, String(epoch)]);
      return epoch;
    });
  }

  async events(limit: number, atOrBefore?: string): Promise<readonly CatalogEvent[]> {
    const { rows } = await this.#pool.query<{
      epoch: string;
      at: Date;
      reason: string;
      detail: Record<string, unknown>;
    }>(
      `SELECT epoch, at, reason, detail FROM catalog_events
       WHERE $2::timestamptz IS NULL OR date_trunc('milliseconds', at) <= $2::timestamptz
       ORDER BY id DESC LIMIT $1`,
      [Math.min(Math.max(1, limit), EVENT_COUNT_MAX), atOrBefore ?? null],
    );
    return rows.map((row) => ({
      epoch: Number(row.epoch),
      at: row.at.toISOString(),
      reason: row.reason,
      detail: row.detail,
    }));
  }

  /**
   * Every subscriber of this store shares ONE listening connection, taken from the pool with
   * the first subscription and given back with the last: a pool client held per subscriber
   * would let a few routers (each subscribes) take every client of the small catalog pool, and
   * the next catalog read would wait for a client forever.
   */
  async subscribe(listener: (epoch: number) => void): Promise<() => Promise<void>> {
    this.#listeners.add(listener);
    try {
      await this.#listen();
    } catch (error) {
      this.#listeners.delete(listener);
      throw error;
    }
    return async () => {
      if (!this.#listeners.delete(listener) || this.#listeners.size > 0) return;
      const listening = this.#listening;
      this.#listening = null;
      const client = await listening?.catch(() => null);
      if (!client) return;
      await client.query(`UNLISTEN ${CATALOG_CHANNEL}`).catch(() => undefined);
      client.release();
    };
  }

  /** The shared listening connection, opened once (again after it broke). */
  #listen(): Promise<pg.PoolClient> {
    if (this.#listening) return this.#listening;
    const listening = (async () => {
      const client = await this.#connect();
      client.on('notification', (message: pg.Notification) => {
        if (message.channel !== CATALOG_CHANNEL) return;
        for (const listener of this.#listeners) listener(Number(message.payload));
      });
      client.on('error', () => {
        // A broken listener: the next subscription opens a new one; the catalog poll covers
        // what the subscribers miss until then. One the last unsubscribe gave back to the pool
        // is the pool's to drop (released twice, pg throws).
        if (this.#listening !== listening) return;
        this.#listening = null;
        client.release(true);
      });
      try {
        await client.query(`LISTEN ${CATALOG_CHANNEL}`);
      } catch (error) {
        client.release(true);
        throw error;
      }
      return client;
    })();
    this.#listening = listening;
    listening.catch(() => {
      if (this.#listening === listening) this.#listening = null;
    });
    return listening;
  }

  async getFlag(name: string): Promise<string | null> {
    const { rows } = await this.#pool.query<{ value: string }>(
      'SELECT value FROM catalog_flags WHERE name = $1',
      [name],
    );
    return rows[0]?.value ?? null;
  }

  async setFlag(name: string, value: string): Promise<void> {
    await this.#pool.query(
      `INSERT INTO catalog_flags (name, value) VALUES ($1, $2)
       ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, set_at = now()`,
      [name, value],
    );
  }

  async close(): Promise<void> {
    await this.#recentWrites?.close();
    this.#recentWrites = null;
    await this.#pool.end();
  }

  async #inTransaction<T>(begin: string, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.#connect();
    try {
      await client.query(begin);
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async #connect(): Promise<pg.PoolClient> {
    try {
      return await this.#pool.connect();
    } catch (error) {
      throw new MainstayError('catalog_unavailable', 'cannot reach the catalog database', {
        cause: error,
      });
    }
  }
}

/** A change's servers: added, then changed (roles, upstreams, fences), then removed. */
async function applyServerChanges(
  client: pg.PoolClient,
  change: CatalogChange,
  epoch: number,
): Promise<void> {
  for (const server of change.added ?? []) {
    await client.query(
      'INSERT INTO servers (id, dc, role, host, port, upstream) VALUES ($1, $2, $3, $4, $5, $6)',
      [server.id, server.dc, server.role, server.host, server.port, server.upstream],
    );
  }
  for (const server of change.servers ?? []) {
    const fence = server.fenced === undefined ? 'keep' : server.fenced ? 'set' : 'clear';
    await client.query(
      `UPDATE servers SET role = coalesce($2, role),
              upstream = CASE WHEN $3::boolean THEN $4 ELSE upstream END,
              fenced_at_epoch = CASE $6::text WHEN 'set' THEN $5::bigint
                                              WHEN 'clear' THEN NULL
                                              ELSE fenced_at_epoch END
       WHERE id = $1`,
      [
        server.id,
        server.role ?? null,
        server.upstream !== undefined,
        server.upstream ?? null,
        epoch,
        fence,
      ],
    );
  }
  for (const id of change.removed ?? []) {
    await client.query('DELETE FROM servers WHERE id = $1', [id]);
  }
}

/** Collapses the per-bucket map into runs of consecutive buckets on one shard. */
const BUCKET_RANGES_SQL = `
SELECT shard_id AS "shardId", min(bucket) AS first, max(bucket) AS last
FROM (SELECT bucket, shard_id, bucket - row_number() OVER (PARTITION BY shard_id ORDER BY bucket) AS run
      FROM shard_buckets) runs
GROUP BY shard_id, run
ORDER BY first`;

async function moveBuckets(
  client: pg.PoolClient,
  buckets: NonNullable<CatalogChange['buckets']>,
): Promise<void> {
  for (const moved of buckets) {
    const updated = await client.query('UPDATE shard_buckets SET shard_id = $2 WHERE bucket = $1', [
      moved.bucket,
      moved.shardId,
    ]);
    if (updated.rowCount !== 1)
      throw new MainstayError('invalid_request', `bucket ${moved.bucket} is not in the map`);
  }
}

async function insertSeed(client: pg.PoolClient, seed: CatalogSeed): Promise<void> {
  await client.query(
    `INSERT INTO catalog_epoch (epoch, bucket_count, reason) VALUES (1, $1, 'initial topology')`,
    [seed.bucketCount],
  );
  await client.query(`INSERT INTO catalog_events (epoch, reason) VALUES (1, 'initial topology')`);
  await client.query(
    'INSERT INTO catalog_flags (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING',
    [ROOT_SECRET_FLAG, randomBytes(32).toString('base64url')],
  );
  for (const dc of seed.dataCentres) {
    await client.query('INSERT INTO data_centres (id, synchronous_commit) VALUES ($1, $2)', [
      dc.id,
      dc.synchronousCommit,
    ]);
  }
  const ordered = [...seed.servers].sort(
    (a, b) => Number(a.upstream !== null) - Number(b.upstream !== null),
  );
  for (const server of ordered) {
    await client.query(
      'INSERT INTO servers (id, dc, role, host, port, upstream) VALUES ($1, $2, $3, $4, $5, $6)',
      [server.id, server.dc, server.role, server.host, server.port, server.upstream],
    );
  }
  for (const shard of seed.shards) {
    await client.query(
      'INSERT INTO shards (id, database, home_dc, copy_dc) VALUES ($1, $2, $3, $4)',
      [shard.id, shard.database, shard.homeDc, shard.copyDc],
    );
  }
  for (const range of seed.buckets) {
    await client.query(
      'INSERT INTO shard_buckets (bucket, shard_id) SELECT b, $1 FROM generate_series($2::int, $3::int) AS b',
      [range.shardId, range.first, range.last],
    );
  }
}
