import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CATALOG_MIGRATIONS } from '../catalog/catalog-migrations.ts';
import type { CatalogSeed, CatalogSnapshot, CatalogStore } from '../catalog/catalog-store.ts';
import { PostgresCatalogStore } from '../catalog/postgres-catalog-store.ts';
import type { MainstayConfig, ServerSpec } from '../config/load-config.ts';
import { ConnectionPools } from '../data/connection-pools.ts';
import { primaryOf } from '../data/shard-map.ts';
import { MainstayError } from '../errors/mainstay-error.ts';
import { type MigrationSet, migrate } from '../migrations/migration.ts';
import { acquireLock, releaseLock } from './fleet-lock.ts';
import { type FleetState, newFleetState, readFleetState, writeFleetState } from './fleet-state.ts';
import { ensureTraversable, giveTo, type OsIdentity, postgresIdentity } from './os-user.ts';
import { assertPortFree, pickFreePorts } from './ports.ts';
import { type PostgresBinaries, resolvePostgresBinaries } from './postgres-binaries.ts';
import { type ConnectionInfo, PostgresServer, stopOrphan } from './postgres-server.ts';
import { buildReplicaDataDir } from './replica-builder.ts';
import { conninfo, initDataDir, SUPERUSER, writeSettings } from './server-files.ts';
import {
  ensureDatabase,
  ensurePublication,
  ensureSubscription,
  subscriptionName,
} from './shard-replication.ts';
import { healthFromTopology, probeTopology } from './topology-probe.ts';
import type { HealthReport, TopologySnapshot, TopologySource } from './topology-snapshot.ts';

export const CATALOG_DATABASE = 'mainstay_catalog';
export const REPLICATION_WAIT_MS = 60_000;
const REPLICATION_POLL_MS = 100;

export interface FleetOptions {
  readonly config: MainstayConfig;
  /** Schema of every shard database, applied alike to a shard's home and its copy. */
  readonly shardMigrations: readonly MigrationSet[];
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
export class Fleet implements TopologySource {
  readonly config: MainstayConfig;
  readonly pools: ConnectionPools;
  readonly #options: FleetOptions;
  readonly #servers = new Map<string, PostgresServer>();
  #state: FleetState | null = null;
  #catalog: PostgresCatalogStore | null = null;
  #locked = false;

  constructor(options: FleetOptions) {
    this.#options = options;
    this.config = options.config;
    this.pools = new ConnectionPools((id) => this.connection(id));
  }

  /** Every server of the topology: witness first, then each DC's primary and replica. */
  get specs(): readonly ServerSpec[] {
    const { witness, dataCentres } = this.config;
    return [witness, ...dataCentres.flatMap((dc) => [dc.primary, dc.replica])];
  }

