import type pg from 'pg';
import { createCopySubscription, reseedCopy, subscriptionName } from './shard-replication.ts';
import { hashTables } from './table-hashes.ts';

/**
 * A new fleet's copies subscribed without an initial copy (decision 7). When a fleet is
 * provisioned, each shard's two databases were made by the same migrations a moment ago and
 * nothing has written to them since, so the copy already holds every row of its home (the
 * reference data migrations seed, and nothing else). An initial copy would empty the copy's
 * tables and send every table over again, one table sync at a time, which is most of a cold
 * start's wait for replication. So the copy is subscribed with `copy_data = false` when, and
 * only when, that is checked:
 *
 * 1. the digests of every table of schema `public` (each table's row count and the sum of its
 *    rows' hashes, as a restore point is verified) are equal on home and copy; else the usual subscription
 *    with an initial copy is made;
 * 2. the subscription is created; its slot on the home starts at the home's position then;
 * 3. the home's digests are taken again: equal to step 1's, nothing was written to the home
 *    between the check and the slot, so nothing can be missing on the copy. Else (a write raced
 *    the slot) the copy is re-seeded with an initial copy, as it would have been.
 *
 * Answers whether it subscribed the copy (false: a subscription existed, and nothing was done).
 */
export async function subscribeEqualCopy(
  homeDb: pg.Pool,
  copyDb: pg.Pool,
  database: string,
  publisherConninfo: string,
): Promise<boolean> {
  const name = subscriptionName(database);
  const { rowCount } = await copyDb.query('SELECT 1 FROM pg_subscription WHERE subname = $1', [
    name,
  ]);
  if ((rowCount ?? 0) > 0) return false;
  const [before, copy] = await Promise.all([
    publicTableDigests(homeDb),
    publicTableDigests(copyDb),
  ]);
  if (before !== copy) {
    await reseedCopy(copyDb, homeDb, database, publisherConninfo);
    return true;
  }
  await createCopySubscription(copyDb, homeDb, database, publisherConninfo, false);
  if ((await publicTableDigests(homeDb)) !== before)
    await reseedCopy(copyDb, homeDb, database, publisherConninfo);
  return true;
}

/**
 * Every table of schema `public` with its row count and hash (table-hashes.ts), as one string,
 * all of one snapshot: two servers holding the same rows answer the same string.
 */
export async function publicTableDigests(db: pg.Pool): Promise<string> {
  const client = await db.connect();
  let failed: Error | undefined;
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const hashes = await hashTables(client, '', undefined, 'public');
    await client.query('COMMIT');
    return hashes.map((one) => `${one.table}:${one.rows}:${one.hash}`).join('\n');
  } catch (error) {
    failed = error instanceof Error ? error : new Error(String(error));
    throw error;
  } finally {
    // A connection that failed mid-transaction is not given back to the pool.
    client.release(failed);
  }
}
