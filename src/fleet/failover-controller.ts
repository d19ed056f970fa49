import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CatalogServer, CatalogSnapshot, CatalogStore } from '../catalog/catalog-store.ts';
import { JobRunner } from '../jobs/job-runner.ts';
import { ConnectionPools } from '../postgres/connection-pools.ts';
import { parseLsn } from '../postgres/lsn.ts';
import { addedReplicasRepointed, rejoinAddedReplicas } from './added-replicas.ts';
import { moveLostDataCentre } from './dc-failover.ts';
import { type FailoverEvent, FailoverEventLog } from './failover-events.ts';
import { FAILOVER_DEFAULTS, type FailoverOptions } from './failover-options.ts';
import type { Fleet } from './fleet.ts';
import { describeLostTail, type LostTailOutcome } from './lost-tail.ts';

/** How often the probe loop re-reads the catalog for changes it did not make itself. */
const CATALOG_REREAD_MS = 2_000;

/**
 * Watches every primary and replica and repairs the fleet when one fails:
 * - a dead or hung primary: fence it (epoch bump), shoot it, promote its DC's replica, publish
 *   the new primary, re-point the other DC's shard copies, measure the lost tail from the old
 *   one's WAL, rebuild the old one as a replica;
 * - a dead or hung replica: stop its primary waiting for it, restart (or rebuild) it;
 * - a whole DC lost: move its shards' homes to the other DC's copies, report the unreplicated
 *   tail, and fence the lost servers so that nothing routes to them when they return.
 * Actions run one at a time, in the order failures were seen.
 */
export class FailoverController extends EventEmitter<{ event: [FailoverEvent] }> {
  readonly log = new FailoverEventLog();
  /** Runs the probe rounds (job `failover-probe`); its snapshot is the loop's statistics. */
  readonly jobs = new JobRunner();
  readonly #fleet: Fleet;
  readonly #options: typeof FAILOVER_DEFAULTS;
  readonly #probes: ConnectionPools;
  readonly #failures = new Map<string, number>();
  readonly #lastLsn = new Map<string, bigint>();
  readonly #handling = new Set<string>();
  #queue: Promise<void> = Promise.resolve();
  #watching = false;
  #catalogReadAt = 0;
  readonly #onExit = (serverId: string, detail: string) =>
    this.#suspect(serverId, `process exited: ${detail}`, 'exited');

