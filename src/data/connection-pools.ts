import pg from 'pg';
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
  readonly #pools = new Map<string, { pool: pg.Pool; address: string }>();
  readonly #resolve: (serverId: string) => ConnectionInfo;
  readonly #limits: PoolLimits;
  readonly #applicationName: string;
  /** Pools whose address was looked up since the last {@link ConnectionPools.revalidate}. */
  readonly #checked = new Set<string>();

  constructor(
    resolve: (serverId: string) => ConnectionInfo,
    limits: PoolLimits = ADMIN_POOL_LIMITS,
    applicationName = 'mainstay',
  ) {
    this.#resolve = resolve;
    this.#limits = limits;
    this.#applicationName = applicationName;
  }

  /** Makes the next use of each pool look its server's address up again (after a topology change). */
  revalidate(): void {
    this.#checked.clear();
  }

  /** How a server is reached now. */
  info(serverId: string): ConnectionInfo {
    return this.#resolve(serverId);
  }

  /**
   * The pool for a server's database. The server's address is looked up once, and again after
   * {@link ConnectionPools.revalidate}; a pool whose server moved is replaced then. This is on
   * every query's path, so it does no work beyond a map lookup in between.
   */
  pool(serverId: string, database = 'postgres'): pg.Pool {
    const key = `${serverId}/${database}`;
    const known = this.#pools.get(key);
    if (known && this.#checked.has(key)) return known.pool;
    this.#checked.add(key);
    const info = this.#resolve(serverId);
    const address = `${info.host}:${info.port}`;
    const existing = this.#pools.get(key);
    if (existing && existing.address === address) return existing.pool;
    if (existing) void existing.pool.end().catch(() => undefined);
    const pool = new pg.Pool({
      ...info,
      database,
      max: this.#limits.poolSizeMax,
      idleTimeoutMillis: IDLE_TIMEOUT_MS,
      connectionTimeoutMillis: this.#limits.connectTimeoutMs,
      ...(this.#limits.queryTimeoutMs > 0 ? { query_timeout: this.#limits.queryTimeoutMs } : {}),
      application_name: this.#applicationName,
    });
    // An idle client's error reaches the pool; a checked-out client's (its server died while
    // the caller held it) would otherwise be an uncaught exception. The caller's next query
    // fails and reports it.
    pool.on('error', () => undefined);
    pool.on('connect', (client) => client.on('error', () => undefined));
    this.#pools.set(key, { pool, address });
    return pool;
  }

  /** Closes the pools of one server (after it stopped, or moved). */
  async closeServer(serverId: string): Promise<void> {
    const closing: Promise<void>[] = [];
    for (const [key, entry] of this.#pools) {
      if (key.startsWith(`${serverId}/`)) {
        this.#pools.delete(key);
        closing.push(entry.pool.end());
      }
    }
    await Promise.all(closing);
  }

  async closeAll(): Promise<void> {
    const entries = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(entries.map((entry) => entry.pool.end()));
  }
}
