import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { CATALOG_MIGRATIONS } from '../catalog/catalog-migrations.ts';
import type { CatalogSnapshot, CatalogStore } from '../catalog/catalog-store.ts';
import { PostgresCatalogStore } from '../catalog/postgres-catalog-store.ts';
import { primaryOf } from '../catalog/primary-of.ts';
import type { MainstayConfig, ServerSpec } from '../config/load-config.ts';
import { MainstayError } from '../errors/mainstay-error.ts';
import type { MigrationSet } from '../migrations/migration.ts';
import { ConnectionPools } from '../postgres/connection-pools.ts';
import { addedSpecs } from './added-servers.ts';
import { catalogSeed } from './catalog-seed.ts';
import { prepareManagedHome } from './fleet-home.ts';
import { acquireLock, releaseLock } from './fleet-lock.ts';
import { type AddedServer, type FleetState, writeFleetState } from './fleet-state.ts';
import type { LostTailOutcome } from './lost-tail.ts';
import type { OsIdentity } from './os-user.ts';
import { PlannedOperations } from './planned-operations.ts';
import { assertPortFree } from './ports.ts';
import type { PostgresBinaries } from './postgres-binaries.ts';
import { type ConnectionInfo, type PostgresServer, stopOrphan } from './postgres-server.ts';
import { initDataDir, isStandbyDir, SUPERUSER, serverConninfo } from './server-files.ts';
import { ensureDatabase, subscriptionName } from './shard-replication.ts';
import { connectShardCopies, migrateDatabase, setUpShardDatabases } from './shard-setup.ts';
import { retryOnConnectionLoss } from './start-retry.ts';
import { SupervisedServers } from './supervised-servers.ts';
import { healthFromTopology, probeTopology } from './topology-probe.ts';
import type { HealthReport, TopologySnapshot, TopologySource } from './topology-snapshot.ts';

export const CATALOG_DATABASE = 'mainstay_catalog';
export const REPLICATION_WAIT_MS = 60_000;
const REPLICATION_POLL_MS = 100;

export interface FleetOptions {
  readonly config: MainstayConfig;
  /** Schema of every shard database, applied alike to a shard's home and its copy. */
  readonly shardMigrations: readonly MigrationSet[];
  /** Further schema of the catalog database (the hosted modules' own), after the catalog's. */
  readonly catalogMigrations?: readonly MigrationSet[];
  /** Told each step as the fleet comes up, for a progress display. */
  readonly onProgress?: (step: string) => void;
  /** Told when a server dies without being asked to stop. */
  readonly onServerExit?: (serverId: string, detail: string) => void;
}

/**
 * The PostgreSQL fleet of one Mainstay home: provisions it on first `up()`, restarts it on the
 * next, supervises the servers it runs (embedded or system binaries), or attaches to external
 * ones. It answers `topology()` and `health()` by probing the servers themselves.
 */
