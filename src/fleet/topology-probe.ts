import type { CatalogServer, CatalogSnapshot } from '../catalog/catalog-store.ts';
import type { MainstayConfig } from '../config/load-config.ts';
import type { ConnectionPools } from '../postgres/connection-pools.ts';
import type { LogicalReplicationState } from '../topology/copy-state.ts';
import type { PostgresServer } from './postgres-server.ts';
import { subscriptionName } from './shard-replication.ts';
import type {
  ComponentHealth,
  HealthReport,
  ServerStatus,
  ShardStatus,
  TopologySnapshot,
} from './topology-snapshot.ts';

export interface ProbeInput {
  readonly config: MainstayConfig;
  /** The catalog, or `null` when the witness cannot be read (roles then come from the config). */
  readonly catalog: CatalogSnapshot | null;
  readonly pools: ConnectionPools;
  /** Supervised processes by server id; absent for external servers. */
  readonly servers: ReadonlyMap<string, PostgresServer>;
}

interface ServerProbe {
  readonly reachable: boolean;
  readonly lsn: string | null;
  readonly detail: string | null;
}

interface StandbyRow {
  application_name: string;
  state: string;
  lag_bytes: string | null;
  lag_ms: string | null;
}

/**
 * Probes every server in parallel (each with short timeouts, so a hung server reads as down
 * rather than stalling the answer) and assembles the topology snapshot.
 */
export async function probeTopology(input: ProbeInput): Promise<TopologySnapshot> {
  const servers = input.catalog?.servers ?? serversFromConfig(input.config);
  const probes = new Map(
    await Promise.all(servers.map(async (s) => [s.id, await probeServer(input, s)] as const)),
  );
  const standbys = new Map<string, StandbyRow>();
  await Promise.all(
    servers
      .filter((s) => s.role === 'primary' && probes.get(s.id)?.reachable)
      .map(async (s) => {
        for (const row of await queryStandbys(input.pools, s.id))
          standbys.set(row.application_name, row);
      }),
  );
  const statuses = servers.map((s) => serverStatus(input, s, probes.get(s.id), standbys.get(s.id)));
  const shards = await Promise.all(
    (input.catalog?.shards ?? []).map((shard) => probeShard(input, servers, probes, shard)),
  );
  const witness = statuses.find((s) => s.role === 'witness');
  return {
    observedAt: new Date().toISOString(),
    epoch: input.catalog?.epoch ?? null,
    catalog: { server: witness?.id ?? 'witness', state: input.catalog ? 'up' : 'down' },
    dataCentres: input.config.dataCentres.map((dc) => ({
      id: dc.id,
      synchronousCommit:
        input.catalog?.dataCentres.find((d) => d.id === dc.id)?.synchronousCommit ??
        dc.synchronousCommit,
      primary: servers.find((s) => s.dc === dc.id && s.role === 'primary')?.id ?? dc.primary.id,
      replicas: servers.filter((s) => s.dc === dc.id && s.role === 'replica').map((s) => s.id),
    })),
    servers: statuses,
    shards,
  };
}

function serversFromConfig(config: MainstayConfig): CatalogServer[] {
  const specs = [config.witness, ...config.dataCentres.flatMap((dc) => [dc.primary, dc.replica])];
  return specs.map((spec) => ({
    id: spec.id,
    dc: spec.dc,
    role: spec.role,
    host: '127.0.0.1',
    port: 0,
    upstream: spec.upstream,
    fencedAtEpoch: null,
  }));
}

async function probeServer(input: ProbeInput, server: CatalogServer): Promise<ServerProbe> {
  const supervised = input.servers.get(server.id);
  if (supervised && supervised.state !== 'up') {
    return { reachable: false, lsn: null, detail: supervised.lastExit ?? supervised.state };
  }
  try {
    const { rows } = await input.pools
      .pool(server.id)
      .query<{ lsn: string | null }>(
        `SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END::text AS lsn`,
      );
    return { reachable: true, lsn: rows[0]?.lsn ?? null, detail: null };
  } catch (error) {
    return { reachable: false, lsn: null, detail: `not answering: ${(error as Error).message}` };
  }
}

async function queryStandbys(pools: ConnectionPools, primary: string): Promise<StandbyRow[]> {
  try {
    const { rows } = await pools.pool(primary).query<StandbyRow>(
      `SELECT application_name, state,
              pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::text AS lag_bytes,
              (EXTRACT(epoch FROM replay_lag) * 1000)::text AS lag_ms
       FROM pg_stat_replication`,
    );
    return rows;
  } catch {
    return [];
  }
}

