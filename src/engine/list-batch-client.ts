import type { Queryable } from '../data/primary-writer.ts';
import type { TokenText } from '../data/write-contract.ts';
import type { BatchContext, OpenBatch, QueuedItem, ShardBatchClient } from './batch-client.ts';

/** An item's result, and the token of the commit that made it (covering the whole batch). */
export interface Committed<Answer> {
  readonly value: Answer;
  readonly token: TokenText;
}

/**
 * The simplest client of a `ShardBatchEngine`: a batch is its items, in order, given to one
 * function in one transaction on their shard, which answers one result per item; each item is
 * answered with its result and the batch's commit token (the one write contract). Every item is
 * a unit of its own, so isolation can try any item alone. For writes whose batch function needs
 * nothing but the list (a coordinator's state changes, a list of starts).
 *
 * @example
 * const engine = new ShardBatchEngine(router, 'moves', new ListBatchClient(
 *   (move: Move) => move.accountId, (tx, moves) => applyMoves(tx, moves)));
 */
export class ListBatchClient<Item, Answer>
  implements ShardBatchClient<Item, Committed<Answer>, QueuedItem<Item, Committed<Answer>>>
{
  readonly #keyOf: (item: Item) => string;
  readonly #apply: (tx: Queryable, items: readonly Item[]) => Promise<readonly Answer[]>;

  /**
   * `keyOf` names an item's shard (any key of it); `apply` runs in the batch's transaction and
   * answers exactly one result per item, in order.
   */
  constructor(
    keyOf: (item: Item) => string,
    apply: (tx: Queryable, items: readonly Item[]) => Promise<readonly Answer[]>,
  ) {
    this.#keyOf = keyOf;
    this.#apply = apply;
  }

  shardKeyOf(item: Item): string {
    return this.#keyOf(item);
  }

  open(
    batch: readonly QueuedItem<Item, Committed<Answer>>[],
    context: BatchContext<Item, Committed<Answer>>,
  ): OpenBatch<QueuedItem<Item, Committed<Answer>>> {
    return {
      units: batch,
      requestCount: batch.length,
      apply: async (part) => {
        const first = part[0];
        if (first === undefined) return;
        const items = part.map((entry) => entry.item);
        const { value, token } = await context.router.write(
          this.#keyOf(first.item),
          (tx) => this.#apply(tx, items),
          { waitMs: context.settings.writeWaitMs },
        );
        if (value.length !== part.length)
          throw new Error(`a batch of ${part.length} was answered ${value.length} times`);
        part.forEach((entry, index) => {
          entry.resolve({ value: value[index] as Answer, token });
        });
      },
      fail: (entry, error) => entry.reject(error),
    };
  }
}