  get catalog(): CatalogStore {
    if (!this.#catalog) throw new MainstayError('catalog_unavailable', 'the fleet is not up');
    return this.#catalog;
  }

  /** The supervised process of a server (absent for external servers). */
  server(id: string): PostgresServer | undefined {
    return this.#servers.get(id);
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
    const home = this.config.home;
    this.#progress('locating PostgreSQL binaries');
    const binaries = await resolvePostgresBinaries(this.config.postgres.binDir);
    const identity = await postgresIdentity();
    ensureTraversable(home, identity);
    let state = readFleetState(home);
    if (state && state.postgresMajor !== binaries.majorVersion) {
      throw new MainstayError(
        'postgres_version_mismatch',
        `the fleet in ${home} was created with PostgreSQL ${state.postgresMajor}, but the binaries ` +
          `in ${binaries.binDir} are PostgreSQL ${binaries.majorVersion}`,
      );
    }
    const fresh = state?.provisionedAt == null;
    if (!state || fresh) {
      rmSync(path.join(home, 'servers'), { recursive: true, force: true });
      state = newFleetState(binaries.majorVersion, await this.#allocatePorts());
      writeFleetState(home, state);
    }
    this.#state = state;
    mkdirSync(path.join(home, 'servers'), { recursive: true, mode: 0o755 });
    mkdirSync(path.join(home, 'logs'), { recursive: true });
    this.#writePassFile(identity);
    for (const spec of this.specs)
      this.#servers.set(spec.id, this.#makeServer(spec, binaries, identity));
    if (fresh) await this.#provision(binaries, identity);
    else await this.#restart();
    await this.#waitForReplication();
    if (fresh) writeFleetState(home, { ...state, provisionedAt: new Date().toISOString() });
  }

  async #allocatePorts(): Promise<Record<string, number>> {
    const fixed = this.specs.filter((spec) => spec.port !== null);
    const taken = new Set(fixed.map((spec) => spec.port as number));
    const free = await pickFreePorts(this.specs.length - fixed.length, taken);
    const ports: Record<string, number> = {};
    for (const spec of this.specs) ports[spec.id] = spec.port ?? (free.shift() as number);
    return ports;
  }

  async #provision(binaries: PostgresBinaries, identity: OsIdentity): Promise<void> {
    const { witness, dataCentres } = this.config;
    const roots = [witness, ...dataCentres.map((dc) => dc.primary)];
    await this.#checkPorts(roots);
    this.#progress('creating data directories (initdb)');
    await Promise.all(
      roots.map((spec) =>
        initDataDir({
          dataDir: this.#dataDir(spec.id),
          password: this.#requireState().password,
          binaries,
          identity,
        }),
      ),
    );
    this.#progress('starting witness and primaries');
    await Promise.all(roots.map((spec) => this.#startServer(spec)));
    await this.#setUpCatalog();
    await this.#setUpShards();
    this.#progress('building streaming replicas (backup API)');
    await Promise.all(dataCentres.map((dc) => this.#buildReplica(dc.replica, identity)));
    await this.#checkPorts(dataCentres.map((dc) => dc.replica));
    await Promise.all(dataCentres.map((dc) => this.#startServer(dc.replica)));
    await this.#setUpSubscriptions();
  }

  async #restart(): Promise<void> {
    this.#progress('starting PostgreSQL servers');
    await Promise.all(this.specs.map((spec) => stopOrphan(this.#dataDir(spec.id))));
    await this.#checkPorts(this.specs);
    await Promise.all(this.specs.map((spec) => this.#startServer(spec)));
    await this.#setUpCatalog();
    await this.#setUpShards();
    await this.#setUpSubscriptions();
  }

  async #attach(): Promise<void> {
    this.#progress('attaching to external PostgreSQL servers');
    await this.#setUpCatalog();
    await this.#setUpShards();
    await this.#setUpSubscriptions();
    await this.#waitForReplication();
  }

  async #checkPorts(specs: readonly ServerSpec[]): Promise<void> {
    for (const spec of specs) {
      const port = this.connection(spec.id).port;
      await assertPortFree(port, `PostgreSQL server ${spec.id}`);
    }
  }

  #makeServer(spec: ServerSpec, binaries: PostgresBinaries, identity: OsIdentity): PostgresServer {
    const server = new PostgresServer({
      id: spec.id,
      dataDir: this.#dataDir(spec.id),
      logFile: path.join(this.config.home, 'logs', `${spec.id}.log`),
      connection: this.connection(spec.id),
      binaries,
      identity,
    });
    server.on('exit', (code, signal, expected) => {
      if (expected) return;
      void this.pools.closeServer(spec.id);
      this.#options.onServerExit?.(spec.id, `exited unexpectedly (${signal ?? `code ${code}`})`);
    });
    return server;
  }

  async #startServer(spec: ServerSpec): Promise<void> {
    const server = this.#servers.get(spec.id);
    if (!server) return;
    const dc = this.config.dataCentres.find((candidate) => candidate.id === spec.dc);
    const sync = dc?.synchronousCommit ?? 'local';
    const synchronous = spec.role === 'primary' && !['off', 'local'].includes(sync);
    writeSettings(server.dataDir, {
      id: spec.id,
      host: '127.0.0.1',
      port: server.connection.port,
      synchronousCommit: sync,
      synchronousStandby: synchronous && dc ? dc.replica.id : null,
      upstream: spec.upstream ? this.#upstreamOf(spec) : null,
      extra: this.config.postgres.settings,
    });
    await server.start();
  }

  #upstreamOf(spec: ServerSpec): { conninfo: string; slot: string } {
    const upstream = this.connection(spec.upstream as string);
    return {
      conninfo: this.#conninfo(upstream, { application_name: spec.id }),
      slot: slotName(spec.id),
    };
  }

  async #buildReplica(spec: ServerSpec, identity: OsIdentity): Promise<void> {
    const upstream = spec.upstream as string;
    const serverDir = path.dirname(this.#dataDir(spec.id));
    mkdirSync(serverDir, { recursive: true, mode: 0o700 });
    giveTo(serverDir, identity);
    await buildReplicaDataDir({
      primary: this.connection(upstream),
      primaryDataDir: this.#dataDir(upstream),
      replicaDataDir: this.#dataDir(spec.id),
      slot: slotName(spec.id),
      identity,
    });
  }

  async #setUpCatalog(): Promise<void> {
    this.#progress('migrating the catalog');
    const witness = this.config.witness.id;
    await ensureDatabase(this.pools.pool(witness), CATALOG_DATABASE);
    const pool = this.pools.pool(witness, CATALOG_DATABASE);
    await withClient(pool, (client) => migrate(client, [CATALOG_MIGRATIONS]));
    this.#catalog = new PostgresCatalogStore(pool);
    const seed = this.#catalogSeed();
    await this.#catalog.initialize(seed);
    await this.#catalog.updateDeclared(seed);
  }

  #catalogSeed(): CatalogSeed {
    return {
      bucketCount: this.config.bucketCount,
      dataCentres: this.config.dataCentres.map((dc) => ({
        id: dc.id,
        synchronousCommit: dc.synchronousCommit,
      })),
      servers: this.specs.map((spec) => ({
        id: spec.id,
        dc: spec.dc,
        role: spec.role,
        upstream: spec.upstream,
        ...pick(this.connection(spec.id)),
      })),
      shards: this.config.shards.map(({ id, database, homeDc, copyDc }) => ({
        id,
        database,
        homeDc,
        copyDc,
      })),
      buckets: this.config.shards.map((shard) => ({
        shardId: shard.id,
        first: shard.buckets[0],
        last: shard.buckets[1],
      })),
    };
  }

  /** Creates and migrates every shard database on both primaries; publishes it at home. */
  async #setUpShards(): Promise<void> {
    this.#progress('migrating shard databases');
    const catalog = await this.catalog.load();
    const jobs = this.config.dataCentres.map(async (dc) => {
      const primary = (catalog && primaryOf(catalog, dc.id)) ?? dc.primary.id;
      const admin = this.pools.pool(primary);
      for (const shard of catalog?.shards ?? []) await ensureDatabase(admin, shard.database);
      await Promise.all(
        (catalog?.shards ?? []).map(async (shard) => {
          const pool = this.pools.pool(primary, shard.database);
          await withClient(pool, (client) => migrate(client, this.#options.shardMigrations));
          if (shard.homeDc === dc.id) await ensurePublication(pool);
        }),
      );
    });
    await Promise.all(jobs);
  }

  async #setUpSubscriptions(): Promise<void> {
    this.#progress('connecting logical copies of shards');
    const catalog = await this.catalog.load();
    for (const shard of catalog?.shards ?? []) {
      const home = catalog && primaryOf(catalog, shard.homeDc);
      const copy = catalog && primaryOf(catalog, shard.copyDc);
      if (!home || !copy) continue;
      const publisher = this.#conninfo(this.connection(home), {
        dbname: shard.database,
        application_name: subscriptionName(shard.database),
      });
      await ensureSubscription(this.pools.pool(copy, shard.database), shard.database, publisher);
    }
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
      servers: this.#servers,
    });
  }

