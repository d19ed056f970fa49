import type { CatalogShard, CatalogSnapshot, CatalogStore } from '../catalog/catalog-store.ts';
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
  /** How long the fence waits for the client sessions it ended to exit. */
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
  /**
   * The shards to move (each homed in `from`). By default: when the last switchover moved
   * shards from `to` to `from` and they are all still homed in `from`, those (a switch back
   * returns what was moved, and the shards `from` homed before stay); else every shard homed
   * in `from`.
   */
  readonly shards?: readonly number[];
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
  /** The shards to move, by id, each homed in `from`. */
  readonly shards: readonly number[];
}

/**
 * What the last finished switchover moved (a {@link DcSwitchoverPlan} as JSON in this catalog
 * flag), so that the switch back moves those shards and no others.
 */
export const LAST_DC_SWITCHOVER_FLAG = 'last_dc_switchover';

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
  const last = await readPlanFlag(fleet.catalog, LAST_DC_SWITCHOVER_FLAG).catch(() => null);
  const plan = planOf(snapshot, request, last);
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
function planOf(
  snapshot: CatalogSnapshot,
  request: DcSwitchoverRequest,
  last: DcSwitchoverPlan | null,
): DcSwitchoverPlan {
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
  const homed = snapshot.shards.filter((shard) => shard.homeDc === from);
  if (homed.length === 0) refuse(`${from} homes no shard: there is nothing to switch over`);
  const wanted =
    request.shards ??
    switchedBack(
      last,
      request,
      homed.map((shard) => shard.id),
    );
  for (const id of wanted ?? []) {
    if (!homed.some((shard) => shard.id === id)) refuse(`shard ${id} is not homed in ${from}`);
  }
  const shards = wanted ? homed.filter((shard) => wanted.includes(shard.id)) : homed;
  if (shards.length === 0) refuse('no shard to move was named');
  for (const shard of shards) {
    if (shard.copyDc !== to) refuse(`shard ${shard.id} is copied to ${shard.copyDc}, not ${to}`);
    if (shard.copyState !== 'replicating')
      refuse(`the copy of shard ${shard.id} is ${shard.copyState}, not replicating`);
  }
  return { from, to, fromServer, toServer, shards: shards.map((shard) => shard.id) };
}

/** The shards the last switchover moved from `to` to `from`, when all are still homed in `from`. */
function switchedBack(
  last: DcSwitchoverPlan | null,
  request: DcSwitchoverRequest,
  homed: readonly number[],
): readonly number[] | undefined {
  if (!last || last.from !== request.to || last.to !== request.from) return undefined;
  return last.shards.every((id) => homed.includes(id)) ? last.shards : undefined;
}

/** A plan kept in a catalog flag, or `null` when the flag is empty. */
export async function readPlanFlag(
  catalog: CatalogStore,
  flag: string,
): Promise<DcSwitchoverPlan | null> {
  const text = await catalog.getFlag(flag);
  if (!text) return null;
  const value: unknown = JSON.parse(text);
  const field = (name: string): unknown =>
    typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[name] : null;
  const [from, to, fromServer, toServer, shards] = [
    field('from'),
    field('to'),
    field('fromServer'),
    field('toServer'),
    field('shards'),
  ];
  if (
    typeof from !== 'string' ||
    typeof to !== 'string' ||
    typeof fromServer !== 'string' ||
    typeof toServer !== 'string' ||
    !Array.isArray(shards) ||
    !shards.every((id): id is number => Number.isInteger(id))
  )
    throw new Error(`catalog flag ${flag} is malformed: ${text}`);
  return { from, to, fromServer, toServer, shards };
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
