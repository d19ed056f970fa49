import type pg from 'pg';

/** Name of the publication in every shard database on its home primary. */
export const SHARD_PUBLICATION = 'mainstay_shard';

/** Subscription (and, on the publisher, replication slot) name of a shard's logical copy. */
export function subscriptionName(database: string): string {
  return `${database}_copy`;
}

/** Creates a database unless it exists (CREATE DATABASE has no IF NOT EXISTS). */
export async function ensureDatabase(admin: pg.Pool, database: string): Promise<void> {
  const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [
    database,
  ]);
  if (rowCount === 0) await admin.query(`CREATE DATABASE ${quoteIdent(database)}`);
}

/**
 * On a shard's home primary: publish schema `public` (the application tables; Mainstay's own
 * bookkeeping lives in schema `mainstay` and is never replicated).
 */
export async function ensurePublication(shardDb: pg.Pool): Promise<void> {
  const { rowCount } = await shardDb.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [
    SHARD_PUBLICATION,
  ]);
  if (rowCount === 0) {
    await shardDb.query(`CREATE PUBLICATION ${SHARD_PUBLICATION} FOR TABLES IN SCHEMA public`);
  }
}

/**
 * On the other DC's primary: subscribe to the home's publication. `origin = none` keeps changes
 * that arrived by replication from being sent back, so a later reverse subscription (after a
 * DC failover moves the home) cannot loop. Refreshes an existing subscription so tables added by
 * a migration start replicating, and follows the home primary when its address changed.
 */
export async function ensureSubscription(
  copyDb: pg.Pool,
  database: string,
  publisherConninfo: string,
): Promise<void> {
  const name = subscriptionName(database);
  const { rows } = await copyDb.query<{ subenabled: boolean; subconninfo: string }>(
    'SELECT subenabled, subconninfo FROM pg_subscription WHERE subname = $1',
    [name],
  );
  if (rows.length === 0) {
    await copyDb.query(
      `CREATE SUBSCRIPTION ${quoteIdent(name)} CONNECTION ${quoteLiteral(publisherConninfo)}
       PUBLICATION ${SHARD_PUBLICATION} WITH (origin = none, copy_data = true, failover = true)`,
    );
    return;
  }
  if (rows[0] && rows[0].subconninfo !== publisherConninfo) {
    // The home primary moved (another port, another home directory): follow it.
    await copyDb.query(
      `ALTER SUBSCRIPTION ${quoteIdent(name)} CONNECTION ${quoteLiteral(publisherConninfo)}`,
    );
  }
  if (rows[0]?.subenabled) {
    await copyDb.query(`ALTER SUBSCRIPTION ${quoteIdent(name)} REFRESH PUBLICATION`);
  }
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export function quoteLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}
