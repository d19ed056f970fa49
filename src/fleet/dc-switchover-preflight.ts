import type { CatalogShard, CatalogSnapshot } from '../catalog/catalog-store.ts';
import { primaryOf } from '../catalog/primary-of.ts';
import { MainstayError } from '../errors/mainstay-error.ts';
import type { Fleet } from './fleet.ts';
import { subscriptionName, waitForCopyToApply } from './shard-replication.ts';
import { readPending } from './switchover.ts';
import { messageOf } from './switchover-preflight.ts';

/** Bounds of a planned data-centre switchover. */
export const DC_SWITCHOVER = {
  /** How long the preflight lets each copy take to apply what its home had written. */
  preflightCatchUpWaitMs: 10_000,
  /** How long, inside the write pause, transactions in flight on a fenced home may finish. */
  drainWaitMs: 2_000,
  /** How long `pg_terminate_backend` waits for each ended session to exit. */
  terminateWaitMs: 5_000,
  /** How long, inside the pause, a copy may take to apply its fenced home's last writes. */
  catchUpWaitMs: 30_000,
  /** How long verification waits for each new copy to apply its new home's writes. */
  verifyWaitMs: 30_000,
} as const;

/** Which data centre hands its shards over to which. */
export interface DcSwitchoverRequest {
  /** The data centre whose shards move away. */
  readonly from: string;
  /** The data centre holding their copies, which becomes their home. */
  readonly to: string;
  /** Default {@link DC_SWITCHOVER.preflightCatchUpWaitMs}. */
  readonly catchUpWaitMs?: number;
}

/** What the preflight found: the move it would make. */
export interface DcSwitchoverPlan {
  readonly from: string;
  readonly to: string;
  /** The primary of `from`, the shards' home now (their copy afterwards). */
  readonly fromServer: string;
  /** The primary of `to`, which holds the copies (the home afterwards). */
  readonly toServer: string;
  /** The shards homed in `from`, by id. */
  readonly shards: readonly number[];
}

function refuse(message: string): never {
  throw new MainstayError('dc_switchover_refused', message);
}

/**
 * Checks that every shard homed in `from` can move home to its copy in `to` now, and changes
 * nothing: a fleet Mainstay runs; no planned operation in progress and no switchover recorded
 * in the catalog; two different, known data centres; `from` homes at least one shard, each
 * copied to `to`; no server of either fenced (a failover or a re-seed not finished); both
 * primaries up and answering; each copy replicating, its subscription enabled with an apply
 * worker, and caught up with its home within `catchUpWaitMs`. Throws `dc_switchover_refused`
 * (or `operation_in_progress`) saying which check failed.
 */
export async function preflightDcSwitchover(
  fleet: Fleet,
  request: DcSwitchoverRequest,
): Promise<DcSwitchoverPlan> {
  if (fleet.isExternal) refuse('the servers are external: Mainstay cannot fence their databases');
  const running = fleet.planned.current;
  if (running) throw new MainstayError('operation_in_progress', `${running.name} is in progress`);
  const pending = await readPending(fleet.catalog);
  if (pending)
    throw new MainstayError(
      'operation_in_progress',
      `a switchover of ${pending.dc} is recorded in the catalog; finish it first`,
    );
  const snapshot = await fleet.refreshCatalog();
  if (!snapshot) refuse('the catalog is empty');
  const plan = planOf(snapshot, request);
  for (const id of [plan.fromServer, plan.toServer]) {
    if (fleet.server(id)?.state !== 'up') refuse(`server ${id} is down`);
    await fleet.pools
      .pool(id)
      .query('SELECT 1')
      .catch((error: unknown) => refuse(`server ${id} does not answer: ${messageOf(error)}`));
  }
  const waitMs = request.catchUpWaitMs ?? DC_SWITCHOVER.preflightCatchUpWaitMs;
  const shards = snapshot.shards.filter((shard) => plan.shards.includes(shard.id));
  await Promise.all(shards.map((shard) => assertCopyCurrent(fleet, plan, shard, waitMs)));
  return plan;
}

/** The move the catalog allows, or a refusal saying why not. */
function planOf(snapshot: CatalogSnapshot, request: DcSwitchoverRequest): DcSwitchoverPlan {
  const { from, to } = request;
  for (const dc of [from, to]) {
    if (!snapshot.dataCentres.some((d) => d.id === dc)) refuse(`no data centre ${dc}`);
  }
  if (from === to) refuse(`from and to are both ${from}: a data centre cannot switch to itself`);
  const fenced = snapshot.servers.filter(
    (s) => (s.dc === from || s.dc === to) && s.fencedAtEpoch !== null,
  );
  if (fenced.length > 0)
    refuse(
      `${fenced.map((s) => s.id).join(', ')} fenced: a failover, switchover or re-seed is not finished`,
    );
  const fromServer = primaryOf(snapshot, from);
  const toServer = primaryOf(snapshot, to);
  if (!fromServer) refuse(`${from} has no primary`);
  if (!toServer) refuse(`${to} has no primary`);
  const shards = snapshot.shards.filter((shard) => shard.homeDc === from);
  if (shards.length === 0) refuse(`${from} homes no shard: there is nothing to switch over`);
  for (const shard of shards) {
    if (shard.copyDc !== to) refuse(`shard ${shard.id} is copied to ${shard.copyDc}, not ${to}`);
    if (shard.copyState !== 'replicating')
      refuse(`the copy of shard ${shard.id} is ${shard.copyState}, not replicating`);
  }
  return { from, to, fromServer, toServer, shards: shards.map((shard) => shard.id) };
}

/** The copy's subscription runs and has applied what the home had written, within `waitMs`. */
async function assertCopyCurrent(
  fleet: Fleet,
  plan: DcSwitchoverPlan,
  shard: CatalogShard,
  waitMs: number,
): Promise<void> {
  const copyDb = fleet.pools.pool(plan.toServer, shard.database);
  const { rows } = await copyDb
    .query<{ enabled: boolean; worker: boolean }>(
      `SELECT s.subenabled AS enabled,
              EXISTS (SELECT 1 FROM pg_stat_subscription w
                       WHERE w.subid = s.oid AND w.pid IS NOT NULL AND w.relid IS NULL) AS worker
         FROM pg_subscription s WHERE s.subname = $1`,
      [subscriptionName(shard.database)],
    )
    .catch((error: unknown) => refuse(`the copy of shard ${shard.id}: ${messageOf(error)}`));
  const row = rows[0];
  if (!row) refuse(`${plan.toServer} holds no subscription for shard ${shard.id}`);
  if (!row.enabled || !row.worker)
    refuse(
      `the copy of shard ${shard.id} on ${plan.toServer} is not replicating (subscription ${row.enabled ? 'has no apply worker' : 'disabled'})`,
    );
  const homeDb = fleet.pools.pool(plan.fromServer, shard.database);
  if (!(await waitForCopyToApply(homeDb, copyDb, shard.database, waitMs)))
    refuse(
      `the copy of shard ${shard.id} on ${plan.toServer} has not caught up with ${plan.fromServer} within ${waitMs} ms`,
    );
}
