import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CatalogSnapshot } from '../catalog/catalog-store.ts';
import type { MainstayConfig, ServerSpec } from '../config/load-config.ts';
import type { ConnectionPools } from '../postgres/connection-pools.ts';
import { type LostTailOutcome, measureLostTail } from './lost-tail.ts';
import { giveTo, type OsIdentity } from './os-user.ts';
import { pickFreePorts } from './ports.ts';
import type { PostgresBinaries } from './postgres-binaries.ts';
import { type ConnectionInfo, PostgresServer } from './postgres-server.ts';
import { buildReplicaDataDir } from './replica-builder.ts';
import {
  type ServerSettings,
  serverConninfo,
  serverDataDir,
  writeSettings,
} from './server-files.ts';
import { type ServerView, settingsForServer, viewOf } from './server-view.ts';

const REPLICATION_POLL_MS = 100;
/** How long a promotion may take to end recovery: what `pg_promote` waits by default. */
const PROMOTION_WAIT_MS = 60_000;
const PROMOTION_POLL_MS = 20;
/** How long a returning standby may take to stream before its primary waits for it anyway. */
const STANDBY_STREAMING_WAIT_MS = 30_000;

/** What the supervised servers need of their fleet. */
export interface SupervisionContext {
  readonly config: MainstayConfig;
  /** Every server of the topology: the configuration's, then those added since. */
  readonly specs: readonly ServerSpec[];
  /** Whether a server is one of the configuration's (not added beyond it). */
  isConfigured(id: string): boolean;
  readonly pools: ConnectionPools;
  /** How to reach a server as the Mainstay superuser. */
  connection(id: string): ConnectionInfo;
  /** The catalog as last read, or `null` before it exists: the current roles. */
  snapshot(): CatalogSnapshot | null;
  /** Told when a server dies without being asked to stop. */
  onUnexpectedExit(serverId: string, detail: string): void;
}

/**
 * The PostgreSQL processes a managed fleet runs, each in the role the catalog gives it now:
 * started with settings written from the catalog, reconfigured in place when a standby comes
 * and goes, promoted, shot (fenced), rebuilt as a fresh replica. External servers have no
 * entry here: Mainstay does not run them.
 */
export class SupervisedServers {
  readonly #context: SupervisionContext;
  readonly #servers = new Map<string, PostgresServer>();
  /** Replicas known to be down: their primary must not wait for them. */
  readonly #standbysDown = new Set<string>();
  #binaries: PostgresBinaries | null = null;
  #identity: OsIdentity | null = null;

  constructor(context: SupervisionContext) {
    this.#context = context;
  }

  /** Supervised processes by server id (none for external servers). */
  get all(): ReadonlyMap<string, PostgresServer> {
    return this.#servers;
  }

  /** The supervised process of a server (absent for external servers). */
  get(id: string): PostgresServer | undefined {
    return this.#servers.get(id);
  }

