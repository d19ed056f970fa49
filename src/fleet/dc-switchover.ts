import type { CatalogSnapshot, CatalogStore } from '../catalog/catalog-store.ts';
import { MainstayError } from '../errors/mainstay-error.ts';
import { validateRestoredChecks } from './copy-checks.ts';
import { ReseedPools } from './dc-reseed-copy.ts';
import {
  DC_SWITCHOVER,
  type DcSwitchoverPlan,
  type DcSwitchoverRequest,
  LAST_DC_SWITCHOVER_FLAG,
  preflightDcSwitchover,
  readPlanFlag,
} from './dc-switchover-preflight.ts';
import {
  DC_SWITCHOVER_APPLICATION,
  fenceDatabase,
  hasSubscription,
  makeNewCopy,
  makeNewHome,
  type ShardMove,
  undoMove,
  unfenceDatabase,
} from './dc-switchover-shard.ts';
import { type DcSwitchoverVerification, verifyDcSwitchover } from './dc-switchover-verify.ts';
import type { Fleet } from './fleet.ts';
import { waitForCopyToApply } from './shard-replication.ts';
import { firstWrite } from './switchover-verify.ts';

/**
 * Catalog flag naming the data-centre switchover under way (its {@link DcSwitchoverPlan} as
 * JSON; empty when none), written before its first change, so a run after a crash continues it
 * (or {@link compensateDcSwitchover} undoes it).
 */
export const DC_SWITCHOVER_FLAG = 'planned_dc_switchover';

/** Where a switchover's write pause went, in milliseconds (absent: not done by this run). */
export interface DcSwitchoverPhases {
  readonly fenceMs?: number;
  readonly catchUpMs?: number;
  readonly newHomeMs?: number;
  readonly newCopyMs?: number;
  readonly commitMs?: number;
  readonly firstWriteMs?: number;
}

/** What a data-centre switchover did, and what its verification found. */
export interface DcSwitchoverReport {
  readonly from: string;
  readonly to: string;
  /** The shards that moved home from `from` to `to`. */
  readonly shards: readonly number[];
  /** Whether this run continued one a crash had interrupted. */
  readonly resumed: boolean;
  /** The epoch at which the new homes were published, or `null` if an earlier run did it. */
  readonly epoch: number | null;
  /**
   * Write downtime of the moved shards: from the fence to the first write the new home
   * committed after the catalog named it. `null` when this run began past the pause.
   */
  readonly downtimeMs: number | null;
  readonly phasesMs: DcSwitchoverPhases;
  readonly verification: DcSwitchoverVerification;
}

/**
 * A planned switchover of every shard homed in `request.from` to its copy in `request.to`,
 * with no acknowledged write lost (docs/ARCHITECTURE.md, decision 59):
 * 1. preflight ({@link preflightDcSwitchover}); the plan recorded in the catalog flag;
 * 2. the old home primary fenced in the catalog (routers hold the shards' writes, up to their
 *    `writeWaitMs`), then each shard database fenced on it (read-only by default, client
 *    sessions ended; replication left running);
 * 3. each copy waited for until it applied everything its home wrote (else everything is
 *    undone and `dc_switchover_aborted` thrown);
 * 4. each copy made the home (subscription dropped, CHECKs back, sequences carried, published)
 *    and each old home made its copy (subscribed with `copy_data = false`), all shards at once;
 * 5. one catalog change: the shards homed in `to`, copied to `from`, replicating, and the old
 *    home primary unfenced; the first write on the new home measured;
 * 6. the databases' fences lifted, verified ({@link verifyDcSwitchover}).
 * The failover controller leaves both DCs alone meanwhile (`fleet.planned`). Run again after a
 * crash, it continues from the catalog's state. Throws `dc_switchover_refused`,
 * `operation_in_progress` or `dc_switchover_aborted`; a failed verification is in the report.
 */
export async function dcSwitchover(
  fleet: Fleet,
  request: DcSwitchoverRequest,
): Promise<DcSwitchoverReport> {
  let plan = await readPendingDc(fleet.catalog);
  if (plan && (plan.from !== request.from || plan.to !== request.to))
    throw new MainstayError(
      'operation_in_progress',
      `a switchover of ${plan.from} to ${plan.to} is recorded in the catalog; finish it first`,
    );
  if (plan && stageOf(await fleet.refreshCatalog(), plan) === 'recorded') {
    await fleet.catalog.setFlag(DC_SWITCHOVER_FLAG, '');
    plan = null;
  }
  const resumed = plan !== null;
  if (!plan) plan = await preflightDcSwitchover(fleet, request);
  const snapshot = await fleet.refreshCatalog();
  const servers = (snapshot?.servers ?? [])
    .filter((s) => s.dc === request.from || s.dc === request.to)
    .map((s) => s.id);
  const end = fleet.planned.begin(`switchover of ${plan.from} to ${plan.to}`, servers);
  const exempt = new ReseedPools(fleet, DC_SWITCHOVER_APPLICATION);
  try {
    await fleet.catalog.setFlag(DC_SWITCHOVER_FLAG, JSON.stringify(plan));
    return await runDcSwitchover(fleet, plan, exempt, resumed);
  } finally {
    await exempt.closeAll();
    end();
  }
}

