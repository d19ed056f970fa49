import { performance } from 'node:perf_hooks';
import type { Router } from '../data/router.ts';
import { MainstayError } from '../errors/mainstay-error.ts';
import {
  type BatchContext,
  type QueuedItem,
  SHARD_BATCH_DEFAULTS,
  type ShardBatchClient,
  type ShardBatchOptions,
  type ShardBatchSettings,
} from './batch-client.ts';
import { runIsolated } from './batch-isolation.ts';
import { EngineStats, type EngineStatsSnapshot } from './engine-stats.ts';
import type { BatchLatency } from './latency-window.ts';
import { ShardLane } from './shard-lane.ts';

/**
 * Per-shard micro-batching for every money write (decisions 26, 34 and 49): items are queued
 * per shard and applied in batches with group commit. A batch closes after
 * `batchWindowMicros` or at `batchSizeMax` requests; each shard has a single writer (one batch
 * in flight); the client applies a batch in one transaction, so a shard commits once per batch
 * instead of once per request, and no other transaction of the engine holds a hot row's lock
 * while the batches wait for it. A full queue refuses at once (`overloaded`) rather than letting
 * latency grow without bound. A batch that fails because of some of its items is halved until
 * those fail alone; one the shard refused as a whole fails every item with the shard's code.
 *
 * The engine knows nothing of the domain: its client ({@link ShardBatchClient}) says which shard
 * an item goes to and applies one batch. Give it a router of its own, so its batches never wait
 * for a connection behind request traffic.
 *
 * @example
 * const engine = new ShardBatchEngine(router, 'ledger engine', ledgerClient);
 * const outcomes = await engine.submit(chain, chain.requests.length);
 */
export class ShardBatchEngine<Item, Answer, Unit> {
  readonly #router: Router;
  readonly #name: string;
  readonly #client: ShardBatchClient<Item, Answer, Unit>;
  readonly #settings: ShardBatchSettings;
  readonly #lanes = new Map<number, ShardLane<QueuedItem<Item, Answer>>>();
  readonly #stats = new EngineStats();
  #closed = false;

