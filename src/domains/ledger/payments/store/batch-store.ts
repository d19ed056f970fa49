/** The SQL of payment batches and their items (decision 50), on the shard of the batch's id. */
import type { Queryable } from '../../../../data/primary-writer.ts';
import type { BatchFormat, BatchLine } from '../core/batch-file.ts';

/** Where a batch is: items still waiting, or every line decided. */
export const BATCH_STATES = ['processing', 'completed'] as const;
export type BatchState = (typeof BATCH_STATES)[number];

/** A batch as stored. */
export interface BatchRow {
  readonly id: string;
  readonly format: BatchFormat;
  readonly state: BatchState;
  readonly lineCount: number;
  readonly itemCount: number;
  readonly heartbeatAt: Date;
  readonly createdAt: Date;
  readonly completedAt: Date | null;
}

/** One line's row: its fields (none for a bad line) and, once decided, its outcome. */
export interface BatchItemRow {
  readonly line: number;
  readonly debitAccountId: string | null;
  readonly creditAccountId: string | null;
  readonly amount: bigint | null;
  readonly currency: string | null;
  readonly reference: string | null;
  readonly state: 'waiting' | 'done';
  readonly status: string | null;
  readonly detail: string | null;
  readonly fee: bigint | null;
  readonly replayed: boolean;
}

/** An item's outcome, as a run records it. */
export interface ItemResult {
  readonly line: number;
  readonly status: string;
  readonly detail: string | null;
  readonly fee: bigint | null;
  readonly replayed: boolean;
}

const INSERT_CHUNK = 1_000;

/** Stores a new batch and one row per line (items waiting, bad lines decided). */
export async function insertBatch(
  tx: Queryable,
  batch: { id: string; format: BatchFormat; lineCount: number },
  lines: readonly BatchLine[],
): Promise<void> {
  const itemCount = lines.filter((line) => 'item' in line).length;
  await tx.query(
    `INSERT INTO public.ledger_payment_batches (id, format, state, line_count, item_count,
            heartbeat_at, created_at)
     VALUES ($1, $2, 'processing', $3, $4, clock_timestamp(), clock_timestamp())`,
    [batch.id, batch.format, batch.lineCount, itemCount],
  );
  for (let at = 0; at < lines.length; at += INSERT_CHUNK) {
    const chunk = lines.slice(at, at + INSERT_CHUNK);
    const pick = <T>(f: (item: Extract<BatchLine, { item: unknown }>['item']) => T) =>
      chunk.map((line) => ('item' in line ? f(line.item) : null));
    await tx.query(
      `INSERT INTO public.ledger_payment_batch_items (batch_id, line, debit_account_id,
              credit_account_id, amount, currency, reference, state, status, detail, decided_at)
       SELECT $1, l, d, c, a, cur, r, CASE WHEN s IS NULL THEN 'waiting' ELSE 'done' END, s, dt,
              CASE WHEN s IS NULL THEN NULL ELSE clock_timestamp() END
         FROM unnest($2::integer[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[],
                     $8::text[], $9::text[]) AS t(l, d, c, a, cur, r, s, dt)`,
      [
        batch.id,
        chunk.map((line) => line.line),
        pick((item) => item.debitAccountId),
        pick((item) => item.creditAccountId),
        pick((item) => item.amount.toString()),
        pick((item) => item.currency),
        pick((item) => item.reference),
        chunk.map((line) => ('error' in line ? line.error : null)),
        chunk.map((line) => ('error' in line ? line.detail : null)),
      ],
    );
  }
}

/** Batch `id`, or `null`. */
export async function readBatch(db: Queryable, id: string): Promise<BatchRow | null> {
  const { rows } = await db.query<{
    id: string;
    format: BatchFormat;
    state: BatchState;
    line_count: number;
    item_count: number;
    heartbeat_at: Date;
    created_at: Date;
    completed_at: Date | null;
  }>('SELECT * FROM public.ledger_payment_batches WHERE id = $1', [id]);
  const row = rows[0];
  if (row === undefined) return null;
  return {
    id: row.id,
    format: row.format,
    state: row.state,
    lineCount: row.line_count,
    itemCount: row.item_count,
    heartbeatAt: row.heartbeat_at,
    createdAt: row.created_at,
    completedAt: row.completed_at,
  };
}

