import { setTimeout as sleep } from 'node:timers/promises';
import { waitsForReplica } from '../config/topology-config.ts';
import { MainstayError } from '../errors/mainstay-error.ts';
import type { Fleet } from './fleet.ts';

/** Bounds of a replica rebuild. */
export const REPLICA_REBUILD = {
  /** How long the rebuilt replica may take to stream (and be synchronous) before it fails. */
  streamWaitMs: 60_000,
} as const;

const POLL_MS = 100;

/** What a rebuild's preflight found. */
export interface ReplicaRebuildPlan {
  readonly server: string;
  /** The primary it is copied from and streams from. */
  readonly upstream: string;
  /** Whether the DC's commit level waits for it (then it must come back synchronous). */
  readonly synchronous: boolean;
}

/** The state a replica was left in. */
export interface ReplicaVerification {
  readonly ok: boolean;
  readonly problems: readonly string[];
  readonly state: string | null;
  readonly syncState: string | null;
  /** Bytes of the primary's WAL it had not replayed when checked. */
  readonly replayLagBytes: number | null;
}

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
    await fleet.setStandbyHealthy(server, false);
    await fleet.rebuildReplica(server);
    await fleet.setStandbyHealthy(server, true);
  } finally {
    end();
  }
  return { plan, verification: await verifyReplica(fleet, plan) };
}

/**
 * Checks a replica as its primary sees it, waiting (bounded) until it streams, is the
 * synchronous standby where the DC waits for one, and has replayed what the primary had
 * written when the check began.
 */
export async function verifyReplica(
  fleet: Fleet,
  plan: ReplicaRebuildPlan,
): Promise<ReplicaVerification> {
  const deadline = Date.now() + REPLICA_REBUILD.streamWaitMs;
  const primary = fleet.pools.pool(plan.upstream);
  const target = await primary
    .query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')
    .then((r) => r.rows[0]?.lsn ?? null)
    .catch(() => null);
  for (;;) {
    const { rows } = await primary
      .query<{ state: string; sync_state: string; lag: string | null; reached: boolean | null }>(
        `SELECT state, sync_state, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::text AS lag,
                replay_lsn >= $2::pg_lsn AS reached
           FROM pg_stat_replication WHERE application_name = $1`,
        [plan.server, target ?? '0/0'],
      )
      .catch(() => ({ rows: [] }));
    const row = rows[0];
    const problems: string[] = [];
    if (row?.state !== 'streaming') problems.push(`${plan.server} is not streaming`);
    if (plan.synchronous && row?.sync_state !== 'sync')
      problems.push(`${plan.server} is not the synchronous standby`);
    if (!row?.reached) problems.push(`${plan.server} has not replayed ${plan.upstream}'s WAL`);
    if (problems.length === 0 || Date.now() > deadline)
      return {
        ok: problems.length === 0,
        problems,
        state: row?.state ?? null,
        syncState: row?.sync_state ?? null,
        replayLagBytes: row?.lag == null ? null : Number(row.lag),
      };
    await sleep(POLL_MS);
  }
}
