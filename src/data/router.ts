import { EventEmitter } from 'node:events';
import type pg from 'pg';
import { MainstayError } from '../errors/mainstay-error.ts';
import { JobRunner } from '../jobs/job-runner.ts';
import { ConnectionPools } from '../postgres/connection-pools.ts';
import { maxLsn } from '../postgres/lsn.ts';
import { isBucketMoved } from '../postgres/pg-errors.ts';
import { CatalogSecrets } from '../secrets/catalog-secrets.ts';
import type { PurposeKeys } from '../secrets/secrets-port.ts';
import { writeBatch } from './batch-write.ts';
import { shardAfterMove } from './bucket-moved-retry.ts';
import { ConsistencyToken } from './consistency-token.ts';
import { inlineParameters } from './inline-parameters.ts';
import { COMMIT_POSITION_SQL, PrimaryWriter, type Queryable } from './primary-writer.ts';
import { currentReadScope, effectiveLevel } from './read-scope.ts';
import { RECENT_WRITE_AGE_MS_DEFAULT, RecentWriteTracker } from './recent-writes.ts';
import { ReplicaMonitor } from './replica-monitor.ts';
import { type ReadResult, ReplicaReader } from './replica-reader.ts';
import { type ConsistencyLevel, ROUTER_DEFAULTS, type RouterOptions } from './router-options.ts';
import { RouterStats } from './router-stats.ts';
import { RouterTokens } from './router-tokens.ts';
import { SharedRecentWrites } from './shared-recent-writes.ts';

export { BatchPartiallyWrittenError } from './batch-partially-written-error.ts';
export type { Queryable } from './primary-writer.ts';
export type { WriteResult } from './write-result.ts';

import { canonicalShardKey } from './shard-key.ts';
import { ShardMap } from './shard-map.ts';
import type { TokenText } from './write-contract.ts';
import { type WriteResult, Written } from './write-result.ts';

export interface ReadOptions {
  readonly consistency?: ConsistencyLevel;
  /** A token from earlier writes (any service's), as a string or decoded. */
  readonly token?: string | ConsistencyToken | null;
  /** For `bounded`: the largest acceptable replica lag. */
  readonly maxLagMs?: number;
}

export type { ReadResult } from './replica-reader.ts';

/** Bound on one catalog re-read of the poll (a hung witness shows as a timed-out run). */
const CATALOG_POLL_TIMEOUT_MS = 5_000;

type Defaults = {
  readonly [K in keyof typeof ROUTER_DEFAULTS]: (typeof ROUTER_DEFAULTS)[K] extends string
    ? string
    : number;
};

/**
 * The data layer's router: sends each write to its shard's current home primary in a
 * transaction and returns a consistency token; sends each read where its consistency level
 * allows, never serving a `session` read from a replica that has not replayed the caller's
 * writes. Follows the catalog (notifications plus polling), so failovers need no restart.
 *
 * @example
 * const router = await Router.connect({ catalog, credentials });
 * const { token } = await router.write('cus_42', (tx) => tx.query('UPDATE ...'));
 * const { value } = await router.read('cus_42', (db) => db.query('SELECT ...'), { token });
 */
export class Router extends EventEmitter<{ epoch: [epoch: number] }> {
  readonly stats = new RouterStats();
  readonly tracker: RecentWriteTracker;
  /** This router's side of the shared recent-write store, `null` when off (decision 35). */
  readonly shared: SharedRecentWrites | null;
  readonly monitor: ReplicaMonitor;
  /** The router's own loop, the catalog poll (job `catalog-poll`); the probes are the monitor's. */
  readonly jobs = new JobRunner();
  readonly #options: RouterOptions & Defaults;
  readonly #pools: ConnectionPools;
  readonly #writer: PrimaryWriter;
  readonly #reader: ReplicaReader;
  readonly #tokens: RouterTokens;
  #map: ShardMap;
  #unsubscribe: (() => Promise<void>) | null = null;
  #reloading: Promise<void> | null = null;

