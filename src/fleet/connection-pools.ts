import pg from 'pg';
import type { ConnectionInfo } from './postgres-server.ts';

export const POOL_SIZE_MAX = 4;
export const CONNECT_TIMEOUT_MS = 1_500;
export const QUERY_TIMEOUT_MS = 3_000;
const IDLE_TIMEOUT_MS = 10_000;

/**
 * One small pool per (server, database), created on first use. Connect and query timeouts are
 * short because these pools serve probes and administration: a hung server must show up as
 * down, not hang the caller.
 */
export class ConnectionPools {
  readonly #pools = new Map<string, pg.Pool>();
  readonly #resolve: (serverId: string) => ConnectionInfo;

  constructor(resolve: (serverId: string) => ConnectionInfo) {
    this.#resolve = resolve;
  }

  pool(serverId: string, database = 'postgres'): pg.Pool {
    const key = `${serverId}/${database}`;
    let pool = this.#pools.get(key);
    if (!pool) {
      pool = new pg.Pool({
        ...this.#resolve(serverId),
        database,
        max: POOL_SIZE_MAX,
        idleTimeoutMillis: IDLE_TIMEOUT_MS,
        connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
        query_timeout: QUERY_TIMEOUT_MS,
        application_name: 'mainstay',
      });
      pool.on('error', () => undefined);
      this.#pools.set(key, pool);
    }
    return pool;
  }

  /** Closes the pools of one server (after it stopped, or moved). */
  async closeServer(serverId: string): Promise<void> {
    const closing: Promise<void>[] = [];
    for (const [key, pool] of this.#pools) {
      if (key.startsWith(`${serverId}/`)) {
        this.#pools.delete(key);
        closing.push(pool.end());
      }
    }
    await Promise.all(closing);
  }

  async closeAll(): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((pool) => pool.end()));
  }
}
