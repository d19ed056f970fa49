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
  /**
   * For `session`: a replica known to trail by more than this never serves (the shared
   * recent-write store's horizon, decision 35); one whose lag is unknown still may.
   */
  readonly sessionLagMsMax?: number;
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
 *
 * Answers synchronously unless a `session` read has to wait for a replica (the rare case): every
 * read passes here, and an `await` that is not needed costs a turn of the microtask queue.
 */
export function chooseReplica(
  monitor: ReplicaMonitor,
  route: ShardRoute,
  demand: ReplicaDemand,
): ReplicaChoice | Promise<ReplicaChoice> {
  const { consistency } = demand;
  if (consistency === 'primary') return { server: null, reason: 'no_replica' };
  const healthy = healthyReplicas(monitor, route);
  if (healthy.length === 0) return { server: null, reason: 'no_replica' };
  if (consistency === 'any') return { server: pick(healthy).id, reason: 'no_replica' };
  if (consistency === 'bounded') {
    const fresh = healthy.filter((candidate) => candidate.seen.lagMs <= demand.maxLagMs);
    return fresh.length > 0
      ? { server: pick(fresh).id, reason: 'no_replica' }
      : { server: null, reason: 'replica_behind' };
  }
  const horizon = demand.sessionLagMsMax;
  if (horizon !== undefined) {
    const within = healthy.filter(
      (candidate) => !(Number.isFinite(candidate.seen.lagMs) && candidate.seen.lagMs > horizon),
    );
    if (within.length === 0) return { server: null, reason: 'replica_behind' };
    return chooseCaughtUp(monitor, within, demand);
  }
  return chooseCaughtUp(monitor, healthy, demand);
}

/** A `session` read's replica among `healthy` (least lagging first), as described above. */
function chooseCaughtUp(
  monitor: ReplicaMonitor,
  healthy: ReturnType<typeof healthyReplicas>,
  demand: ReplicaDemand,
): ReplicaChoice | Promise<ReplicaChoice> {
  const { required } = demand;
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
    return monitor
      .waitForReplay(best.id, required, demand.sessionWaitMs)
      .then(
        (caught): ReplicaChoice =>
          caught
            ? { server: best.id, reason: 'no_replica' }
            : { server: null, reason: 'replica_behind' },
      );
  }
  return { server: null, reason: 'replica_behind' };
}

/** The route's healthy replicas, least lagging first. */
function healthyReplicas(
  monitor: ReplicaMonitor,
  route: ShardRoute,
): { id: string; seen: ReturnType<ReplicaMonitor['observe']> }[] {
  const healthy = [];
  for (const server of route.replicas) {
    const seen = monitor.observe(server.id);
    if (seen.healthy) healthy.push({ id: server.id, seen });
  }
  if (healthy.length > 1) healthy.sort((a, b) => a.seen.lagMs - b.seen.lagMs);
  return healthy;
}

function pick<T>(candidates: readonly T[]): T {
  return candidates[Math.floor(Math.random() * candidates.length)] as T;
}
