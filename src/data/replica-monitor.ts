import { setTimeout as sleep } from 'node:timers/promises';
import { JobRunner } from '../jobs/job-runner.ts';
import type { ConnectionPools } from '../postgres/connection-pools.ts';
import { parseLsn } from '../postgres/lsn.ts';
import type { ShardMap } from './shard-map.ts';

/** What the monitor knows about one server. */
export interface ServerObservation {
  /** Healthy after `upAfterSuccessCount` good probes in a row, unhealthy after `downAfterFailureCount` bad ones. */
  readonly healthy: boolean;
  /** Primary: current WAL position. Replica: last replayed position. `null` until known. */
  readonly lsn: bigint | null;
  readonly observedAt: number;
  /** Replica only: WAL bytes behind its primary, `null` when unknown. */
  readonly lagBytes: number | null;
  /** Replica only: how long ago its primary was where the replica is now; Infinity when unknown. */
  readonly lagMs: number;
}

export interface ReplicaMonitorOptions {
  readonly probeIntervalMs?: number;
  /** Bound on one round of probes (each probe is bounded by its pool's timeouts as well). */
  readonly probeRoundTimeoutMs?: number;
  readonly downAfterFailureCount?: number;
  readonly upAfterSuccessCount?: number;
  /** How long a primary's WAL-position history is kept, to turn byte lag into time lag. */
  readonly historyMsMax?: number;
  /** Poll interval while waiting for a replica to replay up to a position. */
  readonly waitPollMs?: number;
}

interface Mutable {
  healthy: boolean;
  failures: number;
  successes: number;
  lsn: bigint | null;
  observedAt: number;
  startedAt: string | null;
  role: 'primary' | 'replica';
  upstream: string | null;
}

const HISTORY_SAMPLE_COUNT_MAX = 4_096;

/**
 * Probes every primary and replica of the shard map continuously: replay positions, lag in bytes
 * and in time, and health with hysteresis so one slow probe does not flap routing. Unknown lag
 * counts as infinite. A cached replay position is a safe lower bound (replay only moves forward
 * on one server instance), and it is reset when the server restarts (a new postmaster start time).
 */
export class ReplicaMonitor {
  /** Runs the probe rounds (job `replica-probe`); its snapshot is the loop's statistics. */
  readonly jobs = new JobRunner();
  readonly #pools: ConnectionPools;
  readonly #options: Required<ReplicaMonitorOptions>;
  readonly #state = new Map<string, Mutable>();
  readonly #history = new Map<string, { at: number; lsn: bigint }[]>();
  #probing = false;

