import { MainstayError } from '../errors/mainstay-error.ts';
import type { ConnectionPools } from '../postgres/connection-pools.ts';
import { maxLsn } from '../postgres/lsn.ts';
import { isConnectionLoss } from '../postgres/pg-errors.ts';
import type { Queryable } from './primary-writer.ts';
import { noteServedBy, type ReadScope } from './read-scope.ts';
import { chooseReplica } from './replica-choice.ts';
import type { ReplicaMonitor } from './replica-monitor.ts';
import type { ConsistencyLevel } from './router-options.ts';
import type { FallbackReason, RouterStats } from './router-stats.ts';
import type { ShardMap, ShardRoute } from './shard-map.ts';
import type { SharedEntry, SharedRecentWrites } from './shared-recent-writes.ts';
import { TokenBucket } from './token-bucket.ts';

export interface ReadResult<T> {
  readonly value: T;
  readonly shardId: number;
  readonly servedBy: string;
  readonly target: 'primary' | 'replica';
}

/** A read as the router hands it over, its token already checked. */
export interface ReadRequest {
  readonly consistency: ConsistencyLevel;
  /** For `session`: the position the token and this process's tracker require. */
  readonly required: bigint | null;
  readonly maxLagMs: number | undefined;
  /** The key, for a keyed read (the shared store is asked for keyed session reads only). */
  readonly key: string | undefined;
  readonly scope: ReadScope | undefined;
}

/** What the reader needs from its router. */
export interface ReplicaReaderDeps {
  readonly pools: ConnectionPools;
  readonly monitor: ReplicaMonitor;
  /** The router's current shard map (it changes with the catalog epoch). */
  map(): ShardMap;
  readonly stats: RouterStats;
  readonly shared: SharedRecentWrites | null;
  /** Waits for a newer catalog epoch, or `timeoutMs`. */
  awaitNewEpoch(timeoutMs: number): Promise<void>;
  readonly sessionWaitMs: number;
  readonly boundedLagMsDefault: number;
  readonly writeWaitMs: number;
  readonly primaryFallbackPerSecondMax: number;
}

/**
 * The router's read side: picks the server a read goes to by its level (replica-choice.ts),
 * checks a keyed session read against the shared recent-write store, falls back to the primary
 * within the fallback cap, and notes the server in the edge's read scope (Served-By).
 */
export class ReplicaReader {
  readonly #deps: ReplicaReaderDeps;
  readonly #fallbacks: TokenBucket;

  constructor(deps: ReplicaReaderDeps) {
    this.#deps = deps;
    this.#fallbacks = new TokenBucket(deps.primaryFallbackPerSecondMax);
  }

  /** Runs a read on the server its level allows (see "Where a read goes"). */
  async read<T>(
    route: ShardRoute,
    work: (db: Queryable) => Promise<T>,
    request: ReadRequest,
  ): Promise<ReadResult<T>> {
    const { consistency, required, key, scope } = request;
    // A keyed session read asks the shared store too (decision 35); a shard scan does not.
    const shared = consistency === 'session' && key !== undefined ? this.#deps.shared : null;
    const demand = this.#demand(consistency, required, request.maxLagMs, shared !== null);
    const chosen = chooseReplica(this.#deps.monitor, route, demand);
    const replica = chosen instanceof Promise ? await chosen : chosen;
    if (replica.server && shared && key !== undefined) {
      return this.#readCheckedReplica(route, work, replica.server, shared.lookup(key), request);
    }
    if (replica.server) {
      try {
        const value = await this.query(replica.server, route.shard.database, work);
        return this.#servedByReplica(value, route, replica.server, consistency, scope);
      } catch (error) {
        if (!isConnectionLoss(error)) throw error;
        replica.reason = 'replica_failed';
      }
    }
    return this.primary(route, work, consistency, replica.reason, scope);
  }

  readonly #countSessionWait = (): void => {
    this.#deps.stats.sessionWaits += 1;
  };

