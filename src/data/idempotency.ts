import { createHash } from 'node:crypto';
import { MainstayError } from '../errors/mainstay-error.ts';
import type { JobLease, JobSpec } from '../jobs/job-runner.ts';
import type { MigrationSet } from '../migrations/migration.ts';
import { loadMigrationSet } from '../migrations/migration-files.ts';
import type { Queryable } from './router.ts';

/**
 * Idempotency records live in each shard database, in schema `public` so they are copied to the
 * other DC with the data they protect: after a DC failover a retry still finds its first answer.
 * A record is written in the same transaction as the write it guards, so there is never a write
 * without its record or a record without its write.
 */
export const IDEMPOTENCY_MIGRATIONS: MigrationSet = loadMigrationSet(
  'idempotency',
  new URL('./sql/idempotency/', import.meta.url),
  // A record holds the client's key, not the entity's: copied with a moving bucket, kept on the
  // source until it expires, so a retry after the move still finds its first answer.
  { idempotency_keys: { kind: 'copy' } },
);

/** How long records are kept at least (the API promises 24 hours). */
export const IDEMPOTENCY_RETENTION_MS = 24 * 60 * 60 * 1000;

/** The first answer to a request, replayed for retries. */
export interface StoredResponse<T> {
  readonly statusCode: number;
  readonly body: T;
}

/** A stable fingerprint of a request's fields (keys sorted, so field order does not matter). */
export function fingerprintOf(value: unknown): string {
  return createHash('sha256').update(stableJson(value)).digest('base64url');
}

function stableJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    return JSON.stringify(typeof value === 'bigint' ? value.toString() : value) ?? 'null';
  }
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, field]) => field !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([key, field]) => `${JSON.stringify(key)}:${stableJson(field)}`).join(',')}}`;
}

/**
 * Runs `work` at most once per `(scope, key)`, inside the caller's write transaction `tx`.
 * The first call claims the key (a concurrent call with the same key waits on the claim until
 * the first commits or rolls back), runs `work` and stores its answer; a retry with the same
 * fingerprint gets the stored answer with `replayed: true`; the same key with another
 * fingerprint fails with `idempotency_key_reused`. If `work` throws, the transaction rolls back
 * and the key stays free.
 */
export async function onceInTransaction<T>(
  tx: Queryable,
  claim: { readonly scope: string; readonly key: string; readonly fingerprint: string },
  work: () => Promise<StoredResponse<T>>,
): Promise<StoredResponse<T> & { readonly replayed: boolean }> {
  const inserted = await tx.query(
    `INSERT INTO public.idempotency_keys (scope, key, fingerprint) VALUES ($1, $2, $3)
     ON CONFLICT (scope, key) DO NOTHING`,
    [claim.scope, claim.key, claim.fingerprint],
  );
  if (inserted.rowCount === 1) {
    const response = await work();
    await tx.query(
      'UPDATE public.idempotency_keys SET status_code = $3, response = $4 WHERE scope = $1 AND key = $2',
      [claim.scope, claim.key, response.statusCode, JSON.stringify(response.body)],
    );
    return { ...response, replayed: false };
  }
  const { rows } = await tx.query<{
    fingerprint: string;
    status_code: number | null;
    response: T | null;
  }>(
    'SELECT fingerprint, status_code, response FROM public.idempotency_keys WHERE scope = $1 AND key = $2',
    [claim.scope, claim.key],
  );
  const stored = rows[0];
  if (!stored || stored.fingerprint !== claim.fingerprint) {
    throw new MainstayError(
      'idempotency_key_reused',
      `idempotency key "${claim.key}" was already used with a different request`,
    );
  }
  if (stored.status_code === null || stored.response === null) {
    // Only possible if a claim committed without its answer, which onceInTransaction never does.
    throw new MainstayError('internal_error', `idempotency key "${claim.key}" has no answer`);
  }
  return { statusCode: stored.status_code, body: stored.response, replayed: true };
}

/** Rows one pruning statement deletes at most, so each is a short transaction. */
export const IDEMPOTENCY_PRUNE_BATCH_SIZE_MAX = 1_000;
/** Statements one shard's pruning runs at most per run; what is left waits for the next run. */
const PRUNE_BATCH_COUNT_MAX = 1_000;
/** How long a pruning statement waits for a shard's primary (during a failover) before failing. */
const PRUNE_PRIMARY_WAIT_MS = 1_000;

/**
 * Deletes up to `batchSizeMax` records older than the retention, oldest first, and returns how
 * many it deleted (run repeatedly, per shard, by {@link idempotencyPruningJob}).
 */
export async function pruneIdempotencyKeys(
  db: Queryable,
  retentionMs = IDEMPOTENCY_RETENTION_MS,
  batchSizeMax = IDEMPOTENCY_PRUNE_BATCH_SIZE_MAX,
): Promise<number> {
  const { rowCount } = await db.query(
    `DELETE FROM public.idempotency_keys WHERE (scope, key) IN (
       SELECT scope, key FROM public.idempotency_keys
       WHERE created_at < now() - make_interval(secs => $1 / 1000.0)
       ORDER BY created_at LIMIT $2)`,
    [retentionMs, batchSizeMax],
  );
  return rowCount ?? 0;
}

/** What pruning needs of a router: the shards now, and a transaction on a shard's primary. */
export interface ShardPrimaries {
  readonly map: { readonly shardIds: readonly number[] };
  writeToShard<T>(
    shardId: number,
    work: (tx: Queryable) => Promise<T>,
    options?: { waitMs?: number },
  ): Promise<{ readonly value: T }>;
}

/** Options of {@link idempotencyPruningJob}. */
export interface IdempotencyPruningOptions {
  /** How long records are kept: at least {@link IDEMPOTENCY_RETENTION_MS} (the API's promise). */
  readonly retentionMs: number;
  /** One API process at a time prunes, the one holding this lease. */
  readonly lease?: JobLease;
  /** Hourly by default; the first run comes at start, after a jitter of up to `jitterMs`. */
  readonly intervalMs?: number;
  /** Five minutes by default, so processes started together do not prune together. */
  readonly jitterMs?: number;
  /** Ten minutes by default; a run cut short leaves the rest to the next run. */
  readonly runTimeoutMs?: number;
  readonly batchSizeMax?: number;
}

/**
 * The job that keeps `idempotency_keys` bounded: on every shard's primary it deletes the records
 * older than the retention, in batches of `batchSizeMax` rows (one short transaction each) until
 * none is left, the run's signal aborts, or `PRUNE_BATCH_COUNT_MAX` batches ran. A shard whose
 * primary cannot be reached fails the run after the other shards were pruned. A retry within
 * the retention still finds its record (it replays); one after it runs as a new request.
 */
export function idempotencyPruningJob(
  router: ShardPrimaries,
  options: IdempotencyPruningOptions,
): JobSpec {
  const { retentionMs, batchSizeMax = IDEMPOTENCY_PRUNE_BATCH_SIZE_MAX } = options;
  if (!Number.isSafeInteger(retentionMs) || retentionMs < IDEMPOTENCY_RETENTION_MS)
    throw new RangeError(
      `idempotency records are kept at least ${IDEMPOTENCY_RETENTION_MS} ms, got ${retentionMs}`,
    );
  if (!Number.isSafeInteger(batchSizeMax) || batchSizeMax < 1)
    throw new RangeError(`batchSizeMax must be a positive integer, got ${batchSizeMax}`);
  return {
    name: 'idempotency-prune',
    intervalMs: options.intervalMs ?? 60 * 60 * 1000,
    jitterMs: options.jitterMs ?? 5 * 60 * 1000,
    runTimeoutMs: options.runTimeoutMs ?? 10 * 60 * 1000,
    runAtStart: true,
    ...(options.lease ? { lease: options.lease } : {}),
    run: (signal) => pruneEveryShard(router, retentionMs, batchSizeMax, signal),
  };
}

async function pruneEveryShard(
  router: ShardPrimaries,
  retentionMs: number,
  batchSizeMax: number,
  signal: AbortSignal,
): Promise<void> {
  const failed: { shardId: number; error: unknown }[] = [];
  for (const shardId of router.map.shardIds) {
    try {
      for (let batch = 0; batch < PRUNE_BATCH_COUNT_MAX && !signal.aborted; batch += 1) {
        const { value: deleted } = await router.writeToShard(
          shardId,
          (tx) => pruneIdempotencyKeys(tx, retentionMs, batchSizeMax),
          { waitMs: PRUNE_PRIMARY_WAIT_MS },
        );
        if (deleted < batchSizeMax) break;
      }
    } catch (error) {
      // One shard down does not keep the others growing.
      failed.push({ shardId, error });
    }
  }
  const first = failed[0];
  if (first) {
    const reason = first.error instanceof Error ? first.error.message : String(first.error);
    throw new AggregateError(
      failed.map((f) => f.error),
      `pruning idempotency records failed on shard ${failed.map((f) => f.shardId).join(', ')}: ${reason}`,
    );
  }
}
