import { createHash } from 'node:crypto';
import { MainstayError } from '../errors/mainstay-error.ts';
import type { MigrationSet } from '../migrations/migration.ts';
import type { Queryable } from './router.ts';

/**
 * Idempotency records live in each shard database, in schema `public` so they are copied to the
 * other DC with the data they protect: after a DC failover a retry still finds its first answer.
 * A record is written in the same transaction as the write it guards, so there is never a write
 * without its record or a record without its write.
 */
export const IDEMPOTENCY_MIGRATIONS: MigrationSet = {
  name: 'idempotency',
  migrations: [
    {
      version: 1,
      name: 'idempotency_keys',
      sql: `
CREATE TABLE public.idempotency_keys (
  scope text NOT NULL,
  key text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
  fingerprint text NOT NULL,
  status_code integer,
  response jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created_at ON public.idempotency_keys (created_at);`,
    },
  ],
};

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

/** Deletes records older than the retention (run per shard by a housekeeping loop). */
export async function pruneIdempotencyKeys(
  db: Queryable,
  retentionMs = IDEMPOTENCY_RETENTION_MS,
): Promise<number> {
  const { rowCount } = await db.query(
    `DELETE FROM public.idempotency_keys WHERE created_at < now() - make_interval(secs => $1 / 1000.0)`,
    [retentionMs],
  );
  return rowCount ?? 0;
}