async function runDcSwitchover(
  fleet: Fleet,
  plan: DcSwitchoverPlan,
  exempt: ReseedPools,
  resumed: boolean,
): Promise<DcSwitchoverReport> {
  const moves = movesOf((await fleet.refreshCatalog()) ?? null, plan);
  const phases: Record<string, number> = {};
  let pausedAt: number | null = null;
  let epoch: number | null = null;
  if (stageOf(fleet.catalogSnapshot, plan) !== 'committed') {
    pausedAt = Date.now();
    await timed(phases, 'fenceMs', () => fence(fleet, plan, moves));
    await timed(phases, 'catchUpMs', () => awaitCopies(fleet, plan, moves, exempt));
    await timed(phases, 'newHomeMs', () => all(moves, (m) => makeNewHome(fleet, m, exempt)));
    await timed(phases, 'newCopyMs', () => all(moves, (m) => makeNewCopy(fleet, m, exempt)));
    epoch = await timed(phases, 'commitMs', () => commit(fleet, plan));
  }
  await timed(phases, 'firstWriteMs', () => firstWrite(fleet, plan.toServer));
  const downtimeMs = pausedAt === null || resumed ? null : Date.now() - pausedAt;
  await fleet.reconfigure(plan.fromServer);
  // The old home's databases stay read-only by default: they are copies now, written only by
  // their subscriptions' apply workers (which the default does not stop). A router that missed
  // the epoch and writes there meets the read-only error and waits for the catalog instead of
  // writing into a copy (primary-writer.ts). The next switchover's new-home step resets it.
  for (const move of moves) {
    // Off the pause: the restored constraints check every new row already; this marks them
    // valid after a scan that does not block writes.
    void validateRestoredChecks(fleet.pools.pool(move.newHome, move.database)).catch(
      () => undefined,
    );
  }
  await fleet.catalog.setFlag(LAST_DC_SWITCHOVER_FLAG, JSON.stringify(plan));
  await fleet.catalog.setFlag(DC_SWITCHOVER_FLAG, '');
  const verification = await verifyDcSwitchover(fleet, plan);
  return {
    from: plan.from,
    to: plan.to,
    shards: plan.shards,
    resumed,
    epoch,
    downtimeMs,
    phasesMs: phases,
    verification,
  };
}

/** The catalog fence on the old home primary, then each shard database's own. */
async function fence(fleet: Fleet, plan: DcSwitchoverPlan, moves: readonly ShardMove[]) {
  const snapshot = await fleet.refreshCatalog();
  const server = snapshot?.servers.find((s) => s.id === plan.fromServer);
  if (server?.fencedAtEpoch === null) {
    await fleet.catalog.commitChange(
      `switchover of ${plan.from} to ${plan.to}: ${plan.fromServer} fenced, writes pause`,
      { servers: [{ id: plan.fromServer, fenced: true }] },
    );
    await fleet.refreshCatalog();
  }
  await all(moves, (move) => fenceDatabase(fleet, move));
}

/**
 * Waits until every copy applied what its fenced home wrote (a copy whose subscription an
 * earlier run already dropped did: it is dropped only after this). Else undoes everything and
 * throws `dc_switchover_aborted`.
 */
async function awaitCopies(
  fleet: Fleet,
  plan: DcSwitchoverPlan,
  moves: readonly ShardMove[],
  exempt: ReseedPools,
): Promise<void> {
  const late: number[] = [];
  await all(moves, async (move) => {
    if (!(await hasSubscription(fleet, move.newHome, move.database))) return;
    const applied = await waitForCopyToApply(
      fleet.pools.pool(move.oldHome, move.database),
      fleet.pools.pool(move.newHome, move.database),
      move.database,
      DC_SWITCHOVER.catchUpWaitMs,
    );
    if (!applied) late.push(move.id);
  });
  if (late.length === 0) return;
  await undo(fleet, plan, moves, exempt);
  throw new MainstayError(
    'dc_switchover_aborted',
    `the copies of shards ${late.join(', ')} did not apply their home's last writes within ${DC_SWITCHOVER.catchUpWaitMs} ms; ${plan.fromServer} was unfenced and still homes every shard, nothing switched`,
  );
}

