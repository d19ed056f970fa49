import pg from 'pg';

/**
 * A `pg.Pool` whose clients never raise an unheard `error` event. pg-pool listens for errors
 * only on idle clients: it removes its listener while a caller holds a client. A server that
 * dies or is fenced between two queries of a held client (a failover, a kill in a test) would
 * then end the process with an uncaught exception. Here every client keeps a listener for its
 * whole life; the holder's next query fails and reports the loss, and an idle client's error
 * only drops it from the pool. Every pool in Mainstay is made here.
 */
export function guardedPool(config: pg.PoolConfig): pg.Pool {
  const pool = new pg.Pool(config);
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}