  /** `name` names the engine in its errors ("the ledger engine is closed"). */
  constructor(
    router: Router,
    name: string,
    client: ShardBatchClient<Item, Answer, Unit>,
    options: ShardBatchOptions = {},
  ) {
    this.#router = router;
    this.#name = name;
    this.#client = client;
    this.#settings = Object.freeze({ ...SHARD_BATCH_DEFAULTS, ...options });
    for (const [key, value] of Object.entries(this.#settings)) {
      if (!Number.isSafeInteger(value) || value < (key === 'batchWindowMicros' ? 0 : 1))
        throw new RangeError(`${name} option ${key} must be a positive integer`);
    }
  }

  /**
   * Queues `item` (taking `weight` places of the batch size and queue depth) on its shard's lane
   * and answers what the client settles it with. Refuses at once with `overloaded` when the lane
   * is full, `service_unavailable` once the engine is closed.
   */
  submit(item: Item, weight = 1): Promise<Answer> {
    const refusal = this.#refusal([{ item, weight }]);
    if (refusal instanceof Error) return Promise.reject(refusal);
    return new Promise<Answer>((resolve, reject) => {
      refusal.push({ item, weight, enqueuedAtMs: performance.now(), resolve, reject });
      this.#schedule(refusal);
    });
  }

  /**
   * Queues `items` together on the shard of the first, all or none: either every one is queued,
   * in order, or the call is refused as {@link submit} refuses one. One promise per item.
   */
  submitAll(items: readonly { item: Item; weight: number }[]): Promise<Answer>[] {
    const lane = this.#refusal(items);
    if (lane instanceof Error) return items.map(() => Promise.reject(lane));
    const enqueuedAtMs = performance.now();
    const answers = items.map(
      ({ item, weight }) =>
        new Promise<Answer>((resolve, reject) => {
          lane.push({ item, weight, enqueuedAtMs, resolve, reject });
        }),
    );
    this.#schedule(lane);
    return answers;
  }

  /** The settings in force (options with defaults applied). */
  get settings(): ShardBatchSettings {
    return this.#settings;
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Weight waiting on a shard (not counting the batch in flight). */
  queueDepth(shardId: number): number {
    return this.#lanes.get(shardId)?.depth ?? 0;
  }

  /**
   * Batch latency of a shard over the last `latencyWindowMs` (zeros when no batch ended in it),
   * counting only batches that ended in time slots begun after `sinceMs` when given.
   */
  latency(shardId: number, sinceMs?: number): BatchLatency {
    const lane = this.#lanes.get(shardId);
    if (!lane) return { p99Ms: 0, sampleCount: 0, windowMs: this.#settings.latencyWindowMs };
    return lane.latency.read(Date.now(), sinceMs);
  }

  /** Counters since the engine started. */
  get stats(): EngineStatsSnapshot {
    return this.#stats.snapshot();
  }

  /** Refuses new items, sends every queued one at once and waits for all batches to end. */
  async close(): Promise<void> {
    this.#closed = true;
    for (;;) {
      const busy = [...this.#lanes.values()].filter((lane) => lane.depth > 0 || lane.running);
      if (busy.length === 0) return;
      for (const lane of busy) if (!lane.running) this.#flush(lane);
      await Promise.all(busy.map((lane) => lane.running));
    }
  }

  /**
   * The lane of the first item's shard, or why `items` are refused: the engine is closed, the
   * lane has no room for all of them (`overloaded`), or one can never fit a batch.
   */
  #refusal(
    items: readonly { item: Item; weight: number }[],
  ): ShardLane<QueuedItem<Item, Answer>> | Error {
    if (this.#closed)
      return new MainstayError('service_unavailable', `the ${this.#name} is closed`);
    const first = items[0];
    if (first === undefined) return new RangeError(`${this.#name}: nothing to submit`);
    let weight = 0;
    for (const entry of items) {
      if (!Number.isSafeInteger(entry.weight) || entry.weight < 1)
        return new RangeError(`${this.#name}: an item's weight must be a positive integer`);
      if (entry.weight > this.#settings.batchSizeMax)
        return new RangeError(`${this.#name}: an item weighs more than batchSizeMax`);
      weight += entry.weight;
    }
    const shardId = this.#router.map.shardOf(this.#client.shardKeyOf(first.item));
    const lane = this.#lane(shardId);
    const { queueDepthMax } = this.#settings;
    if (lane.depth + weight <= queueDepthMax) return lane;
    this.#stats.overloaded += items.length;
    return new MainstayError(
      'overloaded',
      `shard ${shardId} has ${lane.depth} items queued (queueDepthMax ${queueDepthMax})`,
    );
  }

  #lane(shardId: number): ShardLane<QueuedItem<Item, Answer>> {
    let lane = this.#lanes.get(shardId);
    if (!lane) {
      lane = new ShardLane(shardId, this.#settings.latencyWindowMs);
      this.#lanes.set(shardId, lane);
    }
    return lane;
  }

  /** Starts a batch when the window has passed or the batch is full; else sets a wake-up. */
  #schedule(lane: ShardLane<QueuedItem<Item, Answer>>): void {
    if (lane.running || lane.depth === 0) return;
    const oldest = lane.oldestEnqueuedAtMs ?? performance.now();
    const waitedMicros = (performance.now() - oldest) * 1_000;
    const { batchWindowMicros, batchSizeMax } = this.#settings;
    if (this.#closed || lane.depth >= batchSizeMax || waitedMicros >= batchWindowMicros) {
      this.#flush(lane);
      return;
    }
    if (lane.cancelWake) return;
    const wake = () => {
      lane.cancelWake = null;
      this.#schedule(lane);
    };
    const remainingMicros = batchWindowMicros - waitedMicros;
    // Timers have millisecond resolution: a sub-millisecond window re-checks on each turn of
    // the event loop instead (I/O still runs between checks).
    if (remainingMicros >= 1_000) {
      const timer = setTimeout(wake, Math.floor(remainingMicros / 1_000));
      lane.cancelWake = () => clearTimeout(timer);
    } else {
      const immediate = setImmediate(wake);
      lane.cancelWake = () => clearImmediate(immediate);
    }
  }

  #flush(lane: ShardLane<QueuedItem<Item, Answer>>): void {
    lane.cancelWake?.();
    lane.cancelWake = null;
    const batch = lane.take(this.#settings.batchSizeMax);
    if (batch.length === 0) return;
    lane.running = this.#runBatch(lane, batch).finally(() => {
      lane.running = null;
      this.#schedule(lane);
    });
  }

  /**
   * Runs one batch: the client opens it, the engine applies it whole and, when it fails for
   * some of its items, in halves until they fail alone (`runIsolated`); then records its latency
   * and puts back what the client sent round again.
   */
  async #runBatch(
    lane: ShardLane<QueuedItem<Item, Answer>>,
    batch: readonly QueuedItem<Item, Answer>[],
  ): Promise<void> {
    const again: QueuedItem<Item, Answer>[] = [];
    const context: BatchContext<Item, Answer> = {
      router: this.#router,
      shardId: lane.shardId,
      settings: this.#settings,
      stats: this.#stats,
      sendAgain: (entry) => again.push(entry),
    };
    const opened = this.#client.open(batch, context);
    this.#stats.recordBatch(opened.requestCount);
    const started = performance.now();
    try {
      await runIsolated<readonly Unit[]>(
        opened.units,
        {
          size: (part) => part.length,
          halves: (part) => {
            const half = Math.ceil(part.length / 2);
            return [part.slice(0, half), part.slice(half)];
          },
          singles: (part) => part.map((unit) => [unit]),
          attempt: (part) => opened.apply(part),
          fail: (part, error) => {
            for (const unit of part) opened.fail(unit, error);
          },
        },
        this.#settings.bisectedFailuresMax,
        this.#stats,
      );
    } finally {
      lane.latency.record(performance.now() - started);
    }
    if (again.length > 0) lane.requeue(again);
  }
}
