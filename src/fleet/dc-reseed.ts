import { setTimeout as sleep } from 'node:timers/promises';
import { EVENT_COUNT_MAX } from '../catalog/catalog-store.ts';
import { primaryOf } from '../catalog/primary-of.ts';
import { MainstayError } from '../errors/mainstay-error.ts';
import { compareWithHome, type TableComparison } from './dc-reseed-compare.ts';
import {
  catchUpState,
  databaseExists,
  preserveReturningDatabase,
  ReseedPools,
  subscribeFreshCopy,
} from './dc-reseed-copy.ts';
import { type Plan, planReseed } from './dc-reseed-plan.ts';
import type { Fleet } from './fleet.ts';

/** How long the fresh copies may take to finish their initial copy and catch up, by default. */
export const CATCH_UP_TIMEOUT_MS = 300_000;
/**
 * How far before the loss the tail comparison looks, by default: the controller notices a lost
 * DC within about a second, and this margin covers commits the probes never saw.
 */
export const TAIL_LOOKBACK_MS = 60_000;
/** How long the returning DC's replica may take to stream again before it is rebuilt. */
export const REPLICA_STREAM_WAIT_MS = 10_000;
const POLL_MS = 200;

export const RESEED_OUTCOMES = ['reseeded', 'nothing_to_do'] as const;
/** `nothing_to_do`: no copy in the data centre was quarantined and none of its servers fenced. */
export type ReseedOutcome = (typeof RESEED_OUTCOMES)[number];

/** What the re-seed did with one shard's copy in the returning data centre. */
export interface ShardReseed {
  readonly shardId: number;
  readonly database: string;
  readonly homeDc: string;
  readonly homeServer: string;
  /** `home` when the returning database was the shard's home before the loss: it may hold a tail. */
  readonly formerRole: 'home' | 'copy';
  /** The name the returning database is kept under, on the returning primary. */
  readonly preservedAs: string;
  readonly tables: readonly TableComparison[];
  /** Sum over the tables: rows the preserved database holds and the home does not. */
  readonly rowsMissingOnHome: number;
}

/** The answer of a re-seed: what was compared, kept and re-seeded. */
export interface ReseedReport {
  readonly dataCentre: string;
  readonly outcome: ReseedOutcome;
  readonly detail: string;
  /** The epoch the re-seed raised (routers reload at it); `null` when nothing was done. */
  readonly epoch: number | null;
  /** The epoch at which the data centre was fenced (its loss). */
  readonly lossEpoch: number | null;
  /** Rows committed from this time on were compared row by row (RFC 3339), or `null`. */
  readonly tailWindowStart: string | null;
  readonly primary: string | null;
  readonly replica: string | null;
  /** Whether the replica had to be rebuilt because it did not stream from the primary. */
  readonly replicaRebuilt: boolean;
  readonly shards: readonly ShardReseed[];
  readonly startedAt: string;
  readonly finishedAt: string;
}

export interface ReseedOptions {
  /** Told each step, for a progress display or a log. */
  readonly onStep?: (step: string) => void;
  /** The running failover controller: a re-seed is refused while it has an action queued. */
  readonly failover?: { idle(): Promise<void> };
  readonly catchUpTimeoutMs?: number;
  readonly tailLookbackMs?: number;
}

/** Fleets with a re-seed running in this process: one at a time. */
const running = new WeakSet<Fleet>();

/**
 * Brings a returning data centre's shard copies back into service after a data-centre loss
 * moved their shards' homes away: keeps each quarantined copy's database under a new name
 * (`shard_N_lost_e<loss epoch>`, with the figures of what it holds that the home lacks),
 * re-seeds a fresh copy from the current home, waits until it has caught up, then lifts the
 * fences and the quarantine in one catalog change and makes the returning servers writable per
 * their roles again. Homes stay where the failover put them. Safe to run again after a failure
 * (each step checks what is done) and when nothing is quarantined (it reports so).
 *
 * @example
 * const report = await reseedDataCentre(fleet, 'dc1', { failover: controller });
 */
export async function reseedDataCentre(
  fleet: Fleet,
  dc: string,
  options: ReseedOptions = {},
): Promise<ReseedReport> {
  if (running.has(fleet))
    throw new MainstayError('state_conflict', 'a re-seed is already running on this fleet');
  running.add(fleet);
  const pools = new ReseedPools(fleet);
  try {
    return await runReseed(fleet, dc, options, pools);
  } finally {
    running.delete(fleet);
    await pools.closeAll();
  }
}

