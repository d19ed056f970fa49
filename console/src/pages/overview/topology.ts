/**
 * The fleet's topology as `GET /v1/topology` and the stream's `topology` topic give it, and the
 * figures the overview draws from successive snapshots: each data centre's replication lag and
 * its primary's WAL throughput.
 */

export type ServerRole = 'primary' | 'replica' | 'witness';
export type ServerState = 'starting' | 'up' | 'down' | 'stopped';

export interface ServerStatus {
  readonly id: string;
  readonly dc: string | null;
  readonly role: ServerRole;
  readonly host: string;
  readonly port: number;
  readonly state: ServerState;
  readonly pid: number | null;
  readonly lastWalLsn: string | null;
  readonly replayLagBytes: number | null;
  readonly replayLagMs: number | null;
  readonly streamingState: string | null;
  readonly detail: string | null;
  readonly fencedAtEpoch: number | null;
}

export interface ShardStatus {
  readonly id: number;
  readonly database: string;
  readonly homeDc: string;
  readonly copyDc: string;
  readonly buckets: readonly (readonly [number, number])[];
  readonly copyState: 'replicating' | 'detached' | 'quarantined';
  readonly logicalReplication: {
    readonly subscription: string;
    readonly state: string;
    readonly lagBytes: number | null;
    readonly detail: string | null;
  };
}

export interface DataCentreStatus {
  readonly id: string;
  readonly synchronousCommit: string;
  readonly primary: string;
  readonly replicas: readonly string[];
}

export interface TopologySnapshot {
  readonly observedAt: string;
  readonly epoch: number | null;
  readonly catalog: { readonly server: string; readonly state: ServerState };
  readonly dataCentres: readonly DataCentreStatus[];
  readonly servers: readonly ServerStatus[];
  readonly shards: readonly ShardStatus[];
}

/**
 * The byte position of an LSN in PostgreSQL's text form (`0/3000148`: the high and low 32 bits
 * in hexadecimal); `null` for a text that is not one. A number holds 2^53 bytes (8 PiB) of WAL
 * exactly, far beyond any server's lifetime.
 */
export function lsnBytes(lsn: string | null): number | null {
  const match = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn ?? '');
  if (match === null) return null;
  return (
    Number.parseInt(match[1] as string, 16) * 2 ** 32 + Number.parseInt(match[2] as string, 16)
  );
}

/** The badge class of a server state or copy state. */
export function stateTone(state: string): 'ok' | 'warn' | 'bad' {
  if (state === 'up' || state === 'replicating' || state === 'streaming') return 'ok';
  if (state === 'down' || state === 'quarantined' || state === 'failed') return 'bad';
  return 'warn';
}

function serverOf(topology: TopologySnapshot, id: string): ServerStatus | undefined {
  return topology.servers.find((server) => server.id === id);
}

/** Per data centre, the largest replay lag of its replicas (`null` when none reports one). */
export function lagOf(
  topology: TopologySnapshot,
  field: 'replayLagBytes' | 'replayLagMs',
): (number | null)[] {
  return topology.dataCentres.map((dc) => {
    const lags = dc.replicas
      .map((id) => serverOf(topology, id)?.[field] ?? null)
      .filter((lag): lag is number => lag !== null);
    return lags.length === 0 ? null : Math.max(...lags);
  });
}

/** Where each data centre's primary had written its WAL, at a moment. */
export interface WalMark {
  readonly atMs: number;
  /** Per data centre id: its primary's id and WAL position. */
  readonly primaries: ReadonlyMap<string, { readonly server: string; readonly bytes: number }>;
}

export function walMarkOf(topology: TopologySnapshot): WalMark {
  const primaries = new Map<string, { server: string; bytes: number }>();
  for (const dc of topology.dataCentres) {
    const primary = serverOf(topology, dc.primary);
    const bytes = lsnBytes(primary?.state === 'up' ? primary.lastWalLsn : null);
    if (bytes !== null) primaries.set(dc.id, { server: dc.primary, bytes });
  }
  return { atMs: Date.parse(topology.observedAt), primaries };
}

/**
 * Per data centre, the bytes per second its primary wrote between two marks; `null` where it is
 * not known (no earlier mark, the primary changed or was not up, or the position went back).
 */
export function walRates(
  dataCentres: readonly string[],
  before: WalMark | null,
  now: WalMark,
): (number | null)[] {
  const seconds = before === null ? 0 : (now.atMs - before.atMs) / 1000;
  return dataCentres.map((dc) => {
    const from = before?.primaries.get(dc);
    const to = now.primaries.get(dc);
    if (!(seconds > 0) || from === undefined || to === undefined) return null;
    if (from.server !== to.server || to.bytes < from.bytes) return null;
    return Math.round((to.bytes - from.bytes) / seconds);
  });
}
