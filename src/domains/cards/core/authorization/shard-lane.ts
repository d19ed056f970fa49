import type { WriteAnswer } from '../../../../data/write-contract.ts';
import type { HoldChangeResult } from './authorization-service.ts';
import type { AuthorizationOutcome, AuthorizationRequest } from './authorization-types.ts';
import type { MoveItem } from './authorize-batch.ts';
import { LatencyWindow } from './latency-window.ts';

/**
 * What the engine answers one request with: the outcome and, when written, the batch commit's
 * token (`null` for a decline that wrote nothing).
 */
export type EngineAnswer = WriteAnswer<AuthorizationOutcome>;

/** One queued authorization request. */
export interface PendingRequest {
  readonly kind: 'authorize';
  readonly request: AuthorizationRequest;
  /** The id the authorization gets if it is new (minted in the card's bucket). */
  readonly id: string;
  readonly enqueuedAtMs: number;
  /** Set when the request went round once more (its batch could not place it). */
  requeued: boolean;
  readonly resolve: (answer: EngineAnswer) => void;
  readonly reject: (error: unknown) => void;
}

/** One queued capture or reversal of a hold. */
export interface PendingMove {
  readonly kind: 'move';
  readonly move: MoveItem;
  readonly enqueuedAtMs: number;
  readonly resolve: (answer: HoldChangeResult) => void;
  readonly reject: (error: unknown) => void;
}

/** Anything a lane's single writer applies. */
export type LaneItem = PendingRequest | PendingMove;

/**
 * The queue of one shard: a bounded FIFO plus the state of its single writer. A lane has at most
 * one batch in flight; requests and hold moves arriving meanwhile wait and go out together in
 * the next batch (group commit), which is what makes throughput grow with load instead of
 * latency.
 */
export class ShardLane {
  readonly shardId: number;
  readonly latency: LatencyWindow;
  #items: LaneItem[] = [];
  #head = 0;
  /** The batch in flight, if any. */
  running: Promise<void> | null = null;
  /** Cancels the pending batch-window wake-up, if one is set. */
  cancelWake: (() => void) | null = null;

  constructor(shardId: number, latencyWindowMs: number) {
    this.shardId = shardId;
    this.latency = new LatencyWindow(latencyWindowMs);
  }

  /** Items waiting for a batch (not counting the one in flight). */
  get depth(): number {
    return this.#items.length - this.#head;
  }

  /** When the oldest waiting item arrived (`performance.now()` ms), or `null`. */
  get oldestEnqueuedAtMs(): number | null {
    return this.#items[this.#head]?.enqueuedAtMs ?? null;
  }

  push(item: LaneItem): void {
    this.#items.push(item);
  }

  /** Puts items back at the front, ahead of newer arrivals. */
  requeue(items: readonly LaneItem[]): void {
    this.#items = [...items, ...this.#items.slice(this.#head)];
    this.#head = 0;
  }

  /** Removes and returns up to `countMax` items from the front. */
  take(countMax: number): LaneItem[] {
    const end = Math.min(this.#items.length, this.#head + countMax);
    const taken = this.#items.slice(this.#head, end);
    this.#head = end;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head > 4_096 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return taken;
  }
}