async function runReseed(
  fleet: Fleet,
  dc: string,
  options: ReseedOptions,
  pools: ReseedPools,
): Promise<ReseedReport> {
  const startedAt = new Date().toISOString();
  const step = (text: string) => options.onStep?.(text);
  const plan = await planReseed(fleet, dc, options, pools);
  if (plan === null) {
    return {
      ...emptyReport(dc, startedAt),
      detail: `nothing to re-seed: no copy in ${dc} is quarantined and none of its servers is fenced`,
    };
  }
  const windowStart = await lossTime(fleet, plan.lossEpoch, options.tailLookbackMs);
  const shards: ShardReseed[] = [];
  const starts = new Map<number, string>();
  for (const { shard, site } of plan.shards) {
    if (await databaseExists(pools.pool(site.returning), site.preservedAs)) {
      step(`shard ${shard.id}: ${site.preservedAs} already kept by an earlier run`);
    } else {
      step(
        `shard ${shard.id}: keeping ${site.database} on ${site.returning} as ${site.preservedAs}`,
      );
      await preserveReturningDatabase(fleet, pools, site);
    }
    step(`shard ${shard.id}: subscribing a fresh ${site.database} to ${site.home}`);
    starts.set(shard.id, await subscribeFreshCopy(fleet, pools, site, fleet.shardMigrations));
    step(`shard ${shard.id}: comparing ${site.preservedAs} with ${site.home}`);
    const tables = await compareWithHome(
      pools.pool(site.returning, site.preservedAs),
      fleet.pools.pool(site.home, site.database),
      windowStart,
    );
    shards.push({
      shardId: shard.id,
      database: site.database,
      homeDc: shard.homeDc,
      homeServer: site.home,
      formerRole: shard.lineageEpoch === plan.lossEpoch ? 'home' : 'copy',
      preservedAs: site.preservedAs,
      tables,
      rowsMissingOnHome: tables.reduce((sum, t) => sum + t.rowsMissingOnHome, 0),
    });
  }
  step('waiting for the fresh copies to catch up');
  await waitCaughtUp(plan, pools, starts, options.catchUpTimeoutMs ?? CATCH_UP_TIMEOUT_MS);
  const replicaRebuilt = await ensureReplicaStreams(fleet, pools, plan, step);
  const epoch = await liftQuarantine(fleet, plan, shards);
  step(`catalog epoch ${epoch}: ${dc} unfenced, its copies replicating`);
  await makeWritablePerRole(fleet, plan);
  return {
    dataCentre: dc,
    outcome: 'reseeded',
    detail: `re-seeded ${shards.length} copies in ${dc}; the shards stay homed where they are`,
    epoch,
    lossEpoch: plan.lossEpoch,
    tailWindowStart: windowStart?.toISOString() ?? null,
    primary: plan.primary.id,
    replica: plan.replica?.id ?? null,
    replicaRebuilt,
    shards,
    startedAt,
    finishedAt: new Date().toISOString(),
  };
}

function emptyReport(dc: string, startedAt: string): Omit<ReseedReport, 'detail'> {
  return {
    dataCentre: dc,
    outcome: 'nothing_to_do',
    epoch: null,
    lossEpoch: null,
    tailWindowStart: null,
    primary: null,
    replica: null,
    replicaRebuilt: false,
    shards: [],
    startedAt,
    finishedAt: new Date().toISOString(),
  };
}

/** The start of the tail window: the loss's catalog event minus the look-back, if recorded. */
async function lossTime(
  fleet: Fleet,
  lossEpoch: number,
  lookbackMs = TAIL_LOOKBACK_MS,
): Promise<Date | null> {
  const events = await fleet.catalog.events(EVENT_COUNT_MAX);
  const loss = events.find((event) => event.epoch === lossEpoch);
  return loss ? new Date(Date.parse(loss.at) - lookbackMs) : null;
}