  private constructor(
    options: RouterOptions & Defaults,
    map: ShardMap,
    tokenKeys: PurposeKeys,
    shared: SharedRecentWrites | null,
  ) {
    super();
    // Every write or read waiting out a failover listens for the next epoch once; how many wait
    // is bounded by the callers in flight, not by a fixed count.
    this.setMaxListeners(0);
    this.#options = options;
    this.#map = map;
    this.#tokens = new RouterTokens(tokenKeys);
    const { user, password } = options.credentials;
    this.#pools = new ConnectionPools(
      (id) => {
        const server = this.#map.server(id);
        if (!server)
          throw new MainstayError('service_unavailable', `server ${id} is not in the catalog`);
        return { host: server.host, port: server.port, user, password };
      },
      {
        poolSizeMax: options.poolSizeMax,
        connectTimeoutMs: options.connectTimeoutMs,
        queryTimeoutMs: options.statementTimeoutMs,
      },
      options.applicationName,
    );
    this.tracker = new RecentWriteTracker(options.recentWrites);
    this.shared = shared;
    this.monitor = new ReplicaMonitor(
      new ConnectionPools((id) => this.#pools.info(id), {
        poolSizeMax: 2,
        connectTimeoutMs: 500,
        queryTimeoutMs: 1_000,
      }),
      options.monitor,
    );
    this.monitor.setMap(map);
    this.#reader = new ReplicaReader({
      pools: this.#pools,
      monitor: this.monitor,
      map: () => this.#map,
      stats: this.stats,
      shared,
      awaitNewEpoch: (timeoutMs) => this.#awaitNewEpoch(timeoutMs),
      sessionWaitMs: options.sessionWaitMs,
      boundedLagMsDefault: options.boundedLagMsDefault,
      writeWaitMs: options.writeWaitMs,
      primaryFallbackPerSecondMax: options.primaryFallbackPerSecondMax,
    });
    this.#writer = new PrimaryWriter({
      pools: this.#pools,
      map: () => this.#map,
      stats: this.stats,
      awaitNewEpoch: (timeoutMs) => this.#awaitNewEpoch(timeoutMs),
      writeWaitMs: options.writeWaitMs,
    });
  }

  /** Loads the catalog, starts following it and probing replicas. */
  static async connect(options: RouterOptions): Promise<Router> {
    const merged = { ...ROUTER_DEFAULTS, ...options } as RouterOptions & Defaults;
    const snapshot = await options.catalog.load();
    if (!snapshot) throw new MainstayError('catalog_unavailable', 'the catalog is not initialized');
    const secrets = options.secrets ?? new CatalogSecrets(options.catalog);
    const tokenKeys = await secrets.keysFor('consistency-token');
    const store =
      merged.sharedRecentWrites === false ? null : (options.catalog.recentWriteStore?.() ?? null);
    const shared =
      store === null
        ? null
        : new SharedRecentWrites(
            store,
            merged.recentWrites?.ageMsMax ?? RECENT_WRITE_AGE_MS_DEFAULT,
            typeof merged.sharedRecentWrites === 'object' ? merged.sharedRecentWrites : {},
          );
    const router = new Router(merged, new ShardMap(snapshot), tokenKeys, shared);
    await router.monitor.probeAll();
    router.monitor.start();
    router.#unsubscribe = await options.catalog.subscribe((epoch) => {
      if (epoch > router.#map.epoch) void router.refresh();
    });
    router.jobs.add({
      name: 'catalog-poll',
      intervalMs: merged.catalogPollMs,
      runTimeoutMs: CATALOG_POLL_TIMEOUT_MS,
      run: () => router.refresh(),
    });
    router.jobs.start();
    return router;
  }

  /** The shard map this router routes by now. */
  get map(): ShardMap {
    return this.#map;
  }

  /** Re-reads the catalog now; concurrent callers share one read. */
  refresh(): Promise<void> {
    this.#reloading ??= (async () => {
      try {
        const snapshot = await this.#options.catalog.load();
        if (snapshot && snapshot.epoch > this.#map.epoch) {
          this.#map = new ShardMap(snapshot);
          this.#pools.revalidate();
          this.monitor.setMap(this.#map);
          this.stats.catalogReloads += 1;
          this.emit('epoch', snapshot.epoch);
        }
      } catch {
        // The catalog is unreachable: keep routing by the map we have.
      } finally {
        this.#reloading = null;
      }
    })();
    return this.#reloading;
  }

  /** Decodes and verifies a token string (throws `consistency_token_invalid`). */
  decodeToken(text: string): ConsistencyToken {
    return this.#tokens.decode(text);
  }

  /**
   * Puts a token into message headers (a queue or bus message), merged with any already there,
   * so a consumer that reads through its own router sees the producer's writes.
   */
  tokenToHeaders(
    headers: Record<string, string>,
    token: string | ConsistencyToken,
  ): Record<string, string> {
    return this.#tokens.toHeaders(headers, token);
  }

  /** The token carried in message headers (verified), or `null` when there is none. */
  tokenFromHeaders(headers: Readonly<Record<string, string | undefined>>): ConsistencyToken | null {
    return this.#tokens.fromHeaders(headers);
  }

  /** Merges tokens (from several writes or services) into one. */
  mergeTokens(...tokens: (string | ConsistencyToken | null | undefined)[]): TokenText {
    return this.#tokens.merge(this.#map.epoch, tokens);
  }

  /**
   * Runs `work` in a transaction on the key's shard primary. While the shard has no writable
   * primary it waits (up to `writeWaitMs`), then fails with `primary_unavailable` (definite:
   * nothing was written). If the connection is lost while committing, it fails with
   * `write_outcome_unknown`: retry with the same idempotency key.
   *
   * `touched` names other keys the work wrote on the same shard (known only from its value, as
   * the accounts of an engine batch), so that reads of them see this write too: they are
   * recorded beside `key` in the recent-write tracker and the shared store.
   */
  async write<T>(
    key: unknown,
    work: (tx: Queryable) => Promise<T>,
    options: {
      token?: string | null;
      waitMs?: number;
      touched?: (value: T) => Iterable<string>;
    } = {},
  ): Promise<WriteResult<T>> {
    return this.#keyedWrite(
      key,
      options,
      (shardId) => this.#writer.transaction(shardId, work, options.waitMs),
      options.touched,
    );
  }

  /**
   * One statement written in one round trip: `BEGIN`, the statement (its `$n` values inlined as
   * literals, see inline-parameters.ts), `COMMIT` and the commit position travel in a single
   * message, where {@link Router.write}'s callback form needs three round trips. Same guarantees:
   * a token past the commit, definite failures when nothing was written, `write_outcome_unknown`
   * when the connection was lost after the message left.
   *
   * @example
   * await router.writeStatement(id, 'UPDATE accounts SET name = $2 WHERE id = $1', [id, name]);
   */
  async writeStatement<R extends pg.QueryResultRow = pg.QueryResultRow>(
    key: unknown,
    sql: string,
    values: readonly unknown[] = [],
    options: { token?: string | null; waitMs?: number } = {},
  ): Promise<WriteResult<pg.QueryResult<R>>> {
    const text = `BEGIN;\n${inlineParameters(sql, values)};\nCOMMIT;\n${COMMIT_POSITION_SQL}`;
    return this.#keyedWrite(key, options, (shardId) =>
      this.#writer.statement<R>(shardId, text, options.waitMs),
    );
  }

  /**
   * A write to `key`'s shard: runs `run` there, records the commit for the recent-write tracker
   * and returns the caller's token merged with this commit.
   */
  async #keyedWrite<T>(
    key: unknown,
    options: { token?: string | null },
    run: (shardId: number) => Promise<{ value: T; lsn: bigint }>,
    touched?: (value: T) => Iterable<string>,
  ): Promise<WriteResult<T>> {
    const canonical = canonicalShardKey(key);
    const base = options.token ? this.decodeToken(options.token) : null;
    let routedAt = this.#map.epoch;
    let shardId = this.#map.shardOf(canonical);
    let written: { value: T; lsn: bigint } | null = null;
    for (let attempt = 1; written === null; attempt += 1) {
      try {
        written = await run(shardId);
      } catch (error) {
        if (!isBucketMoved(error)) throw error;
        shardId = await shardAfterMove(
          {
            map: () => this.#map,
            awaitNewEpoch: (timeoutMs) => this.#awaitNewEpoch(timeoutMs),
            waitMs: this.#options.writeWaitMs,
            stats: this.stats,
          },
          { key: canonical, refusedBy: shardId, routedAt, attempt, cause: error },
        );
        routedAt = this.#map.epoch;
      }
    }
    const { value, lsn } = written;
    this.tracker.record(canonical, shardId, lsn);
    // Before the write is acknowledged: any read that starts after the caller hears of it
    // finds the entry, whichever process it goes through.
    const recorded = this.shared?.record(canonical, shardId, this.#map.epoch, lsn);
    if (touched) await this.#recordTouched(touched(value), shardId, lsn);
    if (recorded) await recorded;
    const token = (base ?? new ConsistencyToken(this.#map.epoch)).with(
      shardId,
      lsn,
      this.#map.epoch,
    );
    return new Written(value, shardId, lsn, token, this.#tokens.sign);
  }

  /** Records the other keys a write touched (each once), alongside its own key. */
  async #recordTouched(keys: Iterable<string>, shardId: number, lsn: bigint): Promise<void> {
    const pending: Promise<void>[] = [];
    const seen = new Set<string>();
    for (const key of keys) {
      if (seen.has(key)) continue;
      seen.add(key);
      this.tracker.record(key, shardId, lsn);
      const recorded = this.shared?.record(key, shardId, this.#map.epoch, lsn);
      if (recorded) pending.push(recorded);
    }
    await Promise.all(pending);
  }

  /**
   * Writes a batch: items are grouped by shard and each shard's group runs in one transaction
   * (atomic per shard, not across shards). The whole batch is checked before anything is
   * written: more than `batchSizeMax` items, or any invalid key, fails it with nothing written.
   * If a group fails after others committed, the error is a {@link BatchPartiallyWrittenError}
   * naming what committed; if the first group fails, its own error (nothing was written).
   */
  async writeBatch<I, T>(
    items: readonly I[],
    keyOf: (item: I) => unknown,
    work: (tx: Queryable, items: readonly I[], shardId: number) => Promise<T>,
  ): Promise<{ results: ReadonlyMap<number, T>; token: string }> {
    return writeBatch(
      {
        writer: this.#writer,
        map: () => this.#map,
        tracker: this.tracker,
        shared: this.shared,
        sign: this.#tokens.sign,
        batchSizeMax: this.#options.batchSizeMax,
      },
      items,
      keyOf,
      work,
    );
  }

  /**
   * Runs `work` in a transaction on a shard's primary, waiting at most `waitMs` (default
   * `writeWaitMs`) for one; returns the value and the commit position. For building blocks on
   * top of the router (bypass, takeover); applications use {@link Router.write}.
   */
  writeToShard<T>(
    shardId: number,
    work: (tx: Queryable) => Promise<T>,
    options: { waitMs?: number } = {},
  ) {
    return this.#writer.transaction(shardId, work, options.waitMs);
  }

  /** Runs `work` on one server's copy of a shard database, outside any routing decision. */
  queryServer<T>(
    serverId: string,
    database: string,
    work: (db: Queryable) => Promise<T>,
  ): Promise<T> {
    return this.#reader.query(serverId, database, work);
  }

  /** Runs `work` on a server chosen by the consistency level (default `session`). */
  read<T>(
    key: unknown,
    work: (db: Queryable) => Promise<T>,
    options: ReadOptions = {},
  ): Promise<ReadResult<T>> {
    // Not an async function: one promise layer less on every read; a bad key still rejects.
    let canonical: string;
    let shardId: number;
    try {
      canonical = canonicalShardKey(key);
      shardId = this.#map.shardOf(canonical);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.readShard(shardId, work, options, canonical);
  }

  /** Like {@link Router.read}, for a shard chosen by the caller (scans, per-shard reports). */
  async readShard<T>(
    shardId: number,
    work: (db: Queryable) => Promise<T>,
    options: ReadOptions = {},
    trackedKey?: string,
  ): Promise<ReadResult<T>> {
    const scope = currentReadScope();
    const consistency = effectiveLevel(options.consistency, scope);
    if (consistency === 'primary' && !options.token) {
      // No token to check and no replica to choose.
      return this.#reader.primary(this.#map.route(shardId), work, consistency, 'no_replica', scope);
    }
    const checked = this.#usableToken(options.token ?? null, shardId);
    const token = checked instanceof Promise ? await checked : checked;
    const required =
      consistency === 'session'
        ? maxLsn(
            token?.positionFor(shardId),
            trackedKey === undefined ? null : this.tracker.positionFor(trackedKey, shardId),
          )
        : null;
    return this.#reader.read(this.#map.route(shardId), work, {
      consistency,
      required,
      maxLagMs: options.maxLagMs,
      key: trackedKey,
      scope,
    });
  }

  /**
   * The read's token, decoded and checked against the shard's lineage; synchronous unless the
   * token is from a newer epoch than this router's map (then the catalog is read first).
   */
  #usableToken(
    token: string | ConsistencyToken | null,
    shardId: number,
  ): ConsistencyToken | null | Promise<ConsistencyToken | null> {
    if (!token) return null;
    const decoded = typeof token === 'string' ? this.decodeToken(token) : token;
    if (decoded.epoch > this.#map.epoch) {
      return this.refresh().then(() => this.#checkLineage(decoded, shardId));
    }
    return this.#checkLineage(decoded, shardId);
  }

  #checkLineage(decoded: ConsistencyToken, shardId: number): ConsistencyToken {
    const lineage = this.#map.route(shardId).shard.lineageEpoch;
    const written = decoded.epochFor(shardId);
    if (written !== null && written < lineage) {
      throw new MainstayError(
        'consistency_token_expired',
        `the token's write on shard ${shardId} is from epoch ${written}, before the shard moved home at epoch ${lineage}; read at consistency "primary"`,
      );
    }
    return decoded;
  }

  /** Waits for the catalog to move to a newer epoch, or for `timeoutMs`. */
  async #awaitNewEpoch(timeoutMs: number): Promise<void> {
    const epoch = this.#map.epoch;
    await this.refresh();
    if (this.#map.epoch > epoch || timeoutMs <= 0) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.off('epoch', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.on('epoch', done);
    });
  }

  /** Stops following the catalog and closes every connection. */
  async close(): Promise<void> {
    await Promise.all([this.jobs.stop(), this.monitor.stop()]);
    await this.#unsubscribe?.();
    await this.#pools.closeAll();
    await this.monitor.close();
    this.removeAllListeners();
  }
}
