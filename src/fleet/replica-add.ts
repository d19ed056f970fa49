import { primaryOf } from '../catalog/primary-of.ts';
import { MainstayError } from '../errors/mainstay-error.ts';
import { requireDataCentre } from './added-servers.ts';
import type { Fleet } from './fleet.ts';
import { type ReplicaVerification, verifyReplica } from './replica-verify.ts';
import { preflightProvision, provisionSpare } from './server-provision.ts';

/** What an add-replica preflight found. */
export interface AddReplicaPlan {
  readonly dc: string;
  /** The DC's primary now: the new replica's copy and upstream. */
  readonly primary: string;
  /** A spare of the DC the replica is made from; `null` provisions one. */
  readonly spare: string | null;
}

/** A replica added and checked. */
export interface AddedReplica {
  readonly server: string;
  readonly dc: string;
  readonly upstream: string;
  /** Whether it was made from a spare provisioned before (else from one provisioned now). */
  readonly fromSpare: boolean;
  /** The catalog epoch that gave it reads. */
  readonly epoch: number;
  readonly verification: ReplicaVerification;
  /** Its primary's view of it: must be `async`, never a synchronous standby. */
  readonly syncState: string | null;
  /** Shard databases it answered a read on. */
  readonly shardDatabases: readonly string[];
}

/**
 * Checks that a replica can be added in `dc` now, changing nothing: a fleet Mainstay runs, a
 * known DC (`data_centre_unknown`), no planned operation (`operation_in_progress`), an unfenced
 * primary there that answers (`preflight_refused`), room under the bound of added servers.
 */
export async function preflightAddReplica(fleet: Fleet, dc: string): Promise<AddReplicaPlan> {
  requireDataCentre(fleet.config, dc);
  const running = fleet.planned.current;
  if (running) throw new MainstayError('operation_in_progress', `${running.name} is in progress`);
  const snapshot = await fleet.refreshCatalog();
  const primary = snapshot ? primaryOf(snapshot, dc) : undefined;
  if (!primary)
    throw new MainstayError('preflight_refused', `${dc} has no unfenced primary (failing over?)`);
  await fleet.pools
    .pool(primary)
    .query('SELECT 1')
    .catch((error: unknown) => {
      throw new MainstayError('preflight_refused', `${dc}'s primary ${primary} does not answer`, {
        cause: error,
      });
    });
  const spare =
    Object.entries(fleet.added).find(([, s]) => s.dc === dc && s.kind === 'spare')?.[0] ?? null;
  if (!spare) preflightProvision(fleet, dc);
  return { dc, primary, spare };
}

/**
 * `add-replica`: a new asynchronous read replica in `dc`. A spare of the DC is taken, or one
 * provisioned (server-provision.ts); it enters the catalog fenced (no reads), is rebuilt as a
 * copy of the primary streaming from it (the backup API, as any replica), and once it has
 * replayed the primary's WAL it is unfenced: routers read from it from that epoch. It is never
 * a synchronous standby nor promoted (server-view.ts, failover-controller.ts); after its DC
 * fails over it is fenced and rebuilt from the new primary (added-replicas.ts).
 */
export async function addReplica(fleet: Fleet, dc: string): Promise<AddedReplica> {
  const plan = await preflightAddReplica(fleet, dc);
  const end = fleet.planned.begin(`add a replica in ${dc}`, []);
  try {
    const server = plan.spare ?? (await provisionSpare(fleet, dc)).server;
    const { host, port } = fleet.connection(server);
    // A run cut off after this commit finds its spare in the catalog already: fenced again.
    const known = fleet.catalogSnapshot?.servers.some((s) => s.id === server) ?? false;
    const row = { id: server, dc, role: 'replica' as const, upstream: plan.primary, host, port };
    await fleet.catalog.commitChange(`add ${server} as replica of ${plan.primary}, fenced`, {
      added: known ? [] : [row],
      servers: [{ id: server, upstream: plan.primary, fenced: true }],
    });
    await fleet.refreshCatalog();
    fleet.recordAdded(server, { dc, kind: 'replica' });
    await fleet.rebuildReplica(server);
    const target = { server, upstream: plan.primary, synchronous: false };
    const verification = await verifyReplica(fleet, target);
    if (!verification.ok)
      throw new MainstayError(
        'state_conflict',
        `${server} was built but stays fenced: ${verification.problems.join('; ')}`,
      );
    const epoch = await unfenceIfStillFollowing(fleet, server, plan);
    return {
      server,
      dc,
      upstream: plan.primary,
      fromSpare: plan.spare !== null,
      epoch,
      verification,
      ...(await checkAddedReplica(fleet, server, plan.primary)),
    };
  } finally {
    end();
  }
}

/**
 * Unfences the new replica, unless its DC failed over meanwhile (its copy then follows a dead
 * timeline: it stays fenced, and added-replicas.ts rebuilds it from the new primary).
 */
async function unfenceIfStillFollowing(
  fleet: Fleet,
  server: string,
  plan: AddReplicaPlan,
): Promise<number> {
  const snapshot = await fleet.refreshCatalog();
  const row = snapshot?.servers.find((s) => s.id === server);
  if (!snapshot || primaryOf(snapshot, plan.dc) !== plan.primary || row?.upstream !== plan.primary)
    throw new MainstayError(
      'state_conflict',
      `${plan.dc} failed over while ${server} was built: it stays fenced until it is rebuilt from the new primary`,
    );
  const epoch = await fleet.catalog.commitChange(`${server} streams from ${plan.primary}: reads`, {
    servers: [{ id: server, fenced: false }],
  });
  await fleet.refreshCatalog();
  return epoch;
}

/**
 * What an added replica looks like from both ends: its primary streams to it asynchronously,
 * and it answers a read on every shard database homed in its DC.
 */
export async function checkAddedReplica(
  fleet: Fleet,
  server: string,
  primary: string,
): Promise<{ readonly syncState: string | null; readonly shardDatabases: readonly string[] }> {
  const { rows } = await fleet.pools
    .pool(primary)
    .query<{ sync_state: string }>(
      'SELECT sync_state FROM pg_stat_replication WHERE application_name = $1',
      [server],
    );
  const syncState = rows[0]?.sync_state ?? null;
  if (syncState !== 'async')
    throw new MainstayError(
      'state_conflict',
      `${primary} sees ${server} as ${syncState ?? 'absent'}, not as an asynchronous standby`,
    );
  const dc = fleet.catalogSnapshot?.servers.find((s) => s.id === server)?.dc;
  const databases = (fleet.catalogSnapshot?.shards ?? [])
    .filter((shard) => shard.homeDc === dc)
    .map((shard) => shard.database);
  for (const database of databases) {
    const { rows: read } = await fleet.pools
      .pool(server, database)
      .query<{ recovery: boolean }>('SELECT pg_is_in_recovery() AS recovery');
    if (read[0]?.recovery !== true)
      throw new MainstayError('state_conflict', `${server} is not in recovery on ${database}`);
  }
  return { syncState, shardDatabases: databases };
}
