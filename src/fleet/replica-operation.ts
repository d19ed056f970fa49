import { primaryOf } from '../catalog/primary-of.ts';
import { waitsForReplica } from '../config/topology-config.ts';
import { MainstayError } from '../errors/mainstay-error.ts';
import { rejoinAddedReplicas } from './added-replicas.ts';
import type { Fleet } from './fleet.ts';
import {
  type ReplicaRebuildPlan,
  type ReplicaVerification,
  verifyReplica,
} from './replica-verify.ts';

export type { ReplicaRebuildPlan, ReplicaVerification };

/**
 * Checks that `server` can be (re)built as a replica now, changing nothing: a fleet Mainstay
 * runs, no planned operation in progress, the catalog names it an unfenced replica, and its
 * upstream is an unfenced primary that answers. Throws `state_conflict` saying which, or
 * `operation_in_progress`.
 */
export async function preflightReplicaRebuild(
  fleet: Fleet,
  server: string,
): Promise<ReplicaRebuildPlan> {
  const refuse = (why: string): never => {
    throw new MainstayError('state_conflict', `cannot rebuild ${server}: ${why}`);
  };
  if (fleet.isExternal) refuse('the servers are external');
  const running = fleet.planned.current;
  if (running) throw new MainstayError('operation_in_progress', `${running.name} is in progress`);
  const snapshot = await fleet.refreshCatalog();
  const row = snapshot?.servers.find((s) => s.id === server);
  if (!row || !fleet.server(server)) return refuse('it is not a server Mainstay runs');
  if (row.role !== 'replica' || !row.upstream) return refuse(`it is a ${row.role}`);
  if (!fleet.isConfigured(server)) return preflightAddedRebuild(fleet, row.id, row.dc);
  if (row.fencedAtEpoch !== null) refuse('it is fenced (a failover is finishing it)');
  const upstream = snapshot?.servers.find((s) => s.id === row.upstream);
  if (upstream?.role !== 'primary' || upstream.fencedAtEpoch !== null)
    refuse(`its upstream ${row.upstream} is not an unfenced primary`);
  await fleet.pools
    .pool(row.upstream)
    .query('SELECT 1')
    .catch(() => refuse(`its primary ${row.upstream} does not answer`));
  const level = snapshot?.dataCentres.find((d) => d.id === row.dc)?.synchronousCommit ?? 'on';
  return { server, upstream: row.upstream, synchronous: waitsForReplica(level) };
}

/**
 * An added replica is rebuilt from its DC's current primary whatever it follows now, fenced or
 * not (added-replicas.ts): asynchronous, nothing waits for it.
 */
async function preflightAddedRebuild(
  fleet: Fleet,
  server: string,
  dc: string | null,
): Promise<ReplicaRebuildPlan> {
  const snapshot = fleet.catalogSnapshot;
  const primary = snapshot && dc ? primaryOf(snapshot, dc) : undefined;
  if (!primary)
    throw new MainstayError('state_conflict', `cannot rebuild ${server}: ${dc} has no primary`);
  await fleet.pools
    .pool(primary)
    .query('SELECT 1')
    .catch(() => {
      throw new MainstayError('state_conflict', `cannot rebuild ${server}: ${primary} is down`);
    });
  return { server, upstream: primary, synchronous: false };
}

/**
 * Rebuilds a replica from its primary (after a preflight): its primary stops waiting for it,
 * it is stopped, its data directory copied afresh with the backup API and started, and its
 * primary waits for it again once it streams; then it is verified. The failover controller
 * leaves it alone meanwhile. Safe to run again: each run starts from a fresh copy. Also how a
 * replica is added back after its machine was replaced (an empty data directory).
 */
export async function rebuildReplicaOperation(
  fleet: Fleet,
  server: string,
): Promise<{ readonly plan: ReplicaRebuildPlan; readonly verification: ReplicaVerification }> {
  const plan = await preflightReplicaRebuild(fleet, server);
  const end = fleet.planned.begin(`rebuild of replica ${server}`, [server]);
  try {
    if (!fleet.isConfigured(server)) {
      await rejoinAddedReplicas(fleet, server);
      return { plan, verification: await verifyReplica(fleet, plan) };
    }
    await fleet.setStandbyHealthy(server, false);
    await fleet.rebuildReplica(server);
    await fleet.setStandbyHealthy(server, true);
  } finally {
    end();
  }
  return { plan, verification: await verifyReplica(fleet, plan) };
}
