import { setTimeout as sleep } from 'node:timers/promises';
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
