import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { CatalogStore } from '../catalog/catalog-store.ts';
import { MainstayError } from '../errors/mainstay-error.ts';
import { formatLsn, parseLsn } from '../postgres/lsn.ts';
import { addedReplicasRepointed, rejoinAddedReplicas } from './added-replicas.ts';
import type { Fleet } from './fleet.ts';
import { readControlFile } from './pg-control.ts';
import { type RejoinMethod, rejoinAsReplica } from './replica-rejoin.ts';
import { preflightSwitchover, SWITCHOVER, type SwitchoverRequest } from './switchover-preflight.ts';
import { firstWrite, type SwitchoverVerification, verifySwitchover } from './switchover-verify.ts';

/**
 * Catalog flag naming the switchover under way (`{dc, from, to, timeline}` as JSON; empty when
 * none), so a run after a crash continues it (or {@link compensateSwitchover} undoes it).
 */
export const SWITCHOVER_FLAG = 'planned_switchover';

const POLL_MS = 50;

/** A switchover recorded in the catalog before its first change. */
export interface PendingSwitchover {
  readonly dc: string;
  readonly from: string;
  readonly to: string;
  /** The old primary's timeline before the switch. */
  readonly timeline: number;
}

/** Where a switchover's write pause went, in milliseconds (absent: not done by this run). */
export interface SwitchoverPhases {
  readonly fenceMs?: number;
  readonly stopMs?: number;
  readonly catchUpMs?: number;
  readonly promoteMs?: number;
  readonly publishMs?: number;
  readonly firstWriteMs?: number;
}

/** What a switchover did, and what its verification found. */
export interface SwitchoverReport {
  readonly dc: string;
  /** The former primary, now a replica. */
  readonly from: string;
  /** The former replica, now the primary. */
  readonly to: string;
  /** Whether this run continued one a crash had interrupted. */
  readonly resumed: boolean;
  /**
   * Write downtime: from the fence (writes pause) to the first write the new primary
   * committed after it was published. `null` when this run began past the pause.
   */
  readonly downtimeMs: number | null;
  readonly phasesMs: SwitchoverPhases;
  /** The old primary's last record (its shutdown checkpoint), replayed by the new primary. */
  readonly oldPrimaryEndLsn: string | null;
  readonly rejoin: RejoinMethod;
  /** Failover slots the candidate lacked after the preflight's wait (empty when resumed). */
  readonly slotsMissing: readonly string[];
  /** Shards whose copies had to be re-seeded (their slot had not reached the new primary). */
  readonly reseededCopies: readonly number[];
  readonly verification: SwitchoverVerification;
}

/**
 * A planned switchover of DC `request.dc`'s primary to its streaming replica, with no
 * acknowledged write lost:
 * 1. preflight ({@link preflightSwitchover}); the switch recorded in the catalog flag;
 * 2. the old primary fenced in the catalog (routers hold writes, up to their `writeWaitMs`);
 * 3. the old primary stopped cleanly (fast shutdown: its walsender sends the rest of its WAL),
 *    and the candidate waited for until it replayed the old primary's last record (the
 *    shutdown checkpoint, read from its control file); if it does not, the old primary is
 *    started and unfenced again and `switchover_aborted` thrown;
 * 4. the candidate promoted (a new timeline), the new roles published (the old primary a fenced
 *    replica), the first write on the new primary measured;
 * 5. the other DC's copies re-pointed; the old primary rejoined as a replica (as a standby of
 *    the new timeline when provably safe, else rebuilt), unfenced, waited for synchronously;
 * 6. verified ({@link verifySwitchover}).
 * The failover controller leaves both servers alone meanwhile (`fleet.planned`). Run again
 * after a crash, it continues from the catalog's state. Throws `switchover_refused`,
 * `operation_in_progress` or `switchover_aborted`; a failed verification is in the report.
 */
export async function switchover(
  fleet: Fleet,
  request: SwitchoverRequest,
): Promise<SwitchoverReport> {
  let pending = await readPending(fleet.catalog);
  if (pending && pending.dc !== request.dc)
    throw new MainstayError(
      'operation_in_progress',
      `a switchover of ${pending.dc} is recorded in the catalog; finish it first`,
    );
  const resumed = pending !== null;
  if (pending && !(await switchStarted(fleet, pending))) {
    await fleet.catalog.setFlag(SWITCHOVER_FLAG, '');
    pending = null;
  }
  let slotsMissing: readonly string[] = [];
  if (!pending) {
    const plan = await preflightSwitchover(fleet, request);
    pending = { dc: plan.dc, from: plan.from, to: plan.to, timeline: plan.timeline };
    slotsMissing = plan.slotsMissing;
  }
  const end = fleet.planned.begin(
    `switchover of ${pending.dc} (${pending.from} to ${pending.to})`,
    [pending.from, pending.to],
  );
  try {
    return { ...(await runSwitchover(fleet, pending, resumed)), slotsMissing };
  } finally {
    end();
  }
}

