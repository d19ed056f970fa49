import type { ServerRole } from '../fleet/topology-snapshot.ts';

/** A server as the catalog records it: its current role is the truth for routing. */
export interface CatalogServer {
  readonly id: string;
  readonly dc: string | null;
  readonly role: ServerRole;
  readonly host: string;
  readonly port: number;
  /** For a replica: the server it streams from. */
  readonly upstream: string | null;
}

export interface CatalogShard {
  readonly id: number;
  readonly database: string;
  readonly homeDc: string;
  readonly copyDc: string;
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
export type CatalogSeed = Omit<CatalogSnapshot, 'epoch'>;

/**
 * Where the topology, the shard map and the epoch are kept. It must outlive either data centre,
 * so the default store sits on a witness server at a third site; a production deployment can
 * implement this interface over etcd or another consensus store.
 */
export interface CatalogStore {
  /** The current catalog, or `null` before {@link CatalogStore.initialize}. */
  load(): Promise<CatalogSnapshot | null>;
  /** Writes the seed at epoch 1 unless a catalog exists already; returns what is stored. */
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
  /** A named marker (for example that demo data was loaded), or `null`. */
  getFlag(name: string): Promise<string | null>;
  setFlag(name: string, value: string): Promise<void>;
  close(): Promise<void>;
}