/** One catalog change: the shards homed in `to` and copied to `from`; the old home unfenced. */
async function commit(fleet: Fleet, plan: DcSwitchoverPlan): Promise<number> {
  // Every row the new home applied as a copy is on its own replica before the catalog routes
  // writes to it: a synchronous commit there waits for all WAL before it.
  await firstWrite(fleet, plan.toServer);
  const epoch = await fleet.catalog.commitChange(
    `switchover of ${plan.from} to ${plan.to}: shards ${plan.shards.join(', ')} homed in ${plan.to}`,
    {
      servers: [{ id: plan.fromServer, fenced: false }],
      shards: plan.shards.map((id) => ({
        id,
        homeDc: plan.to,
        copyDc: plan.from,
        copyState: 'replicating' as const,
      })),
    },
    { from: plan.from, to: plan.to, shards: plan.shards },
  );
  await fleet.refreshCatalog();
  return epoch;
}

/** Undoes every shard's move, lifts the fences and forgets the plan (nothing committed). */
async function undo(
  fleet: Fleet,
  plan: DcSwitchoverPlan,
  moves: readonly ShardMove[],
  exempt: ReseedPools,
): Promise<void> {
  await all(moves, (move) => undoMove(fleet, move, exempt));
  await fleet.catalog.commitChange(
    `switchover of ${plan.from} to ${plan.to} undone: ${plan.fromServer} unfenced`,
    { servers: [{ id: plan.fromServer, fenced: false }] },
  );
  await fleet.refreshCatalog();
  await fleet.reconfigure(plan.fromServer);
  await all(moves, (move) => unfenceDatabase(fleet, move));
  await fleet.catalog.setFlag(DC_SWITCHOVER_FLAG, '');
}

/**
 * Undoes a data-centre switchover that stopped before its catalog change (a crash, an abort):
 * each shard's copy subscribed again from its home without a re-copy, the old home published
 * and unfenced. Returns `nothing` (none recorded, or it never fenced), `restored`, or
 * `committed` (the shards moved: finish it by running {@link dcSwitchover} again, or switch
 * back).
 */
export async function compensateDcSwitchover(
  fleet: Fleet,
): Promise<'nothing' | 'restored' | 'committed'> {
  const plan = await readPendingDc(fleet.catalog);
  if (!plan) return 'nothing';
  const snapshot = await fleet.refreshCatalog();
  const stage = stageOf(snapshot, plan);
  if (stage === 'committed') return 'committed';
  if (stage === 'recorded') {
    await fleet.catalog.setFlag(DC_SWITCHOVER_FLAG, '');
    return 'nothing';
  }
  const end = fleet.planned.begin(`undoing the switchover of ${plan.from} to ${plan.to}`, [
    plan.fromServer,
    plan.toServer,
  ]);
  const exempt = new ReseedPools(fleet, DC_SWITCHOVER_APPLICATION);
  try {
    await undo(fleet, plan, movesOf(snapshot, plan), exempt);
    return 'restored';
  } finally {
    await exempt.closeAll();
    end();
  }
}

/**
 * How far a recorded switchover got, from the catalog: `recorded` (nothing changed yet),
 * `fenced` (the old home primary fenced, the shards not yet moved: the pause), `committed`
 * (the shards homed in `to`: only the fences' lifting and the verification may be left).
 */
export function stageOf(
  snapshot: CatalogSnapshot | null,
  plan: DcSwitchoverPlan,
): 'recorded' | 'fenced' | 'committed' {
  const shards = snapshot?.shards.filter((shard) => plan.shards.includes(shard.id)) ?? [];
  if (shards.length > 0 && shards.every((shard) => shard.homeDc === plan.to)) return 'committed';
  const server = snapshot?.servers.find((s) => s.id === plan.fromServer);
  return server && server.fencedAtEpoch !== null ? 'fenced' : 'recorded';
}

/** The data-centre switchover recorded in the catalog, if any. */
export function readPendingDc(catalog: CatalogStore): Promise<DcSwitchoverPlan | null> {
  return readPlanFlag(catalog, DC_SWITCHOVER_FLAG);
}

function movesOf(snapshot: CatalogSnapshot | null, plan: DcSwitchoverPlan): ShardMove[] {
  return plan.shards.map((id) => {
    const database = snapshot?.shards.find((shard) => shard.id === id)?.database;
    if (!database) throw new Error(`shard ${id} is not in the catalog`);
    // After the commit the roles are the other way round; the plan keeps them as they were.
    return { id, database, oldHome: plan.fromServer, newHome: plan.toServer };
  });
}

async function all<T>(moves: readonly ShardMove[], step: (move: ShardMove) => Promise<T>) {
  return Promise.all(moves.map(step));
}

async function timed<T>(
  phases: Record<string, number>,
  name: keyof DcSwitchoverPhases,
  step: () => Promise<T>,
): Promise<T> {
  const startedAt = Date.now();
  const result = await step();
  phases[name] = Date.now() - startedAt;
  return result;
}
