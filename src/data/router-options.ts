import type { CatalogStore } from '../catalog/catalog-store.ts';
import type { SecretsPort } from '../secrets/secrets-port.ts';
import type { ReplicaMonitorOptions } from './replica-monitor.ts';
import type { SharedRecentWriteOptions } from './shared-recent-writes.ts';

/**
 * Read consistency levels:
 * - `primary`: always the shard's primary.
 * - `session`: read-your-writes: a replica that has replayed the caller's token (and this
 *   process's recent writes of the key), else a bounded wait for one, else the primary.
 * - `bounded`: a replica whose lag is under `maxLagMs`, else the primary.
 * - `any`: any healthy replica, however far behind; the primary only when none is up.
 */
export const CONSISTENCY_LEVELS = ['primary', 'session', 'bounded', 'any'] as const;
export type ConsistencyLevel = (typeof CONSISTENCY_LEVELS)[number];

/** Credentials the router connects to every server with. */
export interface RouterCredentials {
  readonly user: string;
  readonly password: string;
}

export interface RouterOptions {
  readonly catalog: CatalogStore;
  readonly credentials: RouterCredentials;
  /**
   * Where the router's token keys come from (the `consistency-token` purpose): by default the
   * root secrets kept in `catalog` (`CatalogSecrets`); a deployment may hand in a port over its
   * KMS. Read once, when the router connects.
   */
  readonly secrets?: SecretsPort;
  /** Name shown in `pg_stat_activity.application_name`. */
  readonly applicationName?: string;
  /** Connections per (server, shard database). */
  readonly poolSizeMax?: number;
  readonly connectTimeoutMs?: number;
  /** Client-side bound on one statement; a COMMIT cut by it is reported as outcome unknown. */
  readonly statementTimeoutMs?: number;
  /** How long a write waits for a writable primary (failover) before failing definitely. */
  readonly writeWaitMs?: number;
  /** How long a session read waits for a replica to catch up before trying the primary. */
  readonly sessionWaitMs?: number;
  /** Default lag bound of `bounded` reads. */
  readonly boundedLagMsDefault?: number;
  /** Reads per second that may fall back to a primary (all shards together). */
  readonly primaryFallbackPerSecondMax?: number;
  /** Largest batch {@link Router.writeBatch} accepts. */
  readonly batchSizeMax?: number;
  /** Catalog re-read interval, a safety net under the change notifications. */
  readonly catalogPollMs?: number;
  readonly recentWrites?: { readonly entryCountMax?: number; readonly ageMsMax?: number };
  /**
   * The shared recent-write store (decision 35), on by default: every keyed write is recorded
   * beside the catalog before it is acknowledged, and a `session` read of a key looks it up, so
   * no process reads another's write stale from a replica, with or without a token. `false`
   * turns it off (reads then rely on tokens and this router's own tracker); an object sets its
   * bounds. Off too when the catalog store offers none.
   */
  readonly sharedRecentWrites?: boolean | SharedRecentWriteOptions;
  readonly monitor?: ReplicaMonitorOptions;
}

export const ROUTER_DEFAULTS = {
  applicationName: 'mainstay-router',
  poolSizeMax: 16,
  connectTimeoutMs: 1_000,
  statementTimeoutMs: 10_000,
  writeWaitMs: 10_000,
  sessionWaitMs: 200,
  boundedLagMsDefault: 1_000,
  primaryFallbackPerSecondMax: 1_000,
  batchSizeMax: 1_000,
  catalogPollMs: 1_000,
} as const;