async function waitCaughtUp(
  plan: Plan,
  pools: ReseedPools,
  starts: ReadonlyMap<number, string>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let pending = plan.shards;
  while (pending.length > 0) {
    const states = await Promise.all(
      pending.map(({ shard, site }) =>
        catchUpState(
          pools.pool(site.returning, site.database),
          site.database,
          starts.get(shard.id) ?? '0/0',
        ),
      ),
    );
    pending = pending.filter((_, i) => {
      const state = states[i];
      return !state || state.tables === 0 || state.tablesReady < state.tables || !state.pastStart;
    });
    if (pending.length === 0) return;
    if (Date.now() > deadline)
      throw new MainstayError(
        'reseed_incomplete',
        `the copies of shards ${pending.map((p) => p.shard.id).join(', ')} did not catch up within ${timeoutMs} ms; run the re-seed again to go on waiting`,
      );
    await sleep(POLL_MS);
  }
}

/**
 * Makes sure the returning primary has its streaming replica, rebuilding it from the primary
 * when it does not stream. Done while the replica is still fenced, so the failover controller,
 * which probes only unfenced servers, does not take the rebuild for a failure.
 */
async function ensureReplicaStreams(
  fleet: Fleet,
  pools: ReseedPools,
  plan: Plan,
  step: (text: string) => void,
): Promise<boolean> {
  const replica = plan.replica;
  if (!replica || !fleet.server(replica.id)) return false;
  if (await streamsWithin(pools, plan.primary.id, replica.id, REPLICA_STREAM_WAIT_MS)) return false;
  step(`rebuilding ${replica.id} as a replica of ${plan.primary.id}`);
  await fleet.rebuildReplica(replica.id);
  if (!(await streamsWithin(pools, plan.primary.id, replica.id, REPLICA_STREAM_WAIT_MS)))
    throw new MainstayError(
      'reseed_incomplete',
      `${replica.id} was rebuilt but does not stream from ${plan.primary.id}`,
    );
  return true;
}

async function streamsWithin(
  pools: ReseedPools,
  primary: string,
  replica: string,
  waitMs: number,
): Promise<boolean> {
  const deadline = Date.now() + waitMs;
  do {
    const { rowCount } = await pools
      .pool(primary)
      .query(
        `SELECT 1 FROM pg_stat_replication WHERE application_name = $1 AND state = 'streaming'`,
        [replica],
      );
    if ((rowCount ?? 0) > 0) return true;
    await sleep(POLL_MS);
  } while (Date.now() < deadline);
  return false;
}

/**
 * One catalog change: the returning servers unfenced, their copies `replicating`, the epoch
 * raised so routers reload. Refused if a home moved meanwhile (the fresh copies follow the old
 * one): a second run re-points them.
 */
async function liftQuarantine(
  fleet: Fleet,
  plan: Plan,
  shards: readonly ShardReseed[],
): Promise<number> {
  const now = await fleet.refreshCatalog();
  for (const { shard, site } of plan.shards) {
    const home = now && primaryOf(now, shard.homeDc);
    if (home !== site.home)
      throw new MainstayError(
        'reseed_incomplete',
        `the home of shard ${shard.id} moved from ${site.home} to ${home ?? 'nowhere'} during the re-seed; run it again`,
      );
  }
  const dc = plan.primary.dc as string;
  return fleet.catalog.commitChange(
    `data centre ${dc} re-seeded: copies of shards ${plan.shards.map((s) => s.shard.id).join(', ')} replicating`,
    {
      servers: plan.snapshot.servers
        .filter((s) => s.dc === dc && s.fencedAtEpoch !== null)
        .map((s) => ({ id: s.id, fenced: false })),
      shards: plan.shards.map(({ shard }) => ({ id: shard.id, copyState: 'replicating' as const })),
    },
    {
      preserved: Object.fromEntries(shards.map((s) => [s.shardId, s.preservedAs])),
      rowsMissingOnHome: Object.fromEntries(shards.map((s) => [s.shardId, s.rowsMissingOnHome])),
    },
  );
}

/**
 * Rewrites the returning servers' settings from the catalog (unfenced: no longer read-only by
 * default; the primary waits for its replica again in a synchronous DC) and reloads them. The
 * settings file is what a restart reads too, so the change survives one.
 */
async function makeWritablePerRole(fleet: Fleet, plan: Plan): Promise<void> {
  await fleet.refreshCatalog();
  await fleet.reconfigure(plan.primary.id);
  if (plan.replica) {
    await fleet.reconfigure(plan.replica.id);
    await fleet.setStandbyHealthy(plan.replica.id, true);
  }
  await fleet.connectCopies();
}
