import { setTimeout as sleep } from 'node:timers/promises';
import type { CatalogServer, CatalogSnapshot } from '../catalog/catalog-store.ts';
import { primaryOf } from '../catalog/primary-of.ts';
import { MainstayError } from '../errors/mainstay-error.ts';
import type { Fleet } from './fleet.ts';

/** Bounds of a planned switchover. */
export const SWITCHOVER = {
  /** Most the candidate may trail the primary's WAL (replay) for the switch to start. */
  lagBytesMax: 16 * 1024 * 1024,
  /** How long the preflight waits for the candidate to hold the copies' failover slots. */
  slotSyncWaitMs: 45_000,
  /** How often, meanwhile, the primary logs a snapshot for the slots to move on. */
  slotNudgeIntervalMs: 1_000,
  /** How long the candidate may take to replay the stopped primary's last record. */
  catchUpWaitMs: 30_000,
  /** How long the new primary may take to accept its first write. */
  firstWriteWaitMs: 15_000,
  /** How long the old primary, started as a standby, may take to stream before a rebuild. */
  rejoinWaitMs: 30_000,
  /** How long verification waits for the replica to stream and the copies to apply. */
  verifyWaitMs: 30_000,
} as const;

const POLL_MS = 100;

/** Which DC to switch, and how far behind the candidate may be. */
export interface SwitchoverRequest {
  readonly dc: string;
  /** Default {@link SWITCHOVER.lagBytesMax}. */
  readonly lagBytesMax?: number;
}

/** What the preflight found: the switch it would make. */
export interface SwitchoverPlan {
  readonly dc: string;
  /** The primary now, to become the replica. */
  readonly from: string;
  /** Its streaming replica, to become the primary. */
  readonly to: string;
  /** How far the candidate's replay trailed the primary's WAL when checked. */
  readonly lagBytes: number;
  /** The primary's timeline now (the new primary's must be higher afterwards). */
  readonly timeline: number;
  /** Failover slots of the copies the candidate does not hold: those copies will be re-seeded. */
  readonly slotsMissing: readonly string[];
}

function refuse(message: string): never {
  throw new MainstayError('switchover_refused', message);
}

/**
 * Checks that DC `dc` can switch its primary to its replica now, and changes nothing: a fleet
 * Mainstay runs, no planned operation in progress, no fenced server in the DC (a failover or a
 * rebuild not finished), a primary and an unfenced replica of it, both up and answering, the
 * replica streaming and within `lagBytesMax` of the primary, the other DC's primary answering
 * (its copies are re-pointed). Throws `switchover_refused` (or `operation_in_progress`) saying
 * which check failed.
 */
export async function preflightSwitchover(
  fleet: Fleet,
  request: SwitchoverRequest,
): Promise<SwitchoverPlan> {
  if (fleet.isExternal) refuse('the servers are external: Mainstay cannot stop or promote them');
  const running = fleet.planned.current;
  if (running) throw new MainstayError('operation_in_progress', `${running.name} is in progress`);
  const snapshot = await fleet.refreshCatalog();
  if (!snapshot) refuse('the catalog is empty');
  const { from, to } = switchPair(snapshot, request.dc, (id) => fleet.isConfigured(id));
  for (const id of [from.id, to.id]) {
    if (fleet.server(id)?.state !== 'up') refuse(`server ${id} is down`);
  }
  const candidate = await fleet.pools
    .pool(to.id)
    .query<{ standby: boolean }>('SELECT pg_is_in_recovery() AS standby')
    .catch((error: unknown) => refuse(`candidate ${to.id} does not answer: ${messageOf(error)}`));
  if (!candidate.rows[0]?.standby) refuse(`candidate ${to.id} is not in recovery`);
  const { lagBytes, timeline } = await streamingLag(fleet, from.id, to.id);
  const lagBytesMax = request.lagBytesMax ?? SWITCHOVER.lagBytesMax;
  if (lagBytes > lagBytesMax)
    refuse(`candidate ${to.id} trails ${from.id} by ${lagBytes} bytes (at most ${lagBytesMax})`);
  const other = snapshot.dataCentres.find((dc) => dc.id !== request.dc)?.id;
  const otherPrimary = other ? primaryOf(snapshot, other) : undefined;
  if (otherPrimary) {
    await fleet.pools
      .pool(otherPrimary)
      .query('SELECT 1')
      .catch(() => refuse(`${otherPrimary}, which holds the copies, does not answer`));
  }
  const slotsMissing = await waitForFailoverSlots(fleet, from.id, to.id);
  return { dc: request.dc, from: from.id, to: to.id, lagBytes, timeline, slotsMissing };
}