async function runSwitchover(
  fleet: Fleet,
  pending: PendingSwitchover,
  resumed: boolean,
): Promise<Omit<SwitchoverReport, 'slotsMissing'>> {
  const { dc, from, to } = pending;
  await fleet.catalog.setFlag(SWITCHOVER_FLAG, JSON.stringify(pending));
  const phases: Record<string, number> = {};
  let pausedAt: number | null = null;
  let cleanEnd: bigint | null = null;
  const snapshot = await fleet.refreshCatalog();
  const published = snapshot?.servers.find((s) => s.id === to)?.role === 'primary';
  if (!published) {
    // Settings from the catalog now: a candidate rebuilt while fenced may still default to
    // read-only, which would refuse the first writes after its promotion.
    await fleet.reconfigure(to);
    // Most of the shutdown checkpoint's work done before the pause, not inside it (a run
    // continuing one that already stopped the old primary finds nothing to connect to).
    await checkpoint(fleet, from).catch(() => undefined);
    pausedAt = Date.now();
    await timed(phases, 'fenceMs', () => fence(fleet, pending));
    const end = await timed(phases, 'stopMs', () => stopCleanly(fleet, from));
    cleanEnd = end;
    await timed(phases, 'catchUpMs', () => awaitReplayed(fleet, pending, end));
    await timed(phases, 'promoteMs', () => fleet.promote(to));
    await timed(phases, 'publishMs', () => publish(fleet, pending));
  }
  await fleet.reconfigure(to);
  await timed(phases, 'firstWriteMs', () => firstWrite(fleet, to));
  // A run that continues an interrupted one did not see the pause begin: no figure.
  const downtimeMs = pausedAt === null || resumed ? null : Date.now() - pausedAt;
  const { reseeded } = await fleet.connectCopies({ promotedIn: dc, handedOver: true });
  const rejoin = await rejoinAsReplica(fleet, {
    server: from,
    primary: to,
    cleanEnd,
    waitMs: SWITCHOVER.rejoinWaitMs,
  });
  await fleet.catalog.commitChange(`switchover in ${dc}: ${from} rejoined as replica of ${to}`, {
    servers: [{ id: from, fenced: false }],
  });
  await fleet.refreshCatalog();
  await fleet.reconfigure(from);
  await fleet.setStandbyHealthy(from, true);
  await fleet.catalog.setFlag(SWITCHOVER_FLAG, '');
  await rejoinAddedReplicas(fleet);
  const verification = await verifySwitchover(fleet, {
    dc,
    primary: to,
    replica: from,
    timelineBefore: pending.timeline,
  });
  return {
    dc,
    from,
    to,
    resumed,
    downtimeMs,
    phasesMs: phases,
    oldPrimaryEndLsn: cleanEnd === null ? null : formatLsn(cleanEnd),
    rejoin,
    reseededCopies: reseeded,
    verification,
  };
}

async function timed<T>(
  phases: Record<string, number>,
  name: keyof SwitchoverPhases,
  step: () => Promise<T>,
): Promise<T> {
  const startedAt = Date.now();
  const result = await step();
  phases[name] = Date.now() - startedAt;
  return result;
}

/** The switchover recorded in the catalog, if any. */
export async function readPending(catalog: CatalogStore): Promise<PendingSwitchover | null> {
  const text = await catalog.getFlag(SWITCHOVER_FLAG);
  if (!text) return null;
  const value = JSON.parse(text) as Partial<PendingSwitchover>;
  if (
    typeof value.dc !== 'string' ||
    typeof value.from !== 'string' ||
    typeof value.to !== 'string' ||
    typeof value.timeline !== 'number'
  )
    throw new Error(`catalog flag ${SWITCHOVER_FLAG} is malformed: ${text}`);
  return { dc: value.dc, from: value.from, to: value.to, timeline: value.timeline };
}

/** Whether a recorded switchover got as far as its fence (else it starts afresh). */
async function switchStarted(fleet: Fleet, pending: PendingSwitchover): Promise<boolean> {
  const snapshot = await fleet.refreshCatalog();
  const from = snapshot?.servers.find((s) => s.id === pending.from);
  const to = snapshot?.servers.find((s) => s.id === pending.to);
  return to?.role === 'primary' || (from?.role === 'primary' && from.fencedAtEpoch !== null);
}

