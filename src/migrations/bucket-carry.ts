import type pg from 'pg';

/**
 * How a migration set's `pinned` rows follow a bucket that moves (decision 58). Pinned rows stay
 * with their shard (a ledger's books: a transfer joins accounts of any bucket on it), so a move
 * refuses while one names the moving bucket, unless the set that declares the table carries
 * it. The carrier works in three places:
 *
 * - after capture began, outside the pause: `prepare` reads what it will carry (a scan is fine
 *   here) and copies to the target what cannot change any more (answers to retries);
 * - under the cutover's pause, with every writer of the bucket held: `hold` locks what `depart`
 *   will change, `depart` closes the bucket's part out on the source in the cutover's own
 *   transaction (so it commits with the fence or not at all), `arrive` makes it arrive in the
 *   target's transaction, committed after the source's. Under the pause only rows found by key
 *   are read: what `prepare` found, and the rows logged as written naming the bucket since
 *   capture began ({@link CarriedMove.logged}), never a scan of a table;
 * - `arrive` reads only what the source holds, so a move resumed after a crash between the two
 *   commits makes it arrive again, and a repeat changes nothing.
 */
export interface BucketCarrier {
  /** The pinned tables whose rows naming the bucket the carrier takes care of. */
  readonly tables: readonly string[];
  /**
   * Why the bucket's rows cannot be carried now (state that needs both shards, such as an open
   * pending transfer), one sentence each; none when they can. Read on the source at the
   * preflight and once capture began (outside the pause: it may scan).
   */
  refusals(source: pg.Pool, move: CarriedMove): Promise<string[]>;
  /** After capture began, outside the pause: what to carry; copies what can be copied early. */
  prepare(source: pg.Pool, target: pg.Pool, move: CarriedMove): Promise<CarryPlan>;
  /**
   * First thing in the cutover's transaction, before the bucket's move row is taken: locks
   * what `depart` will change, in the order the set's writers lock it. A writer takes its rows
   * before its pinned rows reach the fence, so taking them after the move row would wait for a
   * writer that waits for the move row: a deadlock.
   */
  hold(source: pg.ClientBase, move: CarriedMove, plan: CarryPlan): Promise<void>;
  /**
   * On the source, in the cutover's transaction: closes the bucket's part out; how many rows.
   * Throws a `MainstayError` to refuse (state written during the copy that needs both shards).
   */
  depart(source: pg.ClientBase, move: CarriedMove, plan: CarryPlan): Promise<number>;
  /**
   * On the target, in its transaction: makes arrive what the source departed (read from
   * `source`, which sees the departure); safe to repeat. Throws a `MainstayError` to refuse
   * (a row that collides with one of the target's), and then nothing commits on either side.
   */
  arrive(
    source: pg.ClientBase,
    target: pg.ClientBase,
    move: CarriedMove,
    plan: CarryPlan,
  ): Promise<number>;
  /** A move given up before its cutover: removes what `prepare` copied to the target. */
  abandon(target: pg.Pool, move: CarriedMove): Promise<void>;
}

/** What a carrier's `prepare` found, handed back to it under the pause. */
export type CarryPlan = unknown;

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
  /**
   * The primary keys of the rows of pinned `table` written (inserted or updated) naming the
   * bucket since capture began, each once; complete under the pause.
   */
  logged(db: pg.ClientBase, table: string): Promise<Record<string, unknown>[]>;
}
