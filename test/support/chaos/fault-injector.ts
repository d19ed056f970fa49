/**
 * Carries out a fault schedule on a running fleet: each fault waits until its data centre is
 * whole again (roles settled, nothing fenced, replicas streaming, copies replicating), then
 * finds its victims in the current topology (after a failover the primary is another server)
 * and signals them, or pauses replay.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { TopologySnapshot } from '../../../src/fleet/topology-snapshot.ts';
import type { FaultKind, PlannedFault } from './fault-schedule.ts';
import type { FleetAccess } from './fleet-access.ts';
import { signalPid, signalTree } from './process-tree.ts';

/** How long a fault waits for its DC to be whole before it is skipped. */
const WHOLE_WAIT_MS_MAX = 60_000;
const POLL_MS = 250;

/** A fault as it happened. */
export interface InjectedFault {
  readonly kind: FaultKind;
  readonly dc: string;
  readonly holdMs: number;
  /** The servers hit. */
  servers: string[];
  /** The pids signalled (postmasters, or whole trees). */
  pids: number[];
  injectedAt: number | null;
  /** When a hang or pause was lifted (for a kill or a DC loss, the injection time). */
  liftedAt: number | null;
  skipped: string | null;
}

/**
 * Whether every server of `dc` is up in its role, unfenced, and its shards replicate. A shard
 * with its home or copy in a lost DC cannot replicate until an operator re-seeds that DC, so it
 * is not asked to.
 */
export function dcIsWhole(
  topology: TopologySnapshot,
  dc: string,
  lostDcs: readonly string[] = [],
): boolean {
  const servers = topology.servers.filter((server) => server.dc === dc);
  const serversWhole = servers.every(
    (server) =>
      server.state === 'up' &&
      server.fencedAtEpoch === null &&
      (server.role !== 'replica' || server.streamingState === 'streaming'),
  );
  const shards = topology.shards.filter(
    (shard) =>
      (shard.homeDc === dc || shard.copyDc === dc) &&
      !lostDcs.includes(shard.homeDc) &&
      !lostDcs.includes(shard.copyDc),
  );
  return servers.length > 0 && serversWhole && shards.every((s) => s.copyState === 'replicating');
}

export class FaultInjector {
  readonly #access: FleetAccess;
  /** Pids stopped and not yet continued, so that `release` can wake them whatever happened. */
  readonly #stopped = new Set<number>();
  /** Replicas whose replay is paused. */
  readonly #paused = new Set<string>();
  readonly faults: InjectedFault[] = [];
  readonly lostDcs: string[] = [];

  constructor(access: FleetAccess) {
    this.#access = access;
  }

  /** Runs the schedule; a fault that would end after `deadline` is skipped. */
  async run(schedule: readonly PlannedFault[], deadline: number): Promise<void> {
    for (const planned of schedule) {
      const fault: InjectedFault = {
        ...planned,
        servers: [],
        pids: [],
        injectedAt: null,
        liftedAt: null,
        skipped: null,
      };
      this.faults.push(fault);
      await sleep(planned.gapMs);
      const topology = await this.#waitWhole(planned.dc, deadline);
      if (!topology) {
        fault.skipped = this.lostDcs.includes(planned.dc) ? 'DC lost' : 'DC not whole in time';
        continue;
      }
      if (Date.now() + planned.holdMs + 1_000 > deadline) {
        fault.skipped = 'no time left';
        continue;
      }
      await this.#inject(fault, topology);
    }
  }

  /** Continues every stopped process and resumes replay on every paused replica. */
  async release(): Promise<void> {
    for (const pid of this.#stopped) signalPid(pid, 'SIGCONT');
    this.#stopped.clear();
    for (const server of [...this.#paused]) await this.#resumeReplay(server);
  }

  async #waitWhole(dc: string, deadline: number): Promise<TopologySnapshot | null> {
    const until = Math.min(deadline, Date.now() + WHOLE_WAIT_MS_MAX);
    while (Date.now() < until && !this.lostDcs.includes(dc)) {
      const topology = await this.#access.topology();
      if (topology && dcIsWhole(topology, dc)) return topology;
      await sleep(POLL_MS);
    }
    return null;
  }

  async #inject(fault: InjectedFault, topology: TopologySnapshot): Promise<void> {
    const dc = topology.dataCentres.find((candidate) => candidate.id === fault.dc);
    const pidOf = (id: string | undefined) =>
      topology.servers.find((server) => server.id === id)?.pid ?? null;
    if (!dc) throw new Error(`no data centre ${fault.dc} in the topology`);
    const replica = dc.replicas[0];
    fault.injectedAt = Date.now();
    if (fault.kind === 'kill_primary') {
      fault.servers = [dc.primary];
      const pid = pidOf(dc.primary);
      if (pid !== null && signalPid(pid, 'SIGKILL')) fault.pids = [pid];
      fault.liftedAt = fault.injectedAt;
    } else if (fault.kind === 'hang_primary') {
      fault.servers = [dc.primary];
      const pid = pidOf(dc.primary);
      const pids = pid === null ? [] : signalTree(pid, 'SIGSTOP');
      fault.pids = pids;
      for (const stopped of pids) this.#stopped.add(stopped);
      await sleep(fault.holdMs);
      for (const stopped of pids) {
        signalPid(stopped, 'SIGCONT');
        this.#stopped.delete(stopped);
      }
      fault.liftedAt = Date.now();
    } else if (fault.kind === 'pause_replay') {
      if (replica === undefined) throw new Error(`no replica in ${fault.dc}`);
      fault.servers = [replica];
      this.#paused.add(replica);
      try {
        await this.#access.sql(replica, 'postgres', 'SELECT pg_wal_replay_pause()');
      } catch (error) {
        fault.skipped = `replay not paused: ${(error as Error).message}`;
        fault.injectedAt = null;
        return;
      }
      await sleep(fault.holdMs);
      await this.#resumeReplay(replica);
      fault.liftedAt = Date.now();
    } else {
      fault.servers = [dc.primary, ...dc.replicas];
      this.lostDcs.push(fault.dc);
      for (const id of fault.servers) {
        const pid = pidOf(id);
        if (pid !== null) fault.pids.push(...signalTree(pid, 'SIGKILL'));
      }
      fault.liftedAt = fault.injectedAt;
    }
  }

  async #resumeReplay(server: string): Promise<void> {
    try {
      await this.#access.sql(server, 'postgres', 'SELECT pg_wal_replay_resume()');
    } catch {
      // Promoted meanwhile (no longer in recovery) or down: nothing is paused there any more.
    }
    this.#paused.delete(server);
  }
}
