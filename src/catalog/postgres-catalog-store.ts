import type pg from 'pg';
import { MainstayError } from '../errors/mainstay-error.ts';
import type { ServerRole } from '../fleet/topology-snapshot.ts';
import type {
  BucketRange,
  CatalogSeed,
  CatalogServer,
  CatalogSnapshot,
  CatalogStore,
} from './catalog-store.ts';

/** Channel on which every epoch change is announced, so routers can follow without polling. */
export const CATALOG_CHANNEL = 'mainstay_catalog';

/** The catalog kept in a PostgreSQL database (by default on the witness server). */
export class PostgresCatalogStore implements CatalogStore {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async load(): Promise<CatalogSnapshot | null> {
    const client = await this.#connect();
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const epochRows = await client.query<{ epoch: string; bucket_count: number }>(
        'SELECT epoch, bucket_count FROM catalog_epoch',
      );
      const head = epochRows.rows[0];
      if (!head) {
        await client.query('COMMIT');
        return null;
      }
      const dcs = await client.query<{ id: string; synchronous_commit: string }>(
        'SELECT id, synchronous_commit FROM data_centres ORDER BY id',
      );
      const servers = await client.query<{
        id: string;
        dc: string | null;
        role: ServerRole;
        host: string;
        port: number;
        upstream: string | null;
      }>('SELECT id, dc, role, host, port, upstream FROM servers ORDER BY id');
      const shards = await client.query<{
        id: number;
        database: string;
        home_dc: string;
        copy_dc: string;
      }>('SELECT id, database, home_dc, copy_dc FROM shards ORDER BY id');
      const buckets = await client.query<BucketRange>(BUCKET_RANGES_SQL);
      await client.query('COMMIT');
      return {
        epoch: Number(head.epoch),
        bucketCount: head.bucket_count,
        dataCentres: dcs.rows.map((row) => ({
          id: row.id,
          synchronousCommit: row.synchronous_commit,
        })),
        servers: servers.rows,
        shards: shards.rows.map((row) => ({
          id: row.id,
          database: row.database,
          homeDc: row.home_dc,
          copyDc: row.copy_dc,
        })),
        buckets: buckets.rows,
      };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async initialize(seed: CatalogSeed): Promise<CatalogSnapshot> {
    const client = await this.#connect();
    try {
      await client.query('BEGIN');
      await client.query('LOCK TABLE catalog_epoch IN EXCLUSIVE MODE');
      const existing = await client.query('SELECT 1 FROM catalog_epoch');
      if (existing.rowCount === 0) await insertSeed(client, seed);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
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
    const { rows } = await this.#pool.query<{ epoch: string }>(
      `WITH bumped AS (
         UPDATE catalog_epoch SET epoch = epoch + 1, changed_at = now(), reason = $1 RETURNING epoch
       ), logged AS (
         INSERT INTO catalog_events (epoch, reason) SELECT epoch, $1 FROM bumped
       )
       SELECT epoch, pg_notify('${CATALOG_CHANNEL}', epoch::text) FROM bumped`,
      [reason],
    );
    const row = rows[0];
    if (!row) throw new MainstayError('catalog_unavailable', 'catalog is not initialized');
    return Number(row.epoch);
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
    await this.#pool.end();
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

/** Collapses the per-bucket map into runs of consecutive buckets on one shard. */
const BUCKET_RANGES_SQL = `
SELECT shard_id AS "shardId", min(bucket) AS first, max(bucket) AS last
FROM (SELECT bucket, shard_id, bucket - row_number() OVER (PARTITION BY shard_id ORDER BY bucket) AS run
      FROM shard_buckets) runs
GROUP BY shard_id, run
ORDER BY first`;

async function insertSeed(client: pg.PoolClient, seed: CatalogSeed): Promise<void> {
  await client.query(
    `INSERT INTO catalog_epoch (epoch, bucket_count, reason) VALUES (1, $1, 'initial topology');
     `.trim(),
    [seed.bucketCount],
  );
  await client.query(`INSERT INTO catalog_events (epoch, reason) VALUES (1, 'initial topology')`);
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