function serverStatus(
  input: ProbeInput,
  server: CatalogServer,
  probe: ServerProbe | undefined,
  standby: StandbyRow | undefined,
): ServerStatus {
  const supervised = input.servers.get(server.id);
  const up = probe?.reachable === true;
  const isReplica = server.role === 'replica';
  const lagBytes =
    isReplica && up && standby?.lag_bytes != null ? Math.max(0, Number(standby.lag_bytes)) : null;
  let lagMs: number | null = null;
  if (isReplica && up && standby)
    lagMs =
      standby.lag_ms == null ? (lagBytes === 0 ? 0 : null) : Math.round(Number(standby.lag_ms));
  return {
    id: server.id,
    dc: server.dc,
    role: server.role,
    host: server.host,
    port: server.port,
    state: up
      ? 'up'
      : supervised?.state === 'stopped'
        ? 'stopped'
        : supervised?.state === 'starting'
          ? 'starting'
          : 'down',
    pid: supervised?.pid ?? null,
    lastWalLsn: probe?.lsn ?? null,
    replayLagBytes: lagBytes,
    replayLagMs: lagMs,
    streamingState: isReplica ? (standby?.state ?? null) : null,
    detail: up
      ? isReplica && !standby
        ? 'not connected to its primary'
        : null
      : (probe?.detail ?? null),
    fencedAtEpoch: server.fencedAtEpoch,
  };
}

async function probeShard(
  input: ProbeInput,
  servers: readonly CatalogServer[],
  probes: ReadonlyMap<string, ServerProbe>,
  shard: CatalogSnapshot['shards'][number],
): Promise<ShardStatus> {
  const subscription = subscriptionName(shard.database);
  const buckets = (input.catalog?.buckets ?? [])
    .filter((range) => range.shardId === shard.id)
    .map((range) => [range.first, range.last] as const);
  const home = servers.find((s) => s.dc === shard.homeDc && s.role === 'primary');
  const copy = servers.find((s) => s.dc === shard.copyDc && s.role === 'primary');
  const base = {
    id: shard.id,
    database: shard.database,
    homeDc: shard.homeDc,
    copyDc: shard.copyDc,
    buckets,
    copyState: shard.copyState,
  };
  const down = (detail: string) => ({
    ...base,
    logicalReplication: { subscription, state: 'down' as const, lagBytes: null, detail },
  });
  if (!home || !probes.get(home.id)?.reachable)
    return down(`home primary ${home?.id ?? '?'} is down`);
  if (!copy || !probes.get(copy.id)?.reachable)
    return down(`copy primary ${copy?.id ?? '?'} is down`);
  try {
    const [slot, sub] = await Promise.all([
      input.pools.pool(home.id, shard.database).query<{ active: boolean; lag: string | null }>(
        `SELECT active, pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::text AS lag
         FROM pg_replication_slots WHERE slot_name = $1`,
        [subscription],
      ),
      input.pools.pool(copy.id, shard.database).query<{ worker: number | null; unsynced: string }>(
        `SELECT (SELECT pid FROM pg_stat_subscription st WHERE st.subid = s.oid AND st.relid IS NULL LIMIT 1) AS worker,
                (SELECT count(*) FROM pg_subscription_rel r WHERE r.srsubid = s.oid AND r.srsubstate <> 'r')::text AS unsynced
         FROM pg_subscription s WHERE s.subname = $1`,
        [subscription],
      ),
    ]);
    const slotRow = slot.rows[0];
    const subRow = sub.rows[0];
    let state: LogicalReplicationState = 'unknown';
    let detail: string | null = null;
    if (!slotRow || !subRow) [state, detail] = ['down', 'subscription or slot missing'];
    else if (Number(subRow.unsynced) > 0)
      [state, detail] = ['initializing', `${subRow.unsynced} tables in initial sync`];
    else if (slotRow.active && subRow.worker !== null) state = 'replicating';
    else [state, detail] = ['down', 'apply worker not running'];
    const lagBytes = slotRow?.lag == null ? null : Math.max(0, Number(slotRow.lag));
    return { ...base, logicalReplication: { subscription, state, lagBytes, detail } };
  } catch (error) {
    return down(`probe failed: ${(error as Error).message}`);
  }
}

/** Ready only when the catalog answers, every server is up, replicas stream and copies replicate. */
export function healthFromTopology(topology: TopologySnapshot): HealthReport {
  const components: ComponentHealth[] = [
    {
      name: 'catalog',
      ready: topology.catalog.state === 'up',
      detail: topology.catalog.state === 'up' ? null : 'catalog not readable',
    },
  ];
  for (const server of topology.servers) {
    const streaming = server.role !== 'replica' || server.streamingState === 'streaming';
    const ready = server.state === 'up' && streaming;
    const detail =
      server.state !== 'up'
        ? (server.detail ?? server.state)
        : streaming
          ? null
          : `replication ${server.streamingState ?? 'not connected'}`;
    components.push({ name: `server:${server.id}`, ready, detail });
  }
  for (const shard of topology.shards) {
    const ready = shard.logicalReplication.state === 'replicating';
    components.push({
      name: `shard:${shard.id}`,
      ready,
      detail: ready ? null : (shard.logicalReplication.detail ?? shard.logicalReplication.state),
    });
  }
  return { ready: components.every((component) => component.ready), components };
}
