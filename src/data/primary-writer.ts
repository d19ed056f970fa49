import type pg from 'pg';
import { MainstayError } from '../errors/mainstay-error.ts';
import type { ConnectionPools } from '../postgres/connection-pools.ts';
import { parseLsn } from '../postgres/lsn.ts';
import { isConnectionLoss } from '../postgres/pg-errors.ts';
import type { RouterStats } from './router-stats.ts';
import type { ShardMap } from './shard-map.ts';

/** A client connection inside a write transaction, or a read connection. */
export type Queryable = pg.ClientBase;

/**
 * A WAL position at or past the commit record of the transaction committed just before it on the
 * same connection (taken after COMMIT returned, as the docs' warning about pg_current_wal_lsn()
 * asks).
 */
export const COMMIT_POSITION_SQL = 'SELECT pg_current_wal_insert_lsn()::text AS lsn';

/** What the primary writer needs from its router. */
export interface PrimaryWriterDeps {
  readonly pools: ConnectionPools;
  /** The router's current shard map (it changes with the catalog epoch). */
  map(): ShardMap;
  readonly stats: RouterStats;
  /** Waits for a newer catalog epoch, or `timeoutMs`. */
  awaitNewEpoch(timeoutMs: number): Promise<void>;
  readonly writeWaitMs: number;
}

/**
 * The router's write side: runs a transaction (or one statement in one message) on a shard's
 * current primary, waits across a failover for a writable one, tells definite failures from
 * indefinite ones, and returns the commit position that tokens carry.
 */
export class PrimaryWriter {
  readonly #deps: PrimaryWriterDeps;
  /** Sessions seen to default to read-write (a session's default is fixed when it starts). */
  readonly #writable = new WeakSet<pg.PoolClient>();

  constructor(deps: PrimaryWriterDeps) {
    this.#deps = deps;
  }

  /** Sends a prepared `BEGIN; statement; COMMIT; position` message (see Router.writeStatement). */
  async statement<R extends pg.QueryResultRow>(
    shardId: number,
    text: string,
    waitMs: number = this.#deps.writeWaitMs,
  ): Promise<{ value: pg.QueryResult<R>; lsn: bigint }> {
    const client = await this.#primaryClient(shardId, waitMs, false);
    let results: pg.QueryResult[];
    try {
      results = (await client.query(text)) as unknown as pg.QueryResult[];
    } catch (error) {
      if (isConnectionLoss(error)) {
        client.release(true);
        this.#deps.stats.writesOutcomeUnknown += 1;
        throw new MainstayError(
          'write_outcome_unknown',
          'the connection was lost after the write was sent; it may have committed',
          { cause: error },
        );
      }
      // An error inside the message skips the rest of it, COMMIT included: nothing committed.
      await client.query('ROLLBACK').catch(() => undefined);
      client.release();
      this.#deps.stats.writesFailedDefinite += 1;
      throw error;
    }
    client.release();
    const lsn = parseLsn(String(results[3]?.rows[0]?.lsn ?? ''));
    if (results[2]?.command !== 'COMMIT' || lsn === null) {
      throw new Error('the server did not answer the write message with a commit and a position');
    }
    this.#deps.stats.writes += 1;
    return { value: results[1] as pg.QueryResult<R>, lsn };
  }

  /**
   * A connection to the shard's current primary (in a transaction when `begin`), waiting up to
   * `waitMs` for one across a failover, else `primary_unavailable` (definite).
   */
  async #primaryClient(shardId: number, waitMs: number, begin: boolean): Promise<pg.PoolClient> {
    const deadline = Date.now() + waitMs;
    let lastError: unknown = null;
    for (let attempt = 0; ; attempt += 1) {
      const route = this.#deps.map().route(shardId);
      if (route.primary) {
        let client: pg.PoolClient | null = null;
        try {
          client = await this.#deps.pools.pool(route.primary.id, route.shard.database).connect();
          if (await this.#writableSession(client)) {
            if (begin) await client.query('BEGIN');
            return client;
          }
          client.release(true);
          lastError = new Error(`shard ${shardId}'s database is fenced (read-only) on its primary`);
        } catch (error) {
          client?.release(true);
          lastError = error;
        }
      }
      if (Date.now() >= deadline) break;
      if (attempt > 0) this.#deps.stats.writeRetries += 1;
      await this.#deps.awaitNewEpoch(
        Math.min(deadline - Date.now(), 100 * 2 ** Math.min(attempt, 4)),
      );
    }
    this.#deps.stats.writesFailedDefinite += 1;
    throw new MainstayError(
      'primary_unavailable',
      `shard ${shardId} has no writable primary after ${waitMs} ms; nothing was written`,
      { cause: lastError },
    );
  }

  /**
   * Whether a session may write: a shard database being moved to the other DC is fenced on its
   * old home by defaulting new sessions to read-only (decision 59). Such a session is dropped
   * and the write waits for the catalog's next epoch, as across a failover, instead of failing
   * on its first statement. Asked once per session: a database's setting reaches new sessions only.
   */
  async #writableSession(client: pg.PoolClient): Promise<boolean> {
    if (this.#writable.has(client)) return true;
    const { rows } = await client.query<{ ro: string }>(
      `SELECT current_setting('default_transaction_read_only') AS ro`,
    );
    if (rows[0]?.ro === 'on') return false;
    this.#writable.add(client);
    return true;
  }

  /** Runs `work` in a transaction on the shard's primary; the value and the commit position. */
  async transaction<T>(
    shardId: number,
    work: (tx: Queryable) => Promise<T>,
    waitMs: number = this.#deps.writeWaitMs,
  ): Promise<{ value: T; lsn: bigint }> {
    const client = await this.#primaryClient(shardId, waitMs, true);
    return this.#runTransaction(client, work);
  }

  async #runTransaction<T>(
    client: pg.PoolClient,
    work: (tx: Queryable) => Promise<T>,
  ): Promise<{ value: T; lsn: bigint }> {
    let value: T;
    try {
      value = await work(client);
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      const lost = isConnectionLoss(error);
      client.release(lost);
      this.#deps.stats.writesFailedDefinite += 1;
      if (!lost) throw error;
      // COMMIT was never sent, so the transaction cannot have committed: a definite failure.
      throw new MainstayError(
        'primary_unavailable',
        'the connection to the primary was lost before COMMIT; nothing was written',
        {
          cause: error,
        },
      );
    }
    let results: pg.QueryResult[];
    try {
      // One round trip: the commit, then a WAL position at or past its commit record (taken
      // after COMMIT returned, as the docs' warning about pg_current_wal_lsn() asks).
      results = (await client.query(
        `COMMIT; ${COMMIT_POSITION_SQL}`,
      )) as unknown as pg.QueryResult[];
    } catch (error) {
      client.release(true);
      if (!isConnectionLoss(error)) {
        this.#deps.stats.writesFailedDefinite += 1;
        throw error;
      }
      this.#deps.stats.writesOutcomeUnknown += 1;
      throw new MainstayError(
        'write_outcome_unknown',
        'the connection was lost while committing; the write may have happened',
        {
          cause: error,
        },
      );
    }
    client.release();
    if (results[0]?.command !== 'COMMIT') {
      this.#deps.stats.writesFailedDefinite += 1;
      throw new MainstayError(
        'invalid_request',
        'the transaction was aborted by an earlier error inside it and rolled back',
      );
    }
    const lsn = parseLsn(String(results[1]?.rows[0]?.lsn ?? ''));
    if (lsn === null) throw new Error('the server returned no WAL position after COMMIT');
    this.#deps.stats.writes += 1;
    return { value, lsn };
  }
}
