import { setTimeout as sleep } from 'node:timers/promises';
import { primaryOf } from '../catalog/primary-of.ts';
import { waitsForReplica } from '../config/topology-config.ts';
import type { Fleet } from './fleet.ts';
import { waitForCopyToApply } from './shard-replication.ts';
import { messageOf, SWITCHOVER } from './switchover-preflight.ts';

const POLL_MS = 100;

/** What a switchover's verification found; `ok` when `problems` is empty. */
export interface SwitchoverVerification {
  readonly ok: boolean;
  readonly problems: readonly string[];
  readonly primary: string;
  /** The new primary's timeline (from its current WAL file name). */
  readonly timeline: number | null;
  readonly acceptsWrites: boolean;
  /** The replica as its primary sees it: `streaming`, and `sync` in a synchronous DC. */
  readonly replica: {
    readonly id: string;
    readonly state: string | null;
    readonly syncState: string | null;
  };
  /** Per shard homed in the DC: whether its copy applied the new primary's WAL in time. */
  readonly copiesApplied: Readonly<Record<number, boolean>>;
}

/**
 * Checks a DC after a switchover (or any change of its primary): the catalog names `primary`
 * and its unfenced replica `replica`; the primary is out of recovery, on a timeline above
 * `timelineBefore`, and commits a write; the replica streams from it, as its synchronous
 * standby when the DC's commit level waits for one; each shard copy of the DC's shards applies
 * what the primary wrote. Waits (bounded) for what settles; never throws for a failed check.
 */
export async function verifySwitchover(
  fleet: Fleet,
  expect: {
    readonly dc: string;
    readonly primary: string;
    readonly replica: string;
    readonly timelineBefore?: number;
  },
): Promise<SwitchoverVerification> {
  const problems: string[] = [];
  const snapshot = await fleet.refreshCatalog();
  const { dc, primary, replica } = expect;
  if (!snapshot || primaryOf(snapshot, dc) !== primary)
    problems.push(`the catalog does not name ${primary} primary of ${dc}`);
  const replicaRow = snapshot?.servers.find((s) => s.id === replica);
  if (replicaRow?.role !== 'replica' || replicaRow.upstream !== primary)
    problems.push(`the catalog does not name ${replica} a replica of ${primary}`);
  if (replicaRow?.fencedAtEpoch !== null) problems.push(`${replica} is still fenced`);
  const timeline = await timelineOf(fleet, primary).catch(() => null);
  if (timeline === null) problems.push(`${primary} does not answer as a primary`);
  else if (expect.timelineBefore !== undefined && timeline <= expect.timelineBefore)
    problems.push(`${primary} is on timeline ${timeline}, not above ${expect.timelineBefore}`);
  const acceptsWrites = await firstWrite(fleet, primary).then(
    () => true,
    (error: unknown) => {
      problems.push(messageOf(error));
      return false;
    },
  );
  const level = snapshot?.dataCentres.find((d) => d.id === dc)?.synchronousCommit ?? 'on';
  const replicaState = await awaitReplica(fleet, primary, replica, waitsForReplica(level));
  if (replicaState.state !== 'streaming')
    problems.push(
      `${replica} is not streaming from ${primary} (${replicaState.state ?? 'absent'})`,
    );
  if (waitsForReplica(level) && replicaState.syncState !== 'sync')
    problems.push(`${replica} is not ${primary}'s synchronous standby (${replicaState.syncState})`);
  const copiesApplied: Record<number, boolean> = {};
  for (const shard of snapshot?.shards ?? []) {
    if (shard.homeDc !== dc || shard.copyState !== 'replicating') continue;
    const copyServer = snapshot ? primaryOf(snapshot, shard.copyDc) : undefined;
    if (!copyServer) continue;
    const applied = await waitForCopyToApply(
      fleet.pools.pool(primary, shard.database),
      fleet.pools.pool(copyServer, shard.database),
      shard.database,
      SWITCHOVER.verifyWaitMs,
    ).catch(() => false);
    copiesApplied[shard.id] = applied;
    if (!applied) problems.push(`the copy of shard ${shard.id} on ${copyServer} does not apply`);
  }
  return {
    ok: problems.length === 0,
    problems,
    primary,
    timeline,
    acceptsWrites,
    replica: { id: replica, ...replicaState },
    copiesApplied,
  };
}

async function timelineOf(fleet: Fleet, id: string): Promise<number> {
  const { rows } = await fleet.pools
    .pool(id)
    .query<{ timeline: string }>(
      `SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) AS timeline`,
    );
  return Number.parseInt(rows[0]?.timeline ?? '', 16);
}

/** The replica's row on its primary, waited for (bounded) until it streams, and in sync. */
async function awaitReplica(
  fleet: Fleet,
  primary: string,
  replica: string,
  synchronous: boolean,
): Promise<{ state: string | null; syncState: string | null }> {
  const deadline = Date.now() + SWITCHOVER.verifyWaitMs;
  for (;;) {
    const { rows } = await fleet.pools
      .pool(primary)
      .query<{ state: string; sync_state: string }>(
        'SELECT state, sync_state FROM pg_stat_replication WHERE application_name = $1',
        [replica],
      )
      .catch(() => ({ rows: [] as { state: string; sync_state: string }[] }));
    const row = rows[0];
    const found = { state: row?.state ?? null, syncState: row?.sync_state ?? null };
    const settled = found.state === 'streaming' && (!synchronous || found.syncState === 'sync');
    if (settled || Date.now() > deadline) return found;
    await sleep(POLL_MS);
  }
}

/**
 * A write committed on the new primary: a transactional WAL message in database `postgres`
 * (it needs a transaction id, so a server in recovery or read-only refuses it; no logical
 * copy decodes that database). Retried until it commits, within a bound.
 */
export async function firstWrite(fleet: Fleet, id: string): Promise<void> {
  const deadline = Date.now() + SWITCHOVER.firstWriteWaitMs;
  for (;;) {
    try {
      await fleet.pools
        .pool(id)
        .query(
          `BEGIN READ WRITE; SELECT pg_logical_emit_message(true, 'mainstay', 'switchover'); COMMIT`,
        );
      return;
    } catch (error) {
      if (Date.now() > deadline)
        throw new Error(`${id} accepts no write: ${messageOf(error)}`, { cause: error });
      await sleep(POLL_MS);
    }
  }
}