  /** Makes (does not start) the process of every server, run with `binaries` as `identity`. */
  supervise(binaries: PostgresBinaries, identity: OsIdentity): void {
    this.#binaries = binaries;
    this.#identity = identity;
    for (const spec of this.#context.specs) this.#servers.set(spec.id, this.#make(spec));
  }

  /** Makes (does not start) the process of a server added after {@link supervise}. */
  adopt(spec: ServerSpec): void {
    if (!this.#servers.has(spec.id)) this.#servers.set(spec.id, this.#make(spec));
  }

  /** Drops a removed server's process, which must be stopped already. */
  forget(id: string): void {
    this.#servers.delete(id);
    this.#standbysDown.delete(id);
  }

  /** The data directory of a server in this home. */
  dataDir(id: string): string {
    return serverDataDir(this.#context.config.home, id);
  }

  /** A server's role and upstream as the catalog says now (the config's before it exists). */
  view(id: string): ServerView {
    const spec = this.#context.specs.find((candidate) => candidate.id === id);
    if (!spec) throw new Error(`unknown server ${id}`);
    return viewOf(id, this.#context.snapshot(), spec);
  }

  /** Starts a supervised server in the role the catalog gives it. */
  async start(id: string): Promise<void> {
    const server = this.#servers.get(id);
    if (!server) return;
    writeSettings(server.dataDir, this.settingsFor(id));
    await server.start();
  }

  /** Rewrites a running server's settings from the catalog and reloads them (no restart). */
  async reconfigure(id: string): Promise<void> {
    const server = this.#servers.get(id);
    if (server?.state !== 'up') return;
    writeSettings(server.dataDir, this.settingsFor(id));
    await this.#context.pools.pool(id).query('SELECT pg_reload_conf()');
  }

  /**
   * Records whether a replica is usable as its primary's synchronous standby, and applies it. A
   * replica coming back is first given time (bounded) to catch up and stream: PostgreSQL does
   * not count a standby in catch-up as synchronous, so naming it earlier would hold every commit
   * until it caught up.
   */
  async setStandbyHealthy(replicaId: string, healthy: boolean): Promise<void> {
    const upstream = this.view(replicaId).upstream;
    if (healthy && upstream) await this.#waitStreaming(upstream, replicaId);
    if (healthy) this.#standbysDown.delete(replicaId);
    else this.#standbysDown.add(replicaId);
    // A primary that does not answer has bigger problems; the failover controller handles them.
    if (upstream) await this.reconfigure(upstream).catch(() => undefined);
  }

  /**
   * Promotes a replica to primary and waits until it accepts writes (it has left recovery). The
   * promotion is asked for without waiting in that query: ending recovery first replays the WAL
   * the replica received and has not applied, which under load can take longer than the pools'
   * bound on one query (3 s, so that a hung server reads as down), and pg would give up on the
   * client while the server went on promoting. Each check after it is a short query under that
   * bound, so a replica that hangs meanwhile still fails the promotion within seconds. A server
   * already out of recovery (a switchover resumed after its promotion) is left as it is.
   */
  async promote(id: string): Promise<void> {
    const pool = this.#context.pools.pool(id);
    const inRecovery = async () =>
      (await pool.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).rows[0]?.r !== false;
    if (await inRecovery()) await pool.query('SELECT pg_promote(false)');
    const deadline = Date.now() + PROMOTION_WAIT_MS;
    while (await inRecovery()) {
      if (Date.now() > deadline)
        throw new Error(`${id} was still in recovery ${PROMOTION_WAIT_MS} ms after its promotion`);
      await sleep(PROMOTION_POLL_MS);
    }
    this.#standbysDown.delete(id);
  }

  /** SIGKILL to a server's whole process group; its exit is reported as intended. */
  async kill(id: string): Promise<void> {
    const server = this.#servers.get(id);
    if (!server) return;
    server.expectExit();
    server.signalAll('SIGKILL');
    server.signalAll('SIGCONT');
    await server.stop(1_000);
    await this.#context.pools.closeServer(id);
  }

  /** Stops `id`, deletes its data directory, copies its upstream afresh and starts it. */
  async rebuildReplica(id: string): Promise<void> {
    const server = this.#servers.get(id);
    if (!server) throw new Error(`server ${id} is not supervised here`);
    await server.stop();
    await this.#context.pools.closeServer(id);
    rmSync(path.dirname(this.dataDir(id)), { recursive: true, force: true });
    await this.buildReplica(id);
    await this.start(id);
  }

  /** Copies the upstream the catalog names for `id` into its (new) data directory. */
  async buildReplica(id: string): Promise<void> {
    const identity = this.#requireIdentity();
    const upstream = this.view(id).upstream;
    if (!upstream) throw new Error(`server ${id} has no upstream to copy`);
    const serverDir = path.dirname(this.dataDir(id));
    mkdirSync(serverDir, { recursive: true, mode: 0o700 });
    giveTo(serverDir, identity);
    await buildReplicaDataDir({
      primary: this.#context.connection(upstream),
      primaryDataDir: this.dataDir(upstream),
      replicaDataDir: this.dataDir(id),
      slot: slotName(id),
      identity,
    });
  }

  /**
   * Reads what `oldPrimary` wrote past the point where `promoted` took over, from its own WAL
   * (lost-tail.ts), on a port none of `takenPorts`. It must be stopped (shot) already.
   */
  async measureLostTail(
    oldPrimary: string,
    promoted: string,
    takenPorts: ReadonlySet<number>,
  ): Promise<LostTailOutcome> {
    const server = this.#servers.get(oldPrimary);
    if (!server || !this.#binaries || !this.#identity || server.state === 'up')
      return {
        measured: false,
        reason: `${oldPrimary}'s data directory is not run by Mainstay here`,
      };
    const [port] = await pickFreePorts(1, takenPorts);
    if (port === undefined) throw new Error('no free port to read the lost tail on');
    return measureLostTail({
      server: oldPrimary,
      dataDir: server.dataDir,
      logFile: server.logFile,
      binaries: this.#binaries,
      identity: this.#identity,
      connection: { ...this.#context.connection(oldPrimary), port },
      settings: this.settingsFor(oldPrimary),
      promoted: this.#context.pools.pool(promoted),
      shardDatabases: (this.#context.snapshot()?.shards ?? []).map((shard) => shard.database),
    });
  }

  /** Stops every supervised server, replicas (by their current role) first. */
  async stopAll(): Promise<void> {
    const servers = [...this.#servers.values()];
    await Promise.all(
      servers.filter((s) => this.view(s.id).role === 'replica').map((s) => s.stop()),
    );
    await Promise.all(servers.map((server) => server.stop()));
  }

  /** The settings a server gets for its current role. */
  settingsFor(id: string): ServerSettings {
    const { config, specs } = this.#context;
    return settingsForServer(id, {
      config,
      snapshot: this.#context.snapshot(),
      specs,
      view: this.view(id),
      port: this.#context.connection(id).port,
      standbyUsable: (replicaId) =>
        !this.#standbysDown.has(replicaId) && this.#servers.get(replicaId)?.state === 'up',
      upstreamOf: (upstreamId) => this.#upstreamOf(id, upstreamId),
      slotName,
      configured: (serverId) => this.#context.isConfigured(serverId),
    });
  }

  #make(spec: ServerSpec): PostgresServer {
    const server = new PostgresServer({
      id: spec.id,
      dataDir: this.dataDir(spec.id),
      logFile: path.join(this.#context.config.home, 'logs', `${spec.id}.log`),
      connection: this.#context.connection(spec.id),
      binaries: this.#requireBinaries(),
      identity: this.#requireIdentity(),
    });
    server.on('exit', (code, signal, expected, leftoverCount) => {
      if (expected) return;
      void this.#context.pools.closeServer(spec.id);
      const leftovers = leftoverCount > 0 ? `; ${leftoverCount} processes it left were killed` : '';
      this.#context.onUnexpectedExit(
        spec.id,
        `exited unexpectedly (${signal ?? `code ${code}`})${leftovers}`,
      );
    });
    return server;
  }

  #upstreamOf(id: string, upstreamId: string): { conninfo: string; slot: string } {
    const { config } = this.#context;
    const where = { external: config.postgres.source === 'external', home: config.home };
    return {
      // dbname is needed by the slot synchronisation worker; streaming ignores it.
      conninfo: serverConninfo(this.#context.connection(upstreamId), where, {
        application_name: id,
        dbname: 'postgres',
      }),
      slot: slotName(id),
    };
  }

  async #waitStreaming(primary: string, replica: string): Promise<void> {
    const deadline = Date.now() + STANDBY_STREAMING_WAIT_MS;
    while (Date.now() < deadline) {
      const { rows } = await this.#context.pools
        .pool(primary)
        .query(
          `SELECT 1 FROM pg_stat_replication WHERE application_name = $1 AND state = 'streaming'`,
          [replica],
        )
        .catch(() => ({ rows: [] }));
      if (rows.length > 0) return;
      await sleep(REPLICATION_POLL_MS);
    }
  }

  #requireBinaries(): PostgresBinaries {
    if (!this.#binaries) throw new Error('no PostgreSQL binaries located yet');
    return this.#binaries;
  }

  #requireIdentity(): OsIdentity {
    if (!this.#identity) throw new Error('no OS identity to run PostgreSQL as yet');
    return this.#identity;
  }
}

/** Physical replication slot name for a replica (slot names allow only [a-z0-9_]). */
export function slotName(serverId: string): string {
  return serverId.replaceAll(/[^a-z0-9_]/g, '_');
}