  #demand(
    consistency: ConsistencyLevel,
    required: bigint | null,
    maxLagMs: number | undefined,
    horizon: boolean,
  ) {
    return {
      consistency,
      required,
      maxLagMs: maxLagMs ?? this.#deps.boundedLagMsDefault,
      sessionWaitMs: this.#deps.sessionWaitMs,
      // With the shared store, a replica further behind than half its entries' age could lack
      // a write whose entry is already gone.
      ...(horizon && this.#deps.shared ? { sessionLagMsMax: this.#deps.shared.ageMsMax / 2 } : {}),
      onSessionWait: this.#countSessionWait,
    };
  }

  /**
   * A session read on a replica while the shared store is asked, both at once (the lookup's round
   * trip overlaps the read's). If the store names a write of the key the replica may not have
   * replayed (its cached position, a lower bound, is before it), the answer is dropped and the
   * read goes again where that write is visible; if the store cannot be asked, to the primary.
   */
  async #readCheckedReplica<T>(
    route: ShardRoute,
    work: (db: Queryable) => Promise<T>,
    server: string,
    lookup: ReturnType<SharedRecentWrites['lookup']>,
    read: ReadRequest,
  ): Promise<ReadResult<T>> {
    const { consistency, scope } = read;
    if (lookup === 'unavailable') {
      return this.primary(route, work, consistency, 'recent_writes_unavailable', scope);
    }
    const floor = this.#deps.monitor.observe(server).lsn;
    const attempt = this.query(server, route.shard.database, work).then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    );
    const entry = await lookup;
    const outcome = await attempt;
    if (entry === 'unavailable') {
      return this.primary(route, work, consistency, 'recent_writes_unavailable', scope);
    }
    const needed = entry === null ? null : positionNeeded(entry, route, floor);
    if (needed !== null) {
      if (this.#deps.shared) this.#deps.shared.stats.staleCaught += 1;
      return this.#readAtLeast(route, work, maxLsn(read.required, needed) as bigint, scope);
    }
    if (outcome.ok) return this.#servedByReplica(outcome.value, route, server, consistency, scope);
    if (!isConnectionLoss(outcome.error)) throw outcome.error;
    return this.primary(route, work, consistency, 'replica_failed', scope);
  }

  /** A session read that must see `required`: a replica that has replayed it, else the primary. */
  async #readAtLeast<T>(
    route: ShardRoute,
    work: (db: Queryable) => Promise<T>,
    required: bigint,
    scope: ReadScope | undefined,
  ): Promise<ReadResult<T>> {
    const chosen = chooseReplica(
      this.#deps.monitor,
      route,
      this.#demand('session', required, 0, true),
    );
    const replica = chosen instanceof Promise ? await chosen : chosen;
    if (replica.server) {
      try {
        const value = await this.query(replica.server, route.shard.database, work);
        return this.#servedByReplica(value, route, replica.server, 'session', scope);
      } catch (error) {
        if (!isConnectionLoss(error)) throw error;
        replica.reason = 'replica_failed';
      }
    }
    return this.primary(route, work, 'session', replica.reason, scope);
  }

  #servedByReplica<T>(
    value: T,
    route: ShardRoute,
    server: string,
    consistency: ConsistencyLevel,
    scope: ReadScope | undefined,
  ): ReadResult<T> {
    this.#deps.stats.countRead('replica', consistency);
    noteServedBy(scope, server);
    return { value, shardId: route.shard.id, servedBy: server, target: 'replica' };
  }

  async primary<T>(
    route: ShardRoute,
    work: (db: Queryable) => Promise<T>,
    consistency: ConsistencyLevel,
    reason: FallbackReason,
    scope: ReadScope | undefined,
  ): Promise<ReadResult<T>> {
    if (consistency !== 'primary') {
      if (!this.#fallbacks.tryTake()) {
        this.#deps.stats.fallbacksRefused += 1;
        throw new MainstayError(
          'read_unavailable',
          `no replica can serve this ${consistency} read of shard ${route.shard.id} and the primary fallback cap (${this.#deps.primaryFallbackPerSecondMax}/s) is reached`,
        );
      }
      this.#deps.stats.countFallback(reason);
    }
    const deadline = Date.now() + this.#deps.writeWaitMs;
    for (let attempt = 0; ; attempt += 1) {
      const current = attempt === 0 ? route : this.#deps.map().route(route.shard.id);
      if (current.primary) {
        try {
          const value = await this.query(current.primary.id, current.shard.database, work);
          this.#deps.stats.countRead('primary', consistency);
          noteServedBy(scope, current.primary.id);
          return {
            value,
            shardId: current.shard.id,
            servedBy: current.primary.id,
            target: 'primary',
          };
        } catch (error) {
          if (!isConnectionLoss(error)) throw error;
        }
      }
      if (Date.now() >= deadline) break;
      await this.#deps.awaitNewEpoch(
        Math.min(deadline - Date.now(), 100 * 2 ** Math.min(attempt, 4)),
      );
    }
    throw new MainstayError('read_unavailable', `shard ${route.shard.id} has no reachable primary`);
  }

  async query<T>(
    serverId: string,
    database: string,
    work: (db: Queryable) => Promise<T>,
  ): Promise<T> {
    const client = await this.#deps.pools.pool(serverId, database).connect();
    try {
      const value = await work(client);
      client.release();
      return value;
    } catch (error) {
      client.release(isConnectionLoss(error));
      throw error;
    }
  }
}

/**
 * The position a replica must have replayed for a store entry, or `null` when the entry does
 * not hold it back: another shard's (a hash collision), from before the shard's lineage moved
 * (its position means nothing on the new home), or already replayed by the replica as far as
 * its cached position (a lower bound) shows.
 */
function positionNeeded(
  entry: SharedEntry,
  route: ShardRoute,
  floor: bigint | null,
): bigint | null {
  if (entry.shardId !== route.shard.id || entry.epoch < route.shard.lineageEpoch) return null;
  if (floor !== null && floor >= entry.lsn) return null;
  return entry.lsn;
}