/** The DC's primary and its replica, or a refusal saying what is missing. */
function switchPair(
  snapshot: CatalogSnapshot,
  dc: string,
  isConfigured: (id: string) => boolean,
): { from: CatalogServer; to: CatalogServer } {
  if (!snapshot.dataCentres.some((d) => d.id === dc)) refuse(`no data centre ${dc}`);
  const fenced = snapshot.servers.filter((s) => s.dc === dc && s.fencedAtEpoch !== null);
  if (fenced.length > 0)
    refuse(
      `${fenced.map((s) => s.id).join(', ')} fenced in ${dc}: a failover or rebuild is not finished`,
    );
  const fromId = primaryOf(snapshot, dc);
  const from = snapshot.servers.find((s) => s.id === fromId);
  if (!from) refuse(`${dc} has no primary`);
  const to = snapshot.servers.find(
    (s) => s.role === 'replica' && s.upstream === from.id && isConfigured(s.id),
  );
  if (!to) refuse(`${from.id} has no replica to switch to`);
  return { from, to };
}

/** How far the candidate's replay trails the primary, which must see it streaming. */
async function streamingLag(
  fleet: Fleet,
  from: string,
  to: string,
): Promise<{ lagBytes: number; timeline: number }> {
  const { rows } = await fleet.pools
    .pool(from)
    .query<{ state: string | null; lag: string | null; timeline: string }>(
      `SELECT (SELECT state FROM pg_stat_replication WHERE application_name = $1 LIMIT 1) AS state,
              (SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) FROM pg_stat_replication
                WHERE application_name = $1 LIMIT 1)::text AS lag,
              substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) AS timeline`,
      [to],
    )
    .catch((error: unknown) => refuse(`primary ${from} does not answer: ${messageOf(error)}`));
  const row = rows[0];
  if (row?.state !== 'streaming')
    refuse(`candidate ${to} is not streaming from ${from} (state ${row?.state ?? 'absent'})`);
  return { lagBytes: Number(row.lag ?? Number.POSITIVE_INFINITY), timeline: timelineOf(row) };
}

function timelineOf(row: { timeline: string }): number {
  return Number.parseInt(row.timeline, 16);
}

/**
 * Waits (bounded) until the candidate holds, synchronised and persistent, every failover slot
 * of the primary (the copies' logical slots). A copy whose slot the promoted server lacks is
 * re-seeded, which is correct but slow; waiting usually avoids it (a replica that rejoined
 * moments ago has not synchronised them yet). Returns the slots still missing.
 */
async function waitForFailoverSlots(fleet: Fleet, from: string, to: string): Promise<string[]> {
  const deadline = Date.now() + SWITCHOVER.slotSyncWaitMs;
  let nudgedAt = 0;
  for (;;) {
    const wanted = await fleet.pools
      .pool(from)
      .query<{ slot_name: string }>(
        `SELECT slot_name FROM pg_replication_slots WHERE slot_type = 'logical' AND failover`,
      );
    const held = await fleet.pools
      .pool(to)
      .query<{ slot_name: string }>(
        'SELECT slot_name FROM pg_replication_slots WHERE synced AND NOT temporary',
      );
    const have = new Set(held.rows.map((row) => row.slot_name));
    const missing = wanted.rows.map((row) => row.slot_name).filter((slot) => !have.has(slot));
    if (missing.length === 0 || Date.now() >= deadline) return missing;
    // A standby keeps a new synced slot temporary until the primary's slot passes the WAL the
    // standby reserved for it; a running-transactions record lets the slot's restart point move.
    if (Date.now() >= nudgedAt + SWITCHOVER.slotNudgeIntervalMs) {
      nudgedAt = Date.now();
      await fleet.pools.pool(from).query('SELECT pg_log_standby_snapshot()');
    }
    await sleep(POLL_MS);
  }
}

/** An error's message, for a refusal or a problem line. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
