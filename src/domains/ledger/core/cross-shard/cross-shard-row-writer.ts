import type { Router } from '../../../../data/router.ts';
import type { ShardBatchOptions } from '../../../../engine/batch-client.ts';
import { type Committed, ListBatchClient } from '../../../../engine/list-batch-client.ts';
import { ShardBatchEngine } from '../../../../engine/shard-batch-engine.ts';
import {
  applyCrossShardWrites,
  type CrossShardMove,
  type CrossShardRow,
  type CrossShardState,
  type CrossShardWrite,
  type CrossShardWritten,
} from '../../store/cross-shard-store.ts';

/** A write and the key of its row's shard (the debtor's account). */
interface RowWrite {
  readonly shardKey: string;
  readonly write: CrossShardWrite;
}

/**
 * The coordinator rows' writes of every driver step (decision 49, "Across shards"), batched per
 * shard on the engine of `src/engine/`: a step's state change no longer costs a transaction and
 * a synchronous commit of its own, so transfers driven at once (by clients, or by the job's
 * workers) share them. Each write keeps its meaning alone (`applyCrossShardWrites`).
 */
export class CrossShardRowWriter {
  readonly #engine: ShardBatchEngine<RowWrite, Committed<CrossShardWritten>, unknown>;

  constructor(router: Router, options: ShardBatchOptions = {}) {
    this.#engine = new ShardBatchEngine(
      router,
      'cross-shard coordinator',
      new ListBatchClient(
        (item: RowWrite) => item.shardKey,
        (tx, items) =>
          applyCrossShardWrites(
            tx,
            items.map((item) => item.write),
          ),
      ),
      options,
    );
  }

  /** Moves `row` on from its state: the row after the move, `null` if another driver did. */
  async move(
    row: CrossShardRow,
    to: CrossShardState,
    change: CrossShardMove = {},
  ): Promise<CrossShardRow | null> {
    const { value: written } = await this.#engine.submit({
      shardKey: row.debitAccountId,
      write: { kind: 'move', id: row.id, from: row.state, to, change },
    });
    return written.kind === 'move' ? written.row : null;
  }

  /** Fixes the creditor shard's stripe of `row` (the first choice stands): the stripe fixed. */
  async fixCreditTransit(row: CrossShardRow, stripe: string): Promise<string> {
    const { value: written } = await this.#engine.submit({
      shardKey: row.debitAccountId,
      write: { kind: 'transit', id: row.id, stripe },
    });
    if (written.kind !== 'transit' || written.stripe === null)
      throw new Error(`no cross-shard transfer ${row.id} on its shard`);
    return written.stripe;
  }

  /** Refuses new writes and waits for the batches in flight. */
  close(): Promise<void> {
    return this.#engine.close();
  }
}
