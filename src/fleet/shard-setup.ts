import type pg from 'pg';
import type { CatalogSnapshot } from '../catalog/catalog-store.ts';
import { primaryOf } from '../catalog/primary-of.ts';
import { type MigrationSet, migrate, pendingMigrationCount } from '../migrations/migration.ts';
import type { ConnectionPools } from '../postgres/connection-pools.ts';
import { restoreCopyChecks, setAsideCopyChecks } from './copy-checks.ts';
import { subscribeEqualCopy } from './equal-copy.ts';
import { ensureWalInspect } from './lost-tail.ts';
import {
  copyBehindSlot,
  ensureDatabase,
  ensurePublication,
  ensureSubscription,
  hasCopySlot,
  releaseCopySlot,
  reseedCopy,
} from './shard-replication.ts';

/**
 * Runs migrations on one database through a pooled connection. A copy's CHECK constraints set
 * aside (copy-checks.ts) are put back first when a migration is due, so every migration sees
 * the schema it was written against; the copy sets them aside again when it is reconnected.
 */
export async function migrateDatabase(pool: pg.Pool, sets: readonly MigrationSet[]): Promise<void> {
  if ((await pendingMigrationCount(pool, sets)) > 0) await restoreCopyChecks(pool);
  const client = await pool.connect();
  try {
    await migrate(client, sets);
  } finally {
    client.release();
  }
}

/**
 * Creates and migrates every shard database on each DC's primary (home and copy alike: logical
 * replication carries no DDL) and publishes each shard where it is homed.
 */
export async function setUpShardDatabases(input: {
  readonly catalog: CatalogSnapshot | null;
  readonly dataCentres: readonly {
    readonly id: string;
    readonly primary: { readonly id: string };
  }[];
  readonly pools: ConnectionPools;
  readonly migrations: readonly MigrationSet[];
}): Promise<void> {
  const shards = input.catalog?.shards ?? [];
  const jobs = input.dataCentres.map(async (dc) => {
    const primary = (input.catalog && primaryOf(input.catalog, dc.id)) ?? dc.primary.id;
    const admin = input.pools.pool(primary);
    // What reads a failed primary's lost tail (lost-tail.ts); an external server may refuse it.
    await ensureWalInspect(admin).catch(() => undefined);
    for (const shard of shards) await ensureDatabase(admin, shard.database);
    await Promise.all(
      shards.map(async (shard) => {
        const pool = input.pools.pool(primary, shard.database);
        await migrateDatabase(pool, input.migrations);
        if (shard.homeDc === dc.id) await ensurePublication(pool);
      }),
    );
  });
  await Promise.all(jobs);
}

/**
 * Creates each shard's subscription on the other DC's primary, or points it at the home's
 * current primary, per the catalog, with the copy's CHECK constraints set aside. After a
 * promotion in `promotedIn`: frees the slots the dead server's copies held on the other DC, and
 * re-seeds any copy whose slot did not reach the promoted server (its position is lost), or
 * whose promoted server trails what its slot confirmed (resuming would skip changes). Returns
 * the shards whose copies were re-seeded.
 */
export async function connectShardCopies(input: {
  readonly catalog: CatalogSnapshot | null;
  readonly pools: ConnectionPools;
  readonly publisherConninfo: (homeServerId: string, database: string) => string;
  readonly promotedIn?: string | undefined;
  /**
   * The promotion was a planned handover: the old primary stopped cleanly and the promoted
   * server replayed all of its WAL, so the copies it holds have everything their slots
   * confirmed, and need not be checked for being behind (with no progress recorded yet, a copy
   * that never applied a change would be re-seeded for nothing).
   */
  readonly handedOver?: boolean;
  /**
   * The fleet was just provisioned: a copy not yet subscribed is checked equal to its home and
   * subscribed without an initial copy (equal-copy.ts).
   */
  readonly provisioned?: boolean;
}): Promise<number[]> {
  const { catalog, pools, promotedIn } = input;
  const reseeded: number[] = [];
  for (const shard of catalog?.shards ?? []) {
    if (shard.copyState !== 'replicating') continue;
    const home = catalog && primaryOf(catalog, shard.homeDc);
    const copy = catalog && primaryOf(catalog, shard.copyDc);
    if (!home || !copy) continue;
    const homeDb = pools.pool(home, shard.database);
    const copyDb = pools.pool(copy, shard.database);
    const publisher = input.publisherConninfo(home, shard.database);
    if (promotedIn === shard.copyDc) await releaseCopySlot(homeDb, shard.database);
    // Before any initial copy too: rows of a table sync are checked like applied ones.
    await setAsideCopyChecks(copyDb);
    const behind =
      promotedIn === shard.copyDc &&
      !input.handedOver &&
      (await copyBehindSlot(homeDb, copyDb, shard.database));
    // A copy behind its slot is re-seeded with a fresh slot (the re-seed drops the old one once
    // the subscription using it is gone): the old one cannot send what the copy lacks.
    if (behind || (promotedIn === shard.homeDc && !(await hasCopySlot(homeDb, shard.database)))) {
      await reseedCopy(copyDb, homeDb, shard.database, publisher);
      reseeded.push(shard.id);
      continue;
    }
    if (input.provisioned && (await subscribeEqualCopy(homeDb, copyDb, shard.database, publisher)))
      continue;
    await ensureSubscription(copyDb, homeDb, shard.database, publisher);
  }
  return reseeded;
}
