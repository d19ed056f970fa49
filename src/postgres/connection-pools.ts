import type pg from 'pg';
import { guardedPool } from './guarded-pool.ts';
/** How to reach a server. */
export interface ConnectionInfo {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
}

/** Bounds of every pool in a {@link ConnectionPools}. */
export interface PoolLimits {
  readonly poolSizeMax: number;
  readonly connectTimeoutMs: number;
  /** Client-side bound on one query; `0` for none (a write's outcome must not be cut short). */
  readonly queryTimeoutMs: number;
}

/** Limits for probes and administration: a hung server must read as down, not hang the caller. */
export const ADMIN_POOL_LIMITS: PoolLimits = {
  poolSizeMax: 4,
  connectTimeoutMs: 1_500,
  queryTimeoutMs: 3_000,
};
const IDLE_TIMEOUT_MS = 10_000;

/** One pool per (server, database), created on first use, all with the same limits. */
export class ConnectionPools {
  /** Per server, per database: the pool, the address it was made for, whether rechecked. */
  readonly #pools = new Map<
    string,
    Map<string, { pool: pg.Pool; address: string; checked: boolean }>
  >();
  readonly #resolve: (serverId: string) => ConnectionInfo;
  readonly #limits: PoolLimits;
  readonly #applicationName: string;
  readonly #startupOptions: string | undefined;

  /**
   * `startupOptions`: settings sent when each connection starts (libpq `options`, such as
   * `-c default_transaction_read_only=off`); they take precedence over a database's defaults.
   */
  constructor(
    resolve: (serverId: string) => ConnectionInfo,
    limits: PoolLimits = ADMIN_POOL_LIMITS,
    applicationName = 'mainstay',
    startupOptions?: string,
  ) {
    this.#resolve = resolve;
    this.#limits = limits;
    this.#applicationName = applicationName;
    this.#startupOptions = startupOptions;
  }

  /** Makes the next use of each pool look its server's address up again (after a topology change). */
  revalidate(): void {
    for (const databases of this.#pools.values()) {
      for (const entry of databases.values()) entry.checked = false;
    }
  }

  /** How a server is reached now. */
  info(serverId: string): ConnectionInfo {
    return this.#resolve(serverId);
  }

  /**
   * The pool for a server's database. The server's address is looked up once, and again after
   * {@link ConnectionPools.revalidate}; a pool whose server moved is replaced then. This is on
   * every query's path, so it does no work beyond two map lookups in between (no key string is
   * built per query).
   */
  pool(serverId: string, database = 'postgres'): pg.Pool {
    const known = this.#pools.get(serverId)?.get(database);
    if (known?.checked) return known.pool;
    const info = this.#resolve(serverId);
    const address = `${info.host}:${info.port}`;
    if (known && known.address === address) {
      known.checked = true;
      return known.pool;
    }
    if (known) void known.pool.end().catch(() => undefined);
    const pool = guardedPool({
      ...info,
      database,
      max: this.#limits.poolSizeMax,
      idleTimeoutMillis: IDLE_TIMEOUT_MS,
      connectionTimeoutMillis: this.#limits.connectTimeoutMs,
      ...(this.#limits.queryTimeoutMs > 0 ? { query_timeout: this.#limits.queryTimeoutMs } : {}),
      application_name: this.#applicationName,
      ...(this.#startupOptions ? { options: this.#startupOptions } : {}),
    });
    let databases = this.#pools.get(serverId);
    if (!databases) {
      databases = new Map();
      this.#pools.set(serverId, databases);
    }
    databases.set(database, { pool, address, checked: true });
    return pool;
  }

  /**
   * Drops the pool of `database` on `serverId`, for one whose sessions were just ended on the
   * server (`pg_terminate_backend`): an idle client of it may not have heard yet, and would fail
   * the next query. The next {@link pool} call opens a new one; the old one ends without being
   * waited for (a client held elsewhere is closed once released).
   */
  dropDatabase(serverId: string, database: string): void {
    const entry = this.#pools.get(serverId)?.get(database);
    if (!entry) return;
    this.#pools.get(serverId)?.delete(database);
    void entry.pool.end().catch(() => undefined);
  }

  /** Closes the pools of one server (after it stopped, or moved). */
  async closeServer(serverId: string): Promise<void> {
    const databases = this.#pools.get(serverId);
    this.#pools.delete(serverId);
    await Promise.all([...(databases?.values() ?? [])].map((entry) => entry.pool.end()));
  }

  async closeAll(): Promise<void> {
    const entries = [...this.#pools.values()].flatMap((databases) => [...databases.values()]);
    this.#pools.clear();
    await Promise.all(entries.map((entry) => entry.pool.end()));
  }
}
