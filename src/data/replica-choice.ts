import type { ReplicaMonitor } from './replica-monitor.ts';
import type { ConsistencyLevel } from './router-options.ts';
import type { FallbackReason } from './router-stats.ts';
import type { ShardRoute } from './shard-map.ts';

/** What a read asks of a replica. */
export interface ReplicaDemand {
  readonly consistency: ConsistencyLevel;
  /** For `session`: the commit position the replica must have replayed (`null`: none). */
  readonly required: bigint | null;
  /** For `bounded`: the largest acceptable lag. */
  readonly maxLagMs: number;
  /** How long a `session` read may wait for a close-behind replica to catch up. */
  readonly sessionWaitMs: number;
  readonly onSessionWait?: () => void;
}

/** The replica a read goes to, or `null` with the reason it goes to the primary instead. */
export interface ReplicaChoice {
  server: string | null;
  reason: FallbackReason;
}

/**
 * Picks a replica for a read by the routing contract (docs/ARCHITECTURE.md, "Where a read
 * goes"): only healthy replicas (unknown lag counts as unhealthy); `any` takes one at random;
 * `bounded` one under the lag bound; `session` one that has replayed `required`, else waits a
 * bounded time for the closest one if it is close behind; otherwise none, with the reason.
 */
export async function chooseReplica(
  monitor: ReplicaMonitor,
  route: ShardRoute,
  demand: ReplicaDemand,
): Promise<ReplicaChoice> {
  const { consistency, required } = demand;
  if (consistency === 'primary') return { server: null, reason: 'no_replica' };
  const healthy = route.replicas
    .map((server) => ({ id: server.id, seen: monitor.observe(server.id) }))
    .filter((candidate) => candidate.seen.healthy)
    .sort((a, b) => a.seen.lagMs - b.seen.lagMs);
  if (healthy.length === 0) return { server: null, reason: 'no_replica' };
  if (consistency === 'any') return { server: pick(healthy).id, reason: 'no_replica' };
  if (consistency === 'bounded') {
    const fresh = healthy.filter((candidate) => candidate.seen.lagMs <= demand.maxLagMs);
    return fresh.length > 0
      ? { server: pick(fresh).id, reason: 'no_replica' }
      : { server: null, reason: 'replica_behind' };
  }
  if (required === null) return { server: pick(healthy).id, reason: 'no_replica' };
  const caughtUp = healthy.filter(
    (candidate) => candidate.seen.lsn !== null && candidate.seen.lsn >= required,
  );
  if (caughtUp.length > 0) return { server: pick(caughtUp).id, reason: 'no_replica' };
  const best = healthy[0];
  // Wait only for a replica that is close behind: one that has trailed its primary for longer
  // than the wait (replay paused, a long apply) would not catch up in time anyway.
  if (best && demand.sessionWaitMs > 0 && best.seen.lagMs <= demand.sessionWaitMs) {
    demand.onSessionWait?.();
    if (await monitor.waitForReplay(best.id, required, demand.sessionWaitMs)) {
      return { server: best.id, reason: 'no_replica' };
    }
  }
  return { server: null, reason: 'replica_behind' };
}

function pick<T>(candidates: readonly T[]): T {
  return candidates[Math.floor(Math.random() * candidates.length)] as T;
}
