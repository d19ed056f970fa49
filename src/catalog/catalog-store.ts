import type { CopyState } from '../topology/copy-state.ts';
import type { ServerRole } from '../topology/server-role.ts';
import type { RecentWriteStore } from './recent-write-store.ts';

/** A server as the catalog records it: its current role is the truth for routing. */
export interface CatalogServer {
  readonly id: string;
  readonly dc: string | null;
  readonly role: ServerRole;
  readonly host: string;
  readonly port: number;
  /** For a replica: the server it streams from. */
  readonly upstream: string | null;
  /** Set when the server was fenced (at that epoch): it must get no reads or writes. */
  readonly fencedAtEpoch: number | null;
}

export interface CatalogShard {
  readonly id: number;
  readonly database: string;
  readonly homeDc: string;
  readonly copyDc: string;
  readonly copyState: CopyState;
  /**
   * Epoch since which WAL positions on this shard are comparable. An in-DC promotion keeps the
   * lineage (a promoted replica continues its primary's WAL); moving the home to the other DC's
   * logical copy starts a new one, and tokens from before it are refused.
   */
  readonly lineageEpoch: number;
}

/** A run of consecutive buckets held by one shard. */
export interface BucketRange {
  readonly shardId: number;
  readonly first: number;
  readonly last: number;
}

/** The whole catalog at one epoch. */
export interface CatalogSnapshot {
  readonly epoch: number;
  readonly bucketCount: number;
  readonly dataCentres: readonly { readonly id: string; readonly synchronousCommit: string }[];
  readonly servers: readonly CatalogServer[];
  readonly shards: readonly CatalogShard[];
  readonly buckets: readonly BucketRange[];
}

/** The catalog's contents before the first epoch is assigned. */
export interface CatalogSeed {
  readonly bucketCount: number;
  readonly dataCentres: CatalogSnapshot['dataCentres'];
  readonly servers: readonly Omit<CatalogServer, 'fencedAtEpoch'>[];
  readonly shards: readonly Omit<CatalogShard, 'copyState' | 'lineageEpoch'>[];
  readonly buckets: readonly BucketRange[];
}

/**
 * A change of roles or homes, applied atomically with an epoch bump. Servers are added first,
 * then changed, then removed.
 */
export interface CatalogChange {
  /** New servers (a replica added beyond the configuration); fence them in `servers`. */
  readonly added?: readonly Omit<CatalogServer, 'fencedAtEpoch'>[];
  /** Servers deleted from the catalog (an added replica removed; nothing streams from it). */
  readonly removed?: readonly string[];
  readonly servers?: readonly {
    readonly id: string;
    readonly role?: CatalogServer['role'];
    readonly upstream?: string | null;
    /** `true` fences the server at the new epoch; `false` lifts a fence. */
    readonly fenced?: boolean;
  }[];
  readonly shards?: readonly {
    readonly id: number;
    readonly homeDc?: string;
    readonly copyDc?: string;
    readonly copyState?: CopyState;
  }[];
  /** Buckets that move to another shard (a bucket move's cutover, decision 58). */
  readonly buckets?: readonly { readonly bucket: number; readonly shardId: number }[];
}

/**
 * The flag holding the fleet's root secret: random, made once, atomically, by
 * {@link CatalogStore.initialize}, so every process that starts reads the same one. Its name is
 * historic: consistency tokens were signed with it directly; now every purpose derives a key
 * of its own from it (`src/secrets/`), and nothing uses it as a key.
 */
export const ROOT_SECRET_FLAG = 'consistency_token_secret';

/** The most events {@link CatalogStore.events} returns at once, whatever limit is asked. */
export const EVENT_COUNT_MAX = 1_000;

/** One recorded epoch change. */
export interface CatalogEvent {
  readonly epoch: number;
  readonly at: string;
  readonly reason: string;
  readonly detail: Readonly<Record<string, unknown>>;
}

/**
 * Where the topology, the shard map and the epoch are kept. It must outlive either data centre,
 * so the default store sits on a witness server at a third site; a production deployment can
 * implement this interface over etcd or another consensus store.
 */
export interface CatalogStore {
  /** The current catalog, or `null` before {@link CatalogStore.initialize}. */
  load(): Promise<CatalogSnapshot | null>;
  /**
   * Writes the seed at epoch 1 unless a catalog exists already, and the root secret
   * ({@link ROOT_SECRET_FLAG}) unless one exists; returns what is stored.
   */
  initialize(seed: CatalogSeed): Promise<CatalogSnapshot>;
  /**
   * Records what the configuration says now about where servers listen and each DC's commit
   * level (both may change between runs); neither changes routing, so the epoch stays.
   */
  updateDeclared(declared: {
    readonly servers: readonly Pick<CatalogServer, 'id' | 'host' | 'port'>[];
    readonly dataCentres: CatalogSnapshot['dataCentres'];
  }): Promise<void>;
  /** Raises the epoch by one, records why, and returns the new epoch. */
  bumpEpoch(reason: string): Promise<number>;
  /**
   * Applies a change of roles or shard homes and bumps the epoch, in one transaction, and
   * announces the new epoch to subscribers. Returns the new epoch.
   */
  commitChange(
    reason: string,
    change: CatalogChange,
    detail?: Readonly<Record<string, unknown>>,
  ): Promise<number>;
  /**
   * The newest `limit` events (at most {@link EVENT_COUNT_MAX}), newest first; only those at or
   * before `atOrBefore`, an RFC 3339 time, when it is given.
   */
  events(limit: number, atOrBefore?: string): Promise<readonly CatalogEvent[]>;
  /**
   * Calls `listener` with the new epoch whenever it changes (as soon as the store learns of
   * it). Resolves to a function that stops the subscription.
   */
  subscribe(listener: (epoch: number) => void): Promise<() => Promise<void>>;
  /** A named marker (for example that demo data was loaded), or `null`. */
  getFlag(name: string): Promise<string | null>;
  setFlag(name: string, value: string): Promise<void>;
  /**
   * The shared recent-write store kept beside the catalog (decision 35), one per catalog store
   * and shared by every router on it; absent where the store offers none (routers then rely on
   * tokens and their own tracker alone).
   */
  recentWriteStore?(): RecentWriteStore;
  close(): Promise<void>;
}