  constructor(fleet: Fleet, options: FailoverOptions = {}) {
    super();
    this.#fleet = fleet;
    this.#options = { ...FAILOVER_DEFAULTS, ...options };
    const limit = this.#options.probeTimeoutMs;
    this.#probes = new ConnectionPools(
      (id) => fleet.connection(id),
      { poolSizeMax: 1, connectTimeoutMs: limit, queryTimeoutMs: limit },
      'mainstay-failover',
    );
    this.jobs.add({
      name: 'failover-probe',
      intervalMs: this.#options.probeIntervalMs,
      runTimeoutMs: this.#options.probeRoundTimeoutMs,
      run: () => this.#probeAll(),
    });
  }

  get #catalog(): CatalogStore {
    return this.#fleet.catalog;
  }

  start(): void {
    if (this.#watching) return;
    this.#watching = true;
    this.#fleet.on('serverExit', this.#onExit);
    this.jobs.start();
    // An added replica left fenced (its DC failed over, then the fleet went down) catches up.
    const startedAt = Date.now();
    this.#queue = this.#queue
      .then(() => this.#rejoinAdded(startedAt, null))
      .catch((error: unknown) => this.#failed(error, null, startedAt));
  }

  /** Stops watching; waits for an action in progress to finish. */
  async stop(): Promise<void> {
    this.#watching = false;
    this.#fleet.off('serverExit', this.#onExit);
    await this.jobs.stop();
    await this.#queue;
    await this.#probes.closeAll();
  }

  /** Resolves when every queued action has finished. */
  idle(): Promise<void> {
    return this.#queue;
  }

  /** One probe round; the job runner never starts one while another is in flight. */
  async #probeAll(): Promise<void> {
    // Roles change through this controller's own actions, which re-read the catalog; an
    // operator's change is picked up by a slower re-read, not one every probe round.
    const now = Date.now();
    if (now - this.#catalogReadAt >= CATALOG_REREAD_MS) {
      this.#catalogReadAt = now;
      await this.#fleet.refreshCatalog().catch(() => null);
    }
    const snapshot = this.#fleet.catalogSnapshot;
    const servers = (snapshot?.servers ?? []).filter(
      (s) => s.role !== 'witness' && s.fencedAtEpoch === null && !this.#fleet.planned.covers(s.id),
    );
    await Promise.all(servers.map((server) => this.#probe(server)));
  }

  async #probe(server: CatalogServer): Promise<void> {
    try {
      const { rows } = await this.#probes
        .pool(server.id)
        .query<{ lsn: string | null }>(
          `SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END::text AS lsn`,
        );
      const lsn = rows[0]?.lsn ? parseLsn(rows[0].lsn) : null;
      if (lsn !== null) this.#lastLsn.set(server.id, lsn);
      this.#failures.set(server.id, 0);
    } catch {
      const failures = (this.#failures.get(server.id) ?? 0) + 1;
      this.#failures.set(server.id, failures);
      if (failures >= this.#options.failureCountMax)
        this.#suspect(server.id, `${failures} probes failed`, 'silent');
    }
  }

  /**
   * Queues the handling of a server that exited, or that was silent for `failureCountMax`
   * probes. Handling is one action at a time, so a suspicion can wait behind another failover.
   */
  #suspect(serverId: string, why: string, seen: 'exited' | 'silent'): void {
    // A probe round that stop() waits for must not start a failover of a fleet going down.
    if (!this.#watching || this.#handling.has(serverId)) return;
    // A server a planned operation stops or promotes is not failing: the operation owns it.
    if (this.#fleet.planned.covers(serverId)) return;
    this.#handling.add(serverId);
    const detectedAt = Date.now();
    this.#queue = this.#queue
      .then(() => this.#handle(serverId, why, seen, detectedAt))
      .catch((error: unknown) => {
        this.#record(
          {
            kind: 'failover_failed',
            server: serverId,
            detail: error instanceof Error ? error.message : String(error),
          },
          detectedAt,
        );
      })
      .finally(() => {
        this.#handling.delete(serverId);
        this.#failures.set(serverId, 0);
      });
  }

  async #handle(
    serverId: string,
    why: string,
    seen: 'exited' | 'silent',
    detectedAt: number,
  ): Promise<void> {
    const snapshot = await this.#fleet.refreshCatalog();
    const server = snapshot?.servers.find((s) => s.id === serverId);
    if (!snapshot || !server || server.fencedAtEpoch !== null) return;
    if (this.#fleet.planned.covers(serverId)) return;
    // A silence that waited in the queue is asked again: a server slow while the machine was
    // starved, or while another failover ran, may answer now, and acting on its old role would
    // fail over a healthy server (a replica since promoted, say).
    if (
      seen === 'silent' &&
      Date.now() - detectedAt > this.#options.probeIntervalMs &&
      (await this.#answers(serverId))
    ) {
      this.#record(
        {
          kind: 'suspicion_cleared',
          server: serverId,
          dc: server.dc,
          detail: `${why}, but it answers now: nothing done`,
        },
        detectedAt,
      );
      return;
    }
    if (server.role === 'primary') await this.#primaryFailed(snapshot, server, why, detectedAt);
    else if (server.role === 'replica')
      await this.#replicaFailed(snapshot, server, why, detectedAt);
  }

  async #primaryFailed(
    snapshot: CatalogSnapshot,
    primary: CatalogServer,
    why: string,
    detectedAt: number,
  ) {
    this.#record(
      { kind: 'primary_failed', server: primary.id, dc: primary.dc, detail: why },
      detectedAt,
    );
    // Only the configured replica is a synchronous standby: an added one may lack acked commits.
    const replica = snapshot.servers.find(
      (s) =>
        s.role === 'replica' &&
        s.upstream === primary.id &&
        s.fencedAtEpoch === null &&
        this.#fleet.isConfigured(s.id),
    );
    if (!replica || !(await this.#answersWithin(replica.id))) {
      await this.#dcFailed(snapshot, primary.dc as string, detectedAt);
      return;
    }
    const fenced = await this.#catalog.commitChange(`fence ${primary.id}: ${why}`, {
      servers: [{ id: primary.id, fenced: true }],
    });
    await this.#fleet.kill(primary.id);
    this.#record(
      {
        kind: 'primary_fenced',
        server: primary.id,
        dc: primary.dc,
        epoch: fenced,
        detail: 'fenced in the catalog and its process group killed',
      },
      detectedAt,
    );
    try {
      await this.#fleet.promote(replica.id);
    } catch (error) {
      if (await this.#answers(replica.id)) throw error;
      await this.#dcFailed(snapshot, primary.dc as string, detectedAt);
      return;
    }
    const promoted = await this.#catalog.commitChange(
      `promote ${replica.id} in ${primary.dc}`,
      {
        servers: [
          { id: replica.id, role: 'primary', upstream: null },
          { id: primary.id, role: 'replica', upstream: replica.id },
          ...addedReplicasRepointed(this.#fleet, snapshot, primary.id, replica.id),
        ],
      },
      { lostTail: 'unknown until measured from the old primary WAL' },
    );
    await this.#fleet.refreshCatalog();
    await this.#fleet.reconfigure(replica.id);
    this.#record(
      {
        kind: 'replica_promoted',
        server: replica.id,
        dc: primary.dc,
        epoch: promoted,
        detail: `new primary of ${primary.dc}, without a synchronous standby until ${primary.id} is rebuilt; lost tail unknown until measured from ${primary.id}'s WAL`,
      },
      detectedAt,
    );
    await this.#completeFailover(primary, replica.id, detectedAt, 1);
  }

  /**
   * The steps after a promotion: the other DC's copies re-pointed, the old primary measured,
   * rebuilt and unfenced. Writes already go to the new primary, so a step that fails (the other
   * DC's primary hung meanwhile, say) is not the end: it is recorded and the steps are queued
   * again after `completionRetryMs`, behind whatever the controller handles meanwhile, up to
   * `completionAttemptMax` attempts. Every step is safe to run again.
   */
  async #completeFailover(
    primary: CatalogServer,
    promoted: string,
    detectedAt: number,
    attempt: number,
  ): Promise<void> {
    try {
      const { reseeded } = await this.#fleet.connectCopies({ promotedIn: primary.dc as string });
      this.#record(
        {
          kind: 'copies_repointed',
          server: promoted,
          dc: primary.dc,
          detail: `shard subscriptions in the other DC follow the new primary${reseeded.length > 0 ? `; re-seeded the copies of shards ${reseeded.join(', ')} (their slots did not survive)` : ''}`,
        },
        detectedAt,
      );
      await this.#rebuildOldPrimary(primary, promoted, detectedAt);
      await this.#rejoinAdded(detectedAt, primary.dc);
    } catch (error) {
      if (attempt >= this.#options.completionAttemptMax || !this.#watching) throw error;
      const message = error instanceof Error ? error.message : String(error);
      this.#record(
        {
          kind: 'failover_failed',
          server: primary.id,
          dc: primary.dc,
          detail: `${message}; ${promoted} serves as primary; re-pointing copies and rebuilding ${primary.id} again in ${this.#options.completionRetryMs} ms (attempt ${attempt + 1} of ${this.#options.completionAttemptMax})`,
        },
        detectedAt,
      );
      setTimeout(() => {
        if (!this.#watching) return;
        this.#queue = this.#queue
          .then(() => this.#completeFailover(primary, promoted, detectedAt, attempt + 1))
          .catch((failure: unknown) =>
            this.#record(
              {
                kind: 'failover_failed',
                server: primary.id,
                detail: failure instanceof Error ? failure.message : String(failure),
              },
              detectedAt,
            ),
          );
      }, this.#options.completionRetryMs).unref();
    }
  }

  /**
   * The last steps of a primary failover: the lost tail measured from the old primary's WAL
   * while it still exists, then the old primary rebuilt as a replica of the promoted one,
   * unfenced (with the tail in that catalog event), and waited for again.
   */
  async #rebuildOldPrimary(
    primary: CatalogServer,
    promoted: string,
    detectedAt: number,
  ): Promise<void> {
    const lostTail = await this.#measureLostTail(primary, promoted, detectedAt);
    await this.#fleet.rebuildReplica(primary.id);
    const rebuilt = await this.#catalog.commitChange(
      `${primary.id} rebuilt as replica of ${promoted}`,
      { servers: [{ id: primary.id, fenced: false }] },
      { lostTail: lostTail.measured ? lostTail.tail : { unknown: lostTail.reason } },
    );
    await this.#fleet.refreshCatalog();
    await this.#fleet.setStandbyHealthy(primary.id, true);
    this.#record(
      {
        kind: 'replica_rebuilt',
        server: primary.id,
        dc: primary.dc,
        epoch: rebuilt,
        detail: `streaming from ${promoted}`,
      },
      detectedAt,
    );
  }

  async #replicaFailed(
    snapshot: CatalogSnapshot,
    replica: CatalogServer,
    why: string,
    detectedAt: number,
  ): Promise<void> {
    this.#record(
      { kind: 'replica_failed', server: replica.id, dc: replica.dc, detail: why },
      detectedAt,
    );
    const upstream = snapshot.servers.find((s) => s.id === replica.upstream);
    if (upstream && !(await this.#answersWithin(upstream.id))) {
      // Both silent: either the DC is gone, or the primary died and its replica was only slow
      // to answer (a loaded machine). The replica is asked once more before the DC is given up.
      if (upstream.role === 'primary' && (await this.#answersWithin(replica.id)))
        await this.#primaryFailed(snapshot, upstream, `${why}; its replica answers`, detectedAt);
      else await this.#dcFailed(snapshot, replica.dc as string, detectedAt);
      return;
    }
    await this.#fleet.setStandbyHealthy(replica.id, false);
    await this.#fleet.kill(replica.id);
    try {
      await this.#fleet.startServer(replica.id);
    } catch {
      await this.#fleet.rebuildReplica(replica.id);
    }
    await this.#fleet.setStandbyHealthy(replica.id, true);
    this.#record(
      {
        kind: 'replica_recovered',
        server: replica.id,
        dc: replica.dc,
        detail: 'restarted and streaming again',
      },
      detectedAt,
    );
  }

  /** The whole DC is gone: its shards move home to their copies in the other DC (dc-failover.ts). */
  async #dcFailed(snapshot: CatalogSnapshot, dc: string, detectedAt: number): Promise<void> {
    await moveLostDataCentre(
      {
        fleet: this.#fleet,
        catalog: this.#catalog,
        sequenceGap: this.#options.sequenceGap,
        lastLsn: (serverId) => this.#lastLsn.get(serverId),
        record: (event) => this.#record(event, detectedAt),
      },
      snapshot,
      dc,
    );
  }

  /**
   * What the old primary wrote past the promoted server's switch point, read from its own WAL
   * before the rebuild deletes it (lost-tail.ts); reported either way, never guessed.
   */
  async #measureLostTail(
    primary: CatalogServer,
    promoted: string,
    detectedAt: number,
  ): Promise<LostTailOutcome> {
    const outcome = await this.#fleet
      .measureLostTail(primary.id, promoted)
      .catch((error: unknown) => ({
        measured: false as const,
        reason: error instanceof Error ? error.message : String(error),
      }));
    this.#record(
      {
        kind: outcome.measured ? 'lost_tail_measured' : 'lost_tail_unknown',
        server: primary.id,
        dc: primary.dc,
        detail: describeLostTail(outcome),
      },
      detectedAt,
    );
    return outcome;
  }

  /** Added replicas fenced by a promotion (added-replicas.ts), rebuilt from their primary. */
  async #rejoinAdded(detectedAt: number, dc: string | null): Promise<void> {
    if (!this.#watching) return;
    for (const added of await rejoinAddedReplicas(this.#fleet))
      this.#record(
        { kind: 'replica_rebuilt', server: added, dc, detail: 'added replica streaming again' },
        detectedAt,
      );
  }

  #failed(error: unknown, server: string | null, detectedAt: number): void {
    const detail = error instanceof Error ? error.message : String(error);
    this.#record({ kind: 'failover_failed', server, detail }, detectedAt);
  }

  async #answers(serverId: string): Promise<boolean> {
    try {
      await this.#probes.pool(serverId).query('SELECT 1');
      return true;
    } catch {
      return false;
    }
  }

  /** Whether `serverId` answers a probe within `dcLossConfirmMs`, probed every interval. */
  async #answersWithin(serverId: string): Promise<boolean> {
    const deadline = Date.now() + this.#options.dcLossConfirmMs;
    for (;;) {
      if (await this.#answers(serverId)) return true;
      if (Date.now() >= deadline || !this.#watching) return false;
      await sleep(this.#options.probeIntervalMs);
    }
  }

  #record(
    event: Partial<Omit<FailoverEvent, 'at' | 'sinceDetectionMs'>> &
      Pick<FailoverEvent, 'kind' | 'detail'>,
    detectedAt: number,
  ): void {
    const full = this.log.add({
      server: null,
      dc: null,
      epoch: null,
      ...event,
      sinceDetectionMs: Date.now() - detectedAt,
    });
    this.emit('event', full);
  }
}
