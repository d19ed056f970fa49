import type { CatalogShard, CatalogSnapshot, CatalogStore } from '../catalog/catalog-store.ts';
import { parseLsn } from '../postgres/lsn.ts';
import { restoreCopyChecks, validateRestoredChecks } from './copy-checks.ts';
import { makeWritable } from './dc-switchover-shard.ts';
import type { FailoverEvent } from './failover-events.ts';
import type { Fleet } from './fleet.ts';
import {
  advanceSequences,
  appliedRemoteLsn,
  detachSubscription,
  ensurePublication,
} from './shard-replication.ts';

/** An event of the DC-loss sequence, before its time is stamped. */
export type DcFailoverEvent = Partial<Omit<FailoverEvent, 'at' | 'sinceDetectionMs'>> &
  Pick<FailoverEvent, 'kind' | 'detail'>;

/** What moving a lost data centre's shards needs of the failover controller. */
export interface DcFailoverContext {
  readonly fleet: Fleet;
  readonly catalog: CatalogStore;
  /** Gap by which a new home's sequences jump ahead. */
  readonly sequenceGap: number;
  /** The last WAL position the probes saw on a server, if any. */
  lastLsn(serverId: string): bigint | undefined;
  /** Records and announces one event. */
  record(event: DcFailoverEvent): void;
}

/**
 * The whole DC `dc` is gone: each shard homed there moves home to its copy in the other DC. The
 * lost servers are shot first (fenced in the catalog with the move, in one epoch); every shard
 * whose home or copy the lost DC held is quarantined until a re-seed (dc-reseed.ts). The tail a
 * copy never received is measured (the home's last WAL position seen by the probes minus what
 * the copy applied: an estimate, since the probes do not see the last moments before the loss,
 * and that WAL holds other databases too).
 */
export async function moveLostDataCentre(
  context: DcFailoverContext,
  snapshot: CatalogSnapshot,
  dc: string,
): Promise<void> {
  const other = snapshot.dataCentres.find((d) => d.id !== dc)?.id;
  const survivor = snapshot.servers.find(
    (s) => s.dc === other && s.role === 'primary' && s.fencedAtEpoch === null,
  );
  if (!other || !survivor)
    throw new Error(`data centre ${dc} is lost and no other data centre has a primary`);
  const lost = snapshot.servers.filter((s) => s.dc === dc);
  const homePrimary = lost.find((s) => s.role === 'primary');
  context.record({
    kind: 'dc_failed',
    dc,
    server: null,
    detail: `every server of ${dc} is down; moving its shards home to ${other}`,
  });
  for (const server of lost) await context.fleet.kill(server.id);
  const moved: { id: number; gapBytes: number | null }[] = [];
  for (const shard of snapshot.shards.filter((s) => s.homeDc === dc)) {
    const published = homePrimary ? context.lastLsn(homePrimary.id) : undefined;
    const gapBytes = await makeCopyHome(context, survivor.id, shard, published);
    moved.push({ id: shard.id, gapBytes });
  }
  const epoch = await context.catalog.commitChange(
    `data centre ${dc} lost: shards ${moved.map((m) => m.id).join(', ')} now homed in ${other}`,
    {
      servers: lost.map((server) => ({ id: server.id, fenced: true })),
      shards: [
        ...moved.map((m) => ({
          id: m.id,
          homeDc: other,
          copyDc: dc,
          copyState: 'quarantined' as const,
        })),
        ...snapshot.shards
          .filter((s) => s.copyDc === dc)
          .map((s) => ({ id: s.id, copyState: 'quarantined' as const })),
      ],
    },
    { unreplicatedTailBytes: Object.fromEntries(moved.map((m) => [m.id, m.gapBytes])) },
  );
  await context.fleet.refreshCatalog();
  for (const m of moved) {
    // Off the critical path: the restored constraints already check every new row; this
    // marks them valid after a scan that does not block writes.
    const shard = snapshot.shards.find((s) => s.id === m.id);
    if (shard) {
      void validateRestoredChecks(context.fleet.pools.pool(survivor.id, shard.database)).catch(
        () => undefined,
      );
    }
    context.record({
      kind: 'shard_moved',
      dc: other,
      server: survivor.id,
      epoch,
      detail: `shard ${m.id} homed in ${other}; unreplicated tail about ${m.gapBytes ?? 'unknown'} bytes`,
    });
  }
}

/**
 * Turns a shard's copy on `server` into its home: detaches the subscription, puts its CHECK
 * constraints back before it takes writes (copy-checks.ts), moves its sequences past anything
 * the lost home may have handed out, publishes it. Returns the tail it never received, in
 * bytes, measured against `published` (the lost home's last WAL position seen), or `null`.
 */
async function makeCopyHome(
  context: DcFailoverContext,
  server: string,
  shard: CatalogShard,
  published: bigint | undefined,
): Promise<number | null> {
  const applied = await appliedRemoteLsn(
    context.fleet.pools.pool(server, shard.database),
    shard.database,
  );
  const appliedLsn = applied ? parseLsn(applied) : null;
  const gapBytes =
    published !== undefined && appliedLsn !== null
      ? Number(published > appliedLsn ? published - appliedLsn : 0n)
      : null;
  await makeWritable(context.fleet.pools, server, shard.database);
  // After makeWritable: it may have replaced the pool.
  const pool = context.fleet.pools.pool(server, shard.database);
  await detachSubscription(pool, shard.database);
  await restoreCopyChecks(pool);
  await advanceSequences(pool, context.sequenceGap);
  await ensurePublication(pool);
  return gapBytes;
}