  async health(): Promise<HealthReport> {
    return healthFromTopology(await this.topology());
  }

  /** Stops every server this fleet runs (replicas and copies first) and releases the home. */
  async down(): Promise<void> {
    await this.pools.closeAll();
    this.#catalog = null;
    const servers = [...this.#servers.values()];
    await Promise.all(servers.filter((s) => s.id.endsWith('-b')).map((s) => s.stop()));
    await Promise.all(servers.map((server) => server.stop()));
    if (this.#locked) releaseLock(this.config.home);
    this.#locked = false;
  }

  #writePassFile(identity: OsIdentity): void {
    const file = this.#passFile();
    writeFileSync(file, `*:*:*:${SUPERUSER}:${this.#requireState().password}\n`, { mode: 0o600 });
    giveTo(file, identity);
  }

  #passFile(): string {
    return path.join(this.config.home, 'servers', 'pgpass');
  }

  #conninfo(target: ConnectionInfo, extra: Record<string, string>): string {
    const secret: Record<string, string> = this.isExternal
      ? { password: target.password }
      : { passfile: this.#passFile() };
    return conninfo({
      host: target.host,
      port: target.port,
      user: target.user,
      ...secret,
      ...extra,
    });
  }

  #dataDir(id: string): string {
    return path.join(this.config.home, 'servers', id, 'data');
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

  /** Whether this home holds a provisioned fleet already. */
  static isProvisioned(home: string): boolean {
    return existsSync(path.join(home, 'fleet.json')) && readFleetState(home)?.provisionedAt != null;
  }
}

/** Physical replication slot name for a replica (slot names allow only [a-z0-9_]). */
export function slotName(serverId: string): string {
  return serverId.replaceAll(/[^a-z0-9_]/g, '_');
}

function pick(connection: ConnectionInfo): { host: string; port: number } {
  return { host: connection.host, port: connection.port };
}

async function withClient<T>(
  pool: import('pg').Pool,
  work: (client: import('pg').PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  try {
    return await work(client);
  } finally {
    client.release();
  }
}