  constructor(pools: ConnectionPools, options: ReplicaMonitorOptions = {}) {
    this.#pools = pools;
    this.#options = {
      probeIntervalMs: options.probeIntervalMs ?? 100,
      probeRoundTimeoutMs: options.probeRoundTimeoutMs ?? 2_000,
      downAfterFailureCount: options.downAfterFailureCount ?? 2,
      upAfterSuccessCount: options.upAfterSuccessCount ?? 2,
      historyMsMax: options.historyMsMax ?? 120_000,
      waitPollMs: options.waitPollMs ?? 5,
    };
    this.jobs.add({
      name: 'replica-probe',
      intervalMs: this.#options.probeIntervalMs,
      runTimeoutMs: this.#options.probeRoundTimeoutMs,
      run: () => this.probeAll(),
    });
  }

  /** Follows a new shard map: new servers are probed, removed ones forgotten. */
  setMap(map: ShardMap): void {
    this.#pools.revalidate();
    const live = new Set<string>();
    for (const id of map.shardIds) {
      const route = map.route(id);
      if (route.primary) live.add(route.primary.id);
      for (const replica of route.replicas) live.add(replica.id);
    }
    for (const id of live) {
      const server = map.server(id);
      const role = server?.role === 'primary' ? 'primary' : 'replica';
      const existing = this.#state.get(id);
      if (existing && existing.role === role) {
        existing.upstream = server?.upstream ?? null;
      } else {
        this.#state.set(id, {
          healthy: false,
          failures: 0,
          successes: 0,
          lsn: null,
          observedAt: 0,
          startedAt: null,
          role,
          upstream: server?.upstream ?? null,
        });
      }
    }
    for (const id of this.#state.keys()) if (!live.has(id)) this.#state.delete(id);
  }

  /** Starts probing every `probeIntervalMs`. */
  start(): void {
    this.jobs.start();
  }

  /** Stops probing; waits for a round in flight. */
  stop(): Promise<void> {
    return this.jobs.stop();
  }

  /** One round of probes (also run by the job); overlapping rounds are skipped. */
  async probeAll(): Promise<void> {
    if (this.#probing) return;
    this.#probing = true;
    try {
      await Promise.all([...this.#state.keys()].map((id) => this.#probe(id)));
    } finally {
      this.#probing = false;
    }
  }

  async #probe(id: string): Promise<void> {
    const state = this.#state.get(id);
    if (!state) return;
    try {
      const sql =
        state.role === 'primary'
          ? 'SELECT pg_current_wal_lsn()::text AS lsn, pg_postmaster_start_time()::text AS started'
          : 'SELECT pg_last_wal_replay_lsn()::text AS lsn, pg_postmaster_start_time()::text AS started';
      const { rows } = await this.#pools
        .pool(id)
        .query<{ lsn: string | null; started: string }>(sql);
      this.#succeed(id, state, rows[0]?.lsn ?? null, rows[0]?.started ?? null);
    } catch {
      state.successes = 0;
      state.failures += 1;
      if (state.failures >= this.#options.downAfterFailureCount) state.healthy = false;
    }
  }

  #succeed(id: string, state: Mutable, lsnText: string | null, started: string | null): void {
    if (state.startedAt !== null && started !== state.startedAt) state.lsn = null;
    state.startedAt = started;
    const lsn = lsnText === null ? null : parseLsn(lsnText);
    if (lsn !== null && (state.lsn === null || lsn > state.lsn)) state.lsn = lsn;
    const firstSight = state.observedAt === 0;
    state.observedAt = Date.now();
    state.failures = 0;
    state.successes += 1;
    // Hysteresis guards changes of state; a server's very first answer makes it healthy.
    if (firstSight || state.successes >= this.#options.upAfterSuccessCount) state.healthy = true;
    if (state.role === 'primary' && lsn !== null) this.#remember(id, lsn, state.observedAt);
  }

  #remember(primary: string, lsn: bigint, at: number): void {
    const history = this.#history.get(primary) ?? [];
    const last = history.at(-1);
    if (!last || last.lsn !== lsn) history.push({ at, lsn });
    while (
      history.length > HISTORY_SAMPLE_COUNT_MAX ||
      (history[0] && at - history[0].at > this.#options.historyMsMax)
    ) {
      history.shift();
    }
    this.#history.set(primary, history);
  }

  /** What is known about a server now. */
  observe(id: string): ServerObservation {
    const state = this.#state.get(id);
    if (!state)
      return {
        healthy: false,
        lsn: null,
        observedAt: 0,
        lagBytes: null,
        lagMs: Number.POSITIVE_INFINITY,
      };
    if (state.role === 'primary' || state.upstream === null) {
      return {
        healthy: state.healthy,
        lsn: state.lsn,
        observedAt: state.observedAt,
        lagBytes: null,
        lagMs: 0,
      };
    }
    const primary = this.#state.get(state.upstream);
    const { lagBytes, lagMs } = this.#lag(state, primary, state.upstream);
    return {
      healthy: state.healthy,
      lsn: state.lsn,
      observedAt: state.observedAt,
      lagBytes,
      lagMs,
    };
  }

  #lag(replica: Mutable, primary: Mutable | undefined, primaryId: string) {
    const unknown = { lagBytes: null, lagMs: Number.POSITIVE_INFINITY };
    if (!replica.healthy || replica.lsn === null || !primary?.healthy || primary.lsn === null)
      return unknown;
    const lagBytes = Number(primary.lsn > replica.lsn ? primary.lsn - replica.lsn : 0n);
    if (lagBytes === 0) return { lagBytes, lagMs: 0 };
    // The first time the primary was seen past the replica's position: the replica has been
    // missing that change for at least this long.
    const first = (this.#history.get(primaryId) ?? []).find(
      (sample) => sample.lsn > (replica.lsn as bigint),
    );
    return {
      lagBytes,
      lagMs: first ? Math.max(0, Date.now() - first.at) : Number.POSITIVE_INFINITY,
    };
  }

  /**
   * Waits until a replica has replayed `lsn`, polling it directly, for at most `timeoutMs`.
   * Returns whether it got there.
   */
  async waitForReplay(id: string, lsn: bigint, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const state = this.#state.get(id);
      if (!state) return false;
      if (state.lsn !== null && state.lsn >= lsn) return true;
      if (Date.now() >= deadline) return false;
      await this.#probe(id);
      if (state.lsn !== null && state.lsn >= lsn) return true;
      await sleep(this.#options.waitPollMs);
    }
  }

  /** Stops probing and closes the probe connections. */
  async close(): Promise<void> {
    await this.stop();
    await this.#pools.closeAll();
  }
}