/** A checkpoint on `id`, on a connection of its own (no query bound: it takes what it takes). */
async function checkpoint(fleet: Fleet, id: string): Promise<void> {
  const client = new pg.Client({ ...fleet.connection(id), database: 'postgres' });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query('CHECKPOINT');
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Fences the old primary in the catalog: from this epoch on, routers send it no writes. */
async function fence(fleet: Fleet, pending: PendingSwitchover): Promise<void> {
  const snapshot = await fleet.refreshCatalog();
  const from = snapshot?.servers.find((s) => s.id === pending.from);
  if (from?.fencedAtEpoch !== null) return;
  await fleet.catalog.commitChange(
    `switchover in ${pending.dc}: ${pending.from} fenced, writes pause`,
    { servers: [{ id: pending.from, fenced: true }] },
  );
  await fleet.refreshCatalog();
}

/**
 * Stops the old primary with a fast shutdown: open transactions roll back, a shutdown
 * checkpoint is written and its walsenders send everything up to it before they exit. Returns
 * the position of that checkpoint, its last record.
 */
async function stopCleanly(fleet: Fleet, id: string): Promise<bigint> {
  const server = fleet.server(id);
  if (!server) throw new Error(`server ${id} is not run by Mainstay here`);
  await server.stop();
  await fleet.pools.closeServer(id);
  const control = readControlFile(server.dataDir);
  if (control.state !== 'shut down')
    throw await abort(fleet, id, `${id} did not shut down cleanly (${control.state})`);
  return control.checkpointLsn;
}

/** Waits until the candidate replayed the old primary's last record, else aborts the switch. */
async function awaitReplayed(fleet: Fleet, pending: PendingSwitchover, end: bigint): Promise<void> {
  const deadline = Date.now() + SWITCHOVER.catchUpWaitMs;
  let replayed: bigint | null = null;
  while (Date.now() < deadline) {
    const { rows } = await fleet.pools
      .pool(pending.to)
      .query<{ lsn: string | null }>('SELECT pg_last_wal_replay_lsn()::text AS lsn')
      .catch(() => ({ rows: [] as { lsn: string | null }[] }));
    replayed = rows[0]?.lsn ? parseLsn(rows[0].lsn) : null;
    // Replay positions are record ends: past the checkpoint's start, it was replayed.
    if (replayed !== null && replayed > end) return;
    await sleep(POLL_MS);
  }
  throw await abort(
    fleet,
    pending.from,
    `${pending.to} replayed to ${replayed === null ? 'nothing' : formatLsn(replayed)}, not past ${pending.from}'s last record at ${formatLsn(end)}, within ${SWITCHOVER.catchUpWaitMs} ms`,
  );
}

/** One catalog change: the candidate the primary, the old primary its (still fenced) replica. */
async function publish(fleet: Fleet, pending: PendingSwitchover): Promise<void> {
  const snapshot = await fleet.refreshCatalog();
  await fleet.catalog.commitChange(`switchover in ${pending.dc}: ${pending.to} is primary`, {
    servers: [
      { id: pending.to, role: 'primary', upstream: null },
      { id: pending.from, role: 'replica', upstream: pending.to },
      ...(snapshot ? addedReplicasRepointed(fleet, snapshot, pending.from, pending.to) : []),
    ],
  });
  await fleet.refreshCatalog();
}

/**
 * Puts the old primary back as it was (started, unfenced, its settings rewritten) and returns
 * the `switchover_aborted` error to throw. Only before the promotion: after it, the way back is
 * a switchover the other way.
 */
async function abort(fleet: Fleet, from: string, why: string): Promise<MainstayError> {
  await restoreOldPrimary(fleet, from);
  return new MainstayError(
    'switchover_aborted',
    `${why}; ${from} was started again and serves as primary, nothing switched`,
  );
}

async function restoreOldPrimary(fleet: Fleet, from: string): Promise<void> {
  await fleet.startServer(from);
  await fleet.catalog.commitChange(`switchover aborted: ${from} unfenced`, {
    servers: [{ id: from, fenced: false }],
  });
  await fleet.refreshCatalog();
  await fleet.reconfigure(from);
  await fleet.catalog.setFlag(SWITCHOVER_FLAG, '');
}

/**
 * Undoes a switchover that stopped before its new roles were published (a crash, an abort):
 * the old primary started and unfenced, the candidate rebuilt from it if it had been promoted
 * meanwhile (it took no write: nothing routed to it). Returns what it found: `nothing` (no
 * switchover recorded, or it never fenced), `restored`, or `published` (the switch is done:
 * finish it by running {@link switchover} again, or switch back).
 */
export async function compensateSwitchover(
  fleet: Fleet,
): Promise<'nothing' | 'restored' | 'published'> {
  const pending = await readPending(fleet.catalog);
  if (!pending) return 'nothing';
  if (!(await switchStarted(fleet, pending))) {
    await fleet.catalog.setFlag(SWITCHOVER_FLAG, '');
    return 'nothing';
  }
  const snapshot = await fleet.refreshCatalog();
  if (snapshot?.servers.find((s) => s.id === pending.to)?.role === 'primary') return 'published';
  const end = fleet.planned.begin(`undoing the switchover of ${pending.dc}`, [
    pending.from,
    pending.to,
  ]);
  try {
    await restoreOldPrimary(fleet, pending.from);
    const { rows } = await fleet.pools
      .pool(pending.to)
      .query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')
      .catch(() => ({ rows: [] as { r: boolean }[] }));
    if (rows[0]?.r !== true) await fleet.rebuildReplica(pending.to);
    await fleet.setStandbyHealthy(pending.to, true);
    return 'restored';
  } finally {
    end();
  }
}
