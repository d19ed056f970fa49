import type pg from 'pg';

/**
 * How a migration set's `pinned` rows follow a bucket that moves (decision 58). Pinned rows stay
 * with their shard (a ledger's books: a transfer joins accounts of any bucket on it), so a move
 * refuses while one names the moving bucket, unless the set that declares the table carries
 * it: under the cutover's pause, with every writer of the bucket held, the carrier closes the
 * bucket's part out on the source (in the cutover's own transaction, so it commits with the
 * fence or not at all), then makes it arrive on the target (in the target's transaction,
 * committed after the source's; it reads only what the source holds, so a move resumed after a
 * crash between the two commits makes it arrive again, and a repeat changes nothing).
 */
export interface BucketCarrier {
  /** The pinned tables whose rows naming the bucket the carrier takes care of. */
  readonly tables: readonly string[];
  /**
   * Why the bucket's rows cannot be carried now (state that needs both shards, such as an open
   * pending transfer), one sentence each; none when they can. Read on the source, at the
   * preflight and again under the pause.
   */
  refusals(source: pg.ClientBase | pg.Pool, move: CarriedMove): Promise<string[]>;
  /**
   * On the source, first thing in the cutover's transaction, before the bucket's move row is
   * taken: locks what `depart` will change, in the order the set's writers lock it. A writer
   * takes its rows before its pinned rows reach the fence, so taking them after the move row
   * would wait for a writer that waits for the move row: a deadlock.
   */
  hold(source: pg.ClientBase, move: CarriedMove): Promise<void>;
  /** On the source, in the cutover's transaction: closes the bucket's part out; how many rows. */
  depart(source: pg.ClientBase, move: CarriedMove): Promise<number>;
  /**
   * On the target, in its transaction: makes arrive what the source departed (read from
   * `source`, which sees the departure); safe to repeat. Throws a `MainstayError` to refuse
   * (a row that collides with one of the target's), and then nothing commits on either side.
   */
  arrive(source: pg.ClientBase, target: pg.ClientBase, move: CarriedMove): Promise<number>;
}

/** The move a carrier works for. */
export interface CarriedMove {
  readonly bucket: number;
  readonly bucketCount: number;
  readonly fromShard: number;
  readonly toShard: number;
  /** For each side, a bucket of its shard that is not moving: where rows of the shard's own go. */
  readonly sourceHomeBucket: number;
  readonly targetHomeBucket: number;
  /** SQL: whether the key in `expression` (text) names the moving bucket, as the router hashes. */
  namesBucket(expression: string): string;
}