export class Fleet
  extends EventEmitter<{ serverExit: [serverId: string, detail: string] }>
  implements TopologySource
{
  readonly config: MainstayConfig;
  readonly pools: ConnectionPools;
  /** Planned operations in progress: the failover controller leaves their servers alone. */
  readonly planned = new PlannedOperations();
  readonly #options: FleetOptions;
  readonly #servers: SupervisedServers;
  #state: FleetState | null = null;
  #catalog: PostgresCatalogStore | null = null;
  /** The catalog as last read: the current roles, which may differ from the config's. */
  #snapshot: CatalogSnapshot | null = null;
  #locked = false;
  #runtime: { readonly binaries: PostgresBinaries; readonly identity: OsIdentity } | null = null;

  constructor(options: FleetOptions) {
    super();
    this.#options = options;
    this.config = options.config;
    // The fleet's own sessions write where clients may not: a copy that was a DC switchover's
    // old home defaults to read-only (decision 59), and migrations and copy checks run there.
    this.pools = new ConnectionPools(
      (id) => this.connection(id),
      undefined,
      undefined,
      '-c default_transaction_read_only=off',
    );
    const fleet = this;
    this.#servers = new SupervisedServers({
      config: this.config,
      get specs() {
        return fleet.specs;
      },
      isConfigured: (id) => this.isConfigured(id),
      pools: this.pools,
      connection: (id) => this.connection(id),
      snapshot: () => this.#snapshot,
      onUnexpectedExit: (serverId, detail) => {
        this.#options.onServerExit?.(serverId, detail);
        this.emit('serverExit', serverId, detail);
      },
    });
  }

  /**
   * Every server of the topology: witness first, then each DC's primary and replica, then the
   * servers added since (added-servers.ts).
   */
  get specs(): readonly ServerSpec[] {
    const { witness, dataCentres } = this.config;
    const configured = [witness, ...dataCentres.flatMap((dc) => [dc.primary, dc.replica])];
    return [...configured, ...addedSpecs(this.config, this.added)];
  }

  /** Whether `id` is one of the configuration's servers (not one added beyond it). */
  isConfigured(id: string): boolean {
    const { witness, dataCentres } = this.config;
    return (
      id === witness.id || dataCentres.some((dc) => [dc.primary.id, dc.replica.id].includes(id))
    );
  }

  /** The servers added beyond the configuration, by id. */
  get added(): Readonly<Record<string, AddedServer>> {
    return this.#state?.added ?? {};
  }

  /**
   * Records an added server in the fleet state (`fleet.json`), so `down` and `up` stop and
   * start it, and supervises it; `entry` `null` forgets one (stopped and deleted already).
   */
  recordAdded(id: string, entry: AddedServer | null, port?: number): void {
    const state = this.#requireState();
    const { [id]: _server, ...added } = state.added ?? {};
    const { [id]: _port, ...ports } = state.ports;
    const next: FleetState = entry
      ? {
          ...state,
          added: { ...added, [id]: entry },
          ports: { ...ports, [id]: port ?? state.ports[id] ?? 0 },
        }
      : { ...state, added, ports };
    writeFleetState(this.config.home, next);
    this.#state = next;
    const spec = this.specs.find((candidate) => candidate.id === id);
    if (spec) this.#servers.adopt(spec);
    else this.#servers.forget(id);
  }

  get catalog(): CatalogStore {
    if (!this.#catalog) throw new MainstayError('catalog_unavailable', 'the fleet is not up');
    return this.#catalog;
  }

  /** The supervised process of a server (absent for external servers). */
  server(id: string): PostgresServer | undefined {
    return this.#servers.get(id);
  }

  /** Schema of every shard database, for a workflow that creates one (a re-seed). */
  get shardMigrations(): readonly MigrationSet[] {
    return this.#options.shardMigrations;
  }

  /**
   * The binaries and OS identity the managed servers run with, for a server the fleet does not
   * supervise (a restored backup); `null` for external servers or before `up()`.
   */
  get runtime(): { readonly binaries: PostgresBinaries; readonly identity: OsIdentity } | null {
    return this.#runtime;
  }

  get isExternal(): boolean {
    return this.config.postgres.source === 'external';
  }

  /** How to reach a server as the Mainstay superuser. */
  connection(id: string): ConnectionInfo {
    const spec = this.#spec(id);
    if (spec.external) {
      const { host, port, user, password } = spec.external;
      return { host, port, user, password: password ?? '' };
    }
    const state = this.#requireState();
    const port = state.ports[id];
    if (port === undefined) throw new Error(`no port recorded for server ${id}`);
    return { host: '127.0.0.1', port, user: SUPERUSER, password: state.password };
  }

  /** Provisions the fleet on first run, else restarts it; then migrates every database. */
  async up(): Promise<void> {
    const home = this.config.home;
    mkdirSync(home, { recursive: true });
    acquireLock(home);
    this.#locked = true;
    try {
      if (this.isExternal) await this.#attach();
      else await this.#upManaged();
    } catch (error) {
      await this.down();
      throw error;
    }
  }

  async #upManaged(): Promise<void> {
    const { identity, binaries, state, fresh } = await prepareManagedHome(
      this.config,
      this.specs,
      (step) => this.#progress(step),
    );
    this.#state = state;
    this.#runtime = { binaries, identity };
    this.#servers.supervise(binaries, identity);
    if (fresh) await this.#provision(binaries, identity);
    else await this.#restart();
    await this.#waitForReplication();
    if (fresh) {
      this.#state = { ...state, provisionedAt: new Date().toISOString() };
      writeFleetState(this.config.home, this.#state);
    }
  }

  async #provision(binaries: PostgresBinaries, identity: OsIdentity): Promise<void> {
    const { witness, dataCentres } = this.config;
    const roots = [witness, ...dataCentres.map((dc) => dc.primary)];
    await this.#checkPorts(roots);
    this.#progress('creating data directories (initdb)');
    await Promise.all(
      roots.map((spec) =>
        initDataDir({
          dataDir: this.#servers.dataDir(spec.id),
          password: this.#requireState().password,
          binaries,
          identity,
        }),
      ),
    );
    this.#progress('starting witness and primaries');
    await Promise.all(roots.map((spec) => this.startServer(spec.id)));
    await this.#setUpCatalog();
    await this.#setUpShards();
    this.#progress('building streaming replicas (backup API)');
    await this.#checkPorts(dataCentres.map((dc) => dc.replica));
    await Promise.all(dataCentres.map((dc) => this.#servers.buildReplica(dc.replica.id)));
    await Promise.all(dataCentres.map((dc) => this.startServer(dc.replica.id)));
    // Now that each primary has its standby, let logical walsenders wait for it (failover slots).
    await Promise.all(dataCentres.map((dc) => this.reconfigure(dc.primary.id)));
    await this.#retrying(() => this.connectCopies({ provisioned: true }));
  }

  /**
   * Restarts an existing fleet: the witness first, so that every other server starts in the
   * role the catalog gives it now (after a failover, not the config's). A server the catalog
   * says is a replica but whose data directory is not a standby (a fenced former primary) is
   * rebuilt from its primary rather than started, so it can never come back as a second primary.
   */
  async #restart(): Promise<void> {
    this.#progress('starting PostgreSQL servers');
    await Promise.all(this.specs.map((spec) => stopOrphan(this.#servers.dataDir(spec.id))));
    await this.#checkPorts(this.specs);
    await this.startServer(this.config.witness.id);
    await this.#setUpCatalog();
    const others = this.specs.filter((spec) => spec.role !== 'witness').map((spec) => spec.id);
    const primaries = others.filter((id) => this.#servers.view(id).role === 'primary');
    await Promise.all(primaries.map((id) => this.startServer(id)));
    await Promise.all(
      others
        .filter((id) => !primaries.includes(id))
        .map((id) =>
          isStandbyDir(this.#servers.dataDir(id)) ? this.startServer(id) : this.rebuildReplica(id),
        ),
    );
    // Each primary started before its standby, so it came up without one: give it back now.
    await Promise.all(primaries.map((id) => this.reconfigure(id)));
    await this.#setUpShards();
    await this.#retrying(() => this.connectCopies());
  }

  async #attach(): Promise<void> {
    this.#progress('attaching to external PostgreSQL servers');
    await this.#setUpCatalog();
    await this.#setUpShards();
    await this.#retrying(() => this.connectCopies());
    await this.#waitForReplication();
  }

  async #checkPorts(specs: readonly ServerSpec[]): Promise<void> {
    for (const spec of specs) {
      const port = this.connection(spec.id).port;
      await assertPortFree(port, `PostgreSQL server ${spec.id}`);
    }
  }

  /** Starts a supervised server in the role the catalog gives it. */
  async startServer(id: string): Promise<void> {
    await this.#servers.start(id);
  }

  /**
   * Rewrites a running server's settings from the catalog and reloads them (no restart): how
   * a primary stops waiting for a dead synchronous standby, and starts again once it is back.
   */
  async reconfigure(id: string): Promise<void> {
    await this.#servers.reconfigure(id);
  }

  /**
   * Records whether a replica is usable as its primary's synchronous standby, and applies it,
   * after giving a returning replica bounded time to stream ({@link SupervisedServers}).
   */
  async setStandbyHealthy(replicaId: string, healthy: boolean): Promise<void> {
    await this.#servers.setStandbyHealthy(replicaId, healthy);
  }

  /** Re-reads the catalog, which the failover controller changes. */
  async refreshCatalog(): Promise<CatalogSnapshot | null> {
    this.#snapshot = await this.catalog.load();
    return this.#snapshot;
  }

  /** The catalog as last read (by the fleet itself or {@link Fleet.refreshCatalog}). */
  get catalogSnapshot(): CatalogSnapshot | null {
    return this.#snapshot;
  }

  /** Promotes a replica to primary and waits until it accepts writes. */
  async promote(id: string): Promise<void> {
    await this.#servers.promote(id);
  }

  /**
   * Shoots a server: SIGKILL to its whole process group, so no backend of a fenced primary can
   * commit again. Its exit is reported as intended.
   */
  async kill(id: string): Promise<void> {
    await this.#servers.kill(id);
  }

  /**
   * Makes `id` a fresh replica of the primary the catalog names as its upstream: stops it,
   * deletes its data directory, copies the primary with the backup API, starts it streaming.
   */
  async rebuildReplica(id: string): Promise<void> {
    await this.#servers.rebuildReplica(id);
  }

  /** A start-up step, tried again while the servers it reaches drop or time out connections. */
  #retrying<T>(step: () => Promise<T>): Promise<T> {
    return retryOnConnectionLoss(step, (why) => this.#progress(`retrying after: ${why}`));
  }

  async #setUpCatalog(): Promise<void> {
    this.#progress('migrating the catalog');
    await this.#retrying(() => this.#migrateCatalog());
  }

  async #migrateCatalog(): Promise<void> {
    const witness = this.config.witness.id;
    await ensureDatabase(this.pools.pool(witness), CATALOG_DATABASE);
    const pool = this.pools.pool(witness, CATALOG_DATABASE);
    await migrateDatabase(pool, [CATALOG_MIGRATIONS, ...(this.#options.catalogMigrations ?? [])]);
    this.#catalog = new PostgresCatalogStore(pool);
    const seed = catalogSeed(this.config, this.specs, (id) => this.connection(id));
    await this.#catalog.initialize(seed);
    await this.#catalog.updateDeclared(seed);
    this.#snapshot = await this.#catalog.load();
  }

  /** Creates and migrates every shard database on both primaries; publishes it at home. */
  async #setUpShards(): Promise<void> {
    this.#progress('migrating shard databases');
    await this.#retrying(async () =>
      setUpShardDatabases({
        catalog: await this.catalog.load(),
        dataCentres: this.config.dataCentres,
        pools: this.pools,
        migrations: this.#options.shardMigrations,
      }),
    );
  }

  /**
   * Reads what `oldPrimary` wrote past the point where `promoted` took over, from its own WAL
   * (lost-tail.ts), before its data directory is rebuilt. It must be stopped (shot) already.
   */
  async measureLostTail(oldPrimary: string, promoted: string): Promise<LostTailOutcome> {
    const taken = new Set(Object.values(this.#state?.ports ?? {}));
    return this.#servers.measureLostTail(oldPrimary, promoted, taken);
  }

  /**
   * Creates each shard's subscription on the other DC's primary, or points it at the home's
   * current primary, per the catalog. After a promotion in `promotedIn`: frees the slots the
   * dead server's copies held on the other DC, and re-seeds any copy whose slot did not reach
   * the promoted server (its position is lost, so resuming would skip changes). `handedOver`:
   * the promotion was a planned switchover's clean handover (see connectShardCopies).
   */
  async connectCopies(
    options: {
      readonly promotedIn?: string;
      readonly handedOver?: boolean;
      readonly provisioned?: boolean;
    } = {},
  ): Promise<{ reseeded: number[] }> {
    this.#progress('connecting logical copies of shards');
    const reseeded = await connectShardCopies({
      catalog: await this.catalog.load(),
      pools: this.pools,
      promotedIn: options.promotedIn,
      handedOver: options.handedOver,
      provisioned: options.provisioned,
      publisherConninfo: (home, database) => this.publisherConninfo(home, database),
    });
    return { reseeded };
  }

  /**
   * How a shard copy's subscription reaches the home primary `homeServer`: the one string every
   * subscription of `database` carries, so re-pointing finds nothing to change when it matches.
   */
  publisherConninfo(homeServer: string, database: string): string {
    return this.#conninfo(this.connection(homeServer), {
      dbname: database,
      application_name: subscriptionName(database),
    });
  }

  /** Waits (bounded) until every replica streams and every shard copy finished its first sync. */
  async #waitForReplication(): Promise<void> {
    this.#progress('waiting for replication to stream');
    const deadline = Date.now() + REPLICATION_WAIT_MS;
    while (Date.now() < deadline) {
      const health = await this.health();
      const pending = health.components.filter((component) => !component.ready);
      if (pending.length === 0) return;
      await sleep(REPLICATION_POLL_MS);
    }
    const health = await this.health();
    const pending = health.components
      .filter((component) => !component.ready)
      .map((c) => `${c.name}: ${c.detail}`);
    this.#progress(`replication not ready after ${REPLICATION_WAIT_MS} ms: ${pending.join('; ')}`);
  }

  /**
   * A pool on a shard's database at its home primary (`home`) or at the other DC's primary,
   * which holds the logical copy (`copy`), as the catalog says now.
   */
  async shardPool(shardId: number, side: 'home' | 'copy'): Promise<import('pg').Pool> {
    const catalog = await this.catalog.load();
    const shard = catalog?.shards.find((candidate) => candidate.id === shardId);
    if (!catalog || !shard) throw new RangeError(`no shard ${shardId} in the catalog`);
    const server = primaryOf(catalog, side === 'home' ? shard.homeDc : shard.copyDc);
    if (!server) throw new MainstayError('service_unavailable', `no primary for shard ${shardId}`);
    return this.pools.pool(server, shard.database);
  }

  async topology(): Promise<TopologySnapshot> {
    let catalog: CatalogSnapshot | null = null;
    try {
      catalog = this.#catalog ? await this.#catalog.load() : null;
    } catch {
      catalog = null;
    }
    return probeTopology({
      config: this.config,
      catalog,
      pools: this.pools,
      servers: this.#servers.all,
    });
  }

  async health(): Promise<HealthReport> {
    return healthFromTopology(await this.topology());
  }

  /** Stops every server this fleet runs (replicas and copies first) and releases the home. */
  async down(): Promise<void> {
    await this.pools.closeAll();
    this.#catalog = null;
    // Replicas (by their current role, which a failover may have swapped) stop first.
    await this.#servers.stopAll();
    if (this.#locked) releaseLock(this.config.home);
    this.#locked = false;
  }

  #conninfo(target: ConnectionInfo, extra: Record<string, string>): string {
    return serverConninfo(target, { external: this.isExternal, home: this.config.home }, extra);
  }

  #spec(id: string): ServerSpec {
    const spec = this.specs.find((candidate) => candidate.id === id);
    if (!spec) throw new Error(`unknown server ${id}`);
    return spec;
  }

  #requireState(): FleetState {
    if (!this.#state) throw new Error('fleet state not loaded');
    return this.#state;
  }

  #progress(step: string): void {
    this.#options.onProgress?.(step);
  }
}
