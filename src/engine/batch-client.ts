import type { Router } from '../data/router.ts';
import type { EngineStats } from './engine-stats.ts';
import type { LaneEntry } from './shard-lane.ts';

/** Tuning of a `ShardBatchEngine`; every bound is explicit. */
export interface ShardBatchOptions {
  /** How long the first item of a batch waits for company before the batch closes. */
  readonly batchWindowMicros?: number;
  /** A batch closes as soon as it holds this much weight (requests; a chain counts each). */
  readonly batchSizeMax?: number;
  /** Weight waiting per shard; beyond it a submit fails at once with `overloaded`. */
  readonly queueDepthMax?: number;
  /** How long a batch waits for a writable primary (failover) before failing definitely. */
  readonly writeWaitMs?: number;
  /**
   * How far back the latency figure of a shard reaches: batches that ended longer ago are
   * forgotten, so one slow spell (a failover waited out) does not outlive it by minutes.
   */
  readonly latencyWindowMs?: number;
  /**
   * Failing items a failed batch is bisected for; past it, the rest of the batch goes one item
   * per transaction. Bounds the work of a batch full of bad items (see `batch-isolation.ts`).
   */
  readonly bisectedFailuresMax?: number;
}

/** The engine's figures, the same for every client (decisions 26 and 49). */
export const SHARD_BATCH_DEFAULTS = {
  batchWindowMicros: 500,
  batchSizeMax: 512,
  queueDepthMax: 8_192,
  writeWaitMs: 2_000,
  latencyWindowMs: 5_000,
  bisectedFailuresMax: 8,
} as const satisfies Required<ShardBatchOptions>;

/** An engine's settings: its options with the defaults applied. */
export type ShardBatchSettings = {
  readonly [K in keyof typeof SHARD_BATCH_DEFAULTS]: number;
};

/** One item waiting in a lane, with the promise it answers. */
export interface QueuedItem<Item, Answer> extends LaneEntry {
  readonly item: Item;
  readonly resolve: (answer: Answer) => void;
  readonly reject: (error: unknown) => void;
}

/** What the engine gives a client for one batch. */
export interface BatchContext<Item, Answer> {
  /** The engine's own router: write the batch through it (`write` or `writeToShard`). */
  readonly router: Router;
  readonly shardId: number;
  readonly settings: ShardBatchSettings;
  readonly stats: EngineStats;
  /** Puts an entry back at the front of its lane once this batch has ended. */
  sendAgain(entry: QueuedItem<Item, Answer>): void;
}

/**
 * One batch as the client cut it: the units it is applied and isolated in, in the order it
 * applies them. A unit is never split: isolation halves a failing part by units and at worst
 * tries a unit alone.
 */
export interface OpenBatch<Unit> {
  readonly units: readonly Unit[];
  /** What the batch counts for in `requests` and the batch size histogram. */
  readonly requestCount: number;
  /**
   * Applies `part` (some of `units`, in order) in ONE transaction and settles every item in it.
   * Throws, settling nothing, when the transaction failed: it then wrote nothing, or its outcome
   * is unknown, and the engine decides from the error which (see `batch-isolation.ts`).
   */
  apply(part: readonly Unit[]): Promise<void>;
  /** Answers every item of `unit` with `error` (its own failure, or the shard's). */
  fail(unit: Unit, error: unknown): void;
}

/**
 * What a domain supplies to run on a `ShardBatchEngine`: where an item goes and how one batch of
 * them is applied. Everything else (lanes, windows, bounds, isolation, latency, stats) is the
 * engine's.
 */
export interface ShardBatchClient<Item, Answer, Unit> {
  /** The key whose shard `item` is applied on (a card id, an account id). */
  shardKeyOf(item: Item): string;
  /** Opens one batch taken from a lane (folding repeats, ordering, counting its own figures). */
  open(
    batch: readonly QueuedItem<Item, Answer>[],
    context: BatchContext<Item, Answer>,
  ): OpenBatch<Unit>;
}
