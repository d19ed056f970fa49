import { MainstayError } from '../errors/mainstay-error.ts';

/**
 * A batch whose shard groups did not all commit: `committed` holds the results of the groups
 * that did (with a token covering them), `failedShardId` the group that failed; the groups after
 * it were not tried. The cause is the failed group's error.
 */
export class BatchPartiallyWrittenError<T> extends MainstayError {
  readonly committed: ReadonlyMap<number, T>;
  readonly token: string;
  readonly failedShardId: number;

  constructor(
    committed: ReadonlyMap<number, T>,
    token: string,
    failedShardId: number,
    cause: unknown,
  ) {
    super(
      'batch_partially_written',
      `shard groups ${[...committed.keys()].join(', ')} committed; shard ${failedShardId} failed (${cause instanceof Error ? cause.message : String(cause)}); the rest was not tried`,
      { cause },
    );
    this.committed = committed;
    this.token = token;
    this.failedShardId = failedShardId;
  }
}
