import type { CopyState, LogicalReplicationState } from '../topology/copy-state.ts';
import type { ServerRole } from '../topology/server-role.ts';
import type { ServerState } from '../topology/server-state.ts';

/**
 * What the fleet looks like right now, as probed from the servers themselves: the shape behind
 * `GET /v1/topology` and `mainstay status`.
 */

/** One PostgreSQL server as last probed. LSNs are PostgreSQL's text form (`0/3000148`). */
export interface ServerStatus {
  readonly id: string;
  /** Data centre, or `null` for the witness, which stands in neither. */
  readonly dc: string | null;
  readonly role: ServerRole;
  readonly host: string;
  readonly port: number;
  readonly state: ServerState;
  /** OS process id of the postmaster when Mainstay supervises it. */
  readonly pid: number | null;
  /** Primary and witness: current WAL insert LSN. Replica: last replayed LSN. */
  readonly lastWalLsn: string | null;
  /** Replica only: how far replay trails its primary's current WAL position. */
  readonly replayLagBytes: number | null;
  readonly replayLagMs: number | null;
  /** Replica only: the primary's walsender state for it (`streaming`, `catchup`, ...). */
  readonly streamingState: string | null;
  /** Why the server is not `up`, when known. */
  readonly detail: string | null;
  /** Catalog epoch at which the server was fenced (no reads or writes routed to it), or `null`. */
  readonly fencedAtEpoch: number | null;
}

/** One shard: its home DC, where the logical copy lives and how far behind it is. */
export interface ShardStatus {
  readonly id: number;
  readonly database: string;
  readonly homeDc: string;
  readonly copyDc: string;
  /** Buckets of the shard map held by this shard, as inclusive ranges. */
  readonly buckets: readonly (readonly [number, number])[];
  /** `replicating`; `detached` or `quarantined` after a DC failover, until re-seeded. */
  readonly copyState: CopyState;
  readonly logicalReplication: {
    readonly subscription: string;
    readonly state: LogicalReplicationState;
    /** Publisher WAL not yet confirmed by the copy. */
    readonly lagBytes: number | null;
    readonly detail: string | null;
  };
}

/** A logical data centre and the servers in it. */
export interface DataCentreStatus {
  readonly id: string;
  readonly synchronousCommit: string;
  readonly primary: string;
  readonly replicas: readonly string[];
}

/** The whole fleet, as probed at `observedAt`. */
export interface TopologySnapshot {
  readonly observedAt: string;
  /** Catalog epoch: bumped on every change of who is primary or where a shard is homed. */
  readonly epoch: number | null;
  readonly catalog: { readonly server: string; readonly state: ServerState };
  readonly dataCentres: readonly DataCentreStatus[];
  readonly servers: readonly ServerStatus[];
  readonly shards: readonly ShardStatus[];
}

/** One component of the platform and whether it is ready. */
export interface ComponentHealth {
  readonly name: string;
  readonly ready: boolean;
  readonly detail: string | null;
}

/** `ready` only when every component is. */
export interface HealthReport {
  readonly ready: boolean;
  readonly components: readonly ComponentHealth[];
}

/** Anything that can say what the fleet looks like and whether it is healthy. */
export interface TopologySource {
  topology(): Promise<TopologySnapshot>;
  health(): Promise<HealthReport>;
}
