import type pg from 'pg';

/** The longest timer Node can set (about 24 days): for a statement that takes what it takes. */
export const UNBOUNDED_MS = 2_147_483_647;

/**
 * A query with a client-side time bound of its own instead of its pool's. The fleet's pools
 * bound every query to a few seconds (`ADMIN_POOL_LIMITS`), so that a hung server reads as down;
 * a statement that waits by design (a migration, the wait for another process's migration lock,
 * a new replication slot) must not be cut short by that bound: pg would report a timeout while
 * the server goes on running it, leaving its outcome unknown. pg reads `query_timeout` per query
 * as well as per connection.
 */
export function withQueryBound(
  text: string,
  timeoutMs: number,
  values?: unknown[],
): pg.QueryConfig {
  const config = { text, query_timeout: timeoutMs };
  return (values ? { ...config, values } : config) as pg.QueryConfig;
}