/** How many rows of batch `id` have each status (`waiting` for those not decided). */
export async function countBatchStatuses(db: Queryable, id: string): Promise<Map<string, number>> {
  const { rows } = await db.query<{ status: string; n: number }>(
    `SELECT coalesce(status, 'waiting') AS status, count(*)::int AS n
       FROM public.ledger_payment_batch_items WHERE batch_id = $1 GROUP BY 1`,
    [id],
  );
  return new Map(rows.map((row) => [row.status, row.n]));
}

/** Rows of batch `id` after line `afterLine`, in line order; only waiting ones when asked. */
export async function listBatchItems(
  db: Queryable,
  id: string,
  page: { afterLine: number; limit: number; waitingOnly: boolean },
): Promise<BatchItemRow[]> {
  const { rows } = await db.query<{
    line: number;
    debit_account_id: string | null;
    credit_account_id: string | null;
    amount: string | null;
    currency: string | null;
    reference: string | null;
    state: 'waiting' | 'done';
    status: string | null;
    detail: string | null;
    fee: string | null;
    replayed: boolean;
  }>(
    `SELECT line, debit_account_id, credit_account_id, amount, currency, reference, state,
            status, detail, fee, replayed
       FROM public.ledger_payment_batch_items
      WHERE batch_id = $1 AND line > $2 AND (NOT $4 OR state = 'waiting')
      ORDER BY line LIMIT $3`,
    [id, page.afterLine, page.limit, page.waitingOnly],
  );
  return rows.map((row) => ({
    line: row.line,
    debitAccountId: row.debit_account_id,
    creditAccountId: row.credit_account_id,
    amount: row.amount === null ? null : BigInt(row.amount),
    currency: row.currency,
    reference: row.reference,
    state: row.state,
    status: row.status,
    detail: row.detail,
    fee: row.fee === null ? null : BigInt(row.fee),
    replayed: row.replayed,
  }));
}

/**
 * Records `results` on waiting rows of batch `id` (a row already decided keeps its first
 * outcome), moves the heartbeat, and completes the batch when nothing waits any more.
 */
export async function recordItemResults(
  tx: Queryable,
  id: string,
  results: readonly ItemResult[],
): Promise<BatchState> {
  if (results.length > 0)
    await tx.query(
      `UPDATE public.ledger_payment_batch_items i
          SET state = 'done', status = t.s, detail = t.dt, fee = t.f, replayed = t.rp,
              decided_at = clock_timestamp()
         FROM unnest($2::integer[], $3::text[], $4::text[], $5::bigint[], $6::boolean[])
              AS t(l, s, dt, f, rp)
        WHERE i.batch_id = $1 AND i.line = t.l AND i.state = 'waiting'`,
      [
        id,
        results.map((result) => result.line),
        results.map((result) => result.status),
        results.map((result) => result.detail),
        results.map((result) => (result.fee === null ? null : result.fee.toString())),
        results.map((result) => result.replayed),
      ],
    );
  const { rows } = await tx.query<{ state: BatchState }>(
    `UPDATE public.ledger_payment_batches b
        SET heartbeat_at = clock_timestamp(),
            state = CASE WHEN w.waiting THEN 'processing' ELSE 'completed' END,
            completed_at = CASE WHEN w.waiting THEN NULL ELSE coalesce(b.completed_at, clock_timestamp()) END
       FROM (SELECT EXISTS (SELECT 1 FROM public.ledger_payment_batch_items
                             WHERE batch_id = $1 AND state = 'waiting') AS waiting) w
      WHERE b.id = $1 RETURNING b.state`,
    [id],
  );
  return rows[0]?.state ?? 'completed';
}

/**
 * Takes up to `limit` batches still processing whose heartbeat is older than `staleMs` (their
 * process stopped), moving the heartbeat so another looking at the same time passes them by.
 */
export async function claimStaleBatches(
  tx: Queryable,
  staleMs: number,
  limit: number,
): Promise<string[]> {
  const { rows } = await tx.query<{ id: string }>(
    `UPDATE public.ledger_payment_batches SET heartbeat_at = clock_timestamp()
      WHERE id IN (SELECT id FROM public.ledger_payment_batches
                    WHERE state = 'processing'
                      AND heartbeat_at < clock_timestamp() - make_interval(secs => $1::float8 / 1000)
                    ORDER BY heartbeat_at LIMIT $2 FOR UPDATE SKIP LOCKED)
      RETURNING id`,
    [staleMs, limit],
  );
  return rows.map((row) => row.id);
}
