import { createHash } from 'node:crypto';
import { isEntityId, newEntityId, taggedBucket } from '../../../../data/entity-id.ts';
import { onceInTransaction } from '../../../../data/idempotency.ts';
import type { Router } from '../../../../data/router.ts';
import type { Page, WriteAnswer, WriteContext } from '../../../../data/write-contract.ts';
import { errorSpecOf } from '../../../../errors/error-catalogue.ts';
import { isMainstayError, MainstayError } from '../../../../errors/mainstay-error.ts';
import {
  type BatchItemRow,
  type BatchRow,
  claimStaleBatches,
  countBatchStatuses,
  type ItemResult,
  insertBatch,
  listBatchItems,
  readBatch,
  recordItemResults,
} from '../store/batch-store.ts';
import { type BatchFormat, readBatchFile } from './batch-file.ts';
import type { PaymentTransfers } from './payment-transfers.ts';

/** Items paid at once by a run, then recorded in one statement. */
export const BATCH_CHUNK_SIZE = 256;
/** Items of a chunk in flight at once (same-shard ones still meet in the engine's batches). */
export const BATCH_ITEM_CONCURRENCY = 32;
/** A batch whose heartbeat is older than this is taken over by the resume job, in ms. */
export const BATCH_STALE_MS = 30_000;
/** Stale batches one job pass takes up per shard. */
const STALE_BATCHES_PER_SHARD_MAX = 4;
/** Codes of a definite refusal of one item (its line is decided); any other error is a fault. */
const ITEM_REFUSALS: ReadonlySet<string> = new Set([
  'invalid_request',
  'payment_fee_exceeds_amount',
  'currency_unsupported',
]);

/** A batch as answered: where it is, its counts by status, and its times. */
export interface BatchView extends Omit<BatchRow, 'heartbeatAt'> {
  /** Rows of each status: a ledger status, a line error code, or `waiting`. */
  readonly counts: Readonly<Record<string, number>>;
}

/** What a run may be told (tests stop it between chunks, as a crash would). */
export interface BatchRunOptions {
  readonly afterChunk?: (recorded: number) => void | Promise<void>;
}

/**
 * Batch collection and payment on behalf (decision 50). A file (CSV or JSON Lines,
 * `batch-file.ts`) becomes a batch row and one row per line on the batch's shard, in one
 * transaction under the idempotency key; bad lines are decided at once, each item then becomes
 * one payment (`PaymentTransfers`, kind `batch`) whose id is derived from the batch id and its
 * line number (`batch:<id>:<line>`), so a run that stops anywhere is resumed (by `resume`, or by
 * the job for batches whose heartbeat is stale) and applies nothing twice: an item paid before
 * the stop answers its first outcome, `replayed`.
 */
export class PaymentBatches {
  readonly #router: Router;
  readonly #payments: PaymentTransfers;
  readonly #running = new Map<string, Promise<BatchRow>>();

  constructor(router: Router, payments: PaymentTransfers) {
    this.#router = router;
    this.#payments = payments;
  }

  /**
   * Stores a batch from `file` and starts running it in this process (unless `start` is
   * false). `payment_batch_file_invalid` when the file as a whole cannot be read; the same key
   * with another file is `idempotency_key_reused`.
   */
  async create(
    file: { readonly bytes: Buffer; readonly format: BatchFormat },
    context: WriteContext,
    options: { readonly start?: boolean } = {},
  ): Promise<WriteAnswer<BatchView>> {
    const lines = readBatchFile(file.bytes, file.format);
    const lineCount = lines.reduce((max, line) => Math.max(max, line.line), 0);
    const bucket = this.#router.map.bucketOf(`ledger_payment_batch:${context.idempotencyKey}`);
    const id = newEntityId('pbat', bucket);
    const claim = {
      scope: 'ledger_payment_batch',
      key: context.idempotencyKey,
      fingerprint: `${file.format}:${createHash('sha256').update(file.bytes).digest('base64url')}`,
    };
    const result = await this.#router.write(
      id,
      (tx) =>
        onceInTransaction(tx, claim, async () => {
          await insertBatch(tx, { id, format: file.format, lineCount }, lines);
          return { statusCode: 201, body: { id } };
        }),
      { token: context.token ?? null },
    );
    const batchId = result.value.body.id;
    if (options.start !== false) this.#startInBackground(batchId);
    return {
      value: await this.get(batchId, result.token),
      token: result.token,
      replayed: result.value.replayed,
    };
  }

  /** Batch `id` with its counts (`resource_not_found` when there is none). */
  async get(id: string, token?: string | null): Promise<BatchView> {
    this.#assertCanExist(id);
    const { value } = await this.#router.read(
      id,
      async (db) => {
        const batch = await readBatch(db, id);
        return batch === null ? null : { batch, counts: await countBatchStatuses(db, id) };
      },
      { token: token ?? null },
    );
    if (value === null) throw notFound(id);
    const { heartbeatAt: _, ...batch } = value.batch;
    return { ...batch, counts: Object.fromEntries(value.counts) };
  }

  /** A page of the batch's rows in line order, each with its outcome (cursor: a line number). */
  async items(
    id: string,
    page: { readonly startingAfter?: string; readonly limit: number },
    token?: string | null,
  ): Promise<Page<BatchItemRow>> {
    this.#assertCanExist(id);
    const after = page.startingAfter === undefined ? 0 : cursorLine(page.startingAfter);
    const { value } = await this.#router.read(
      id,
      async (db) =>
        (await readBatch(db, id)) === null
          ? null
          : listBatchItems(db, id, { afterLine: after, limit: page.limit + 1, waitingOnly: false }),
      { token: token ?? null },
    );
    if (value === null) throw notFound(id);
    const data = value.slice(0, page.limit);
    const hasMore = value.length > page.limit;
    const last = data.at(-1);
    return { data, hasMore, nextCursor: hasMore && last ? String(last.line) : null };
  }

  /** Runs batch `id` to its end in this process (joining a run already going) and answers it. */
  async resume(id: string, options: BatchRunOptions = {}): Promise<BatchView> {
    this.#assertCanExist(id);
    await this.run(id, options);
    return this.get(id);
  }

  /**
   * Pays every waiting item of batch `id`, a chunk at a time, recording each chunk's outcomes
   * in one statement. Throws after recording a chunk in which an item met a fault (its line
   * stays waiting for the next run).
   */
  run(id: string, options: BatchRunOptions = {}): Promise<BatchRow> {
    const current = this.#running.get(id);
    if (current !== undefined) return current;
    const run = this.#run(id, options).finally(() => this.#running.delete(id));
    this.#running.set(id, run);
    return run;
  }

  /** Resumes batches on every shard whose process stopped (stale heartbeat); answers how many. */
  async resumeStale(staleMs = BATCH_STALE_MS): Promise<number> {
    let resumed = 0;
    for (const shardId of this.#router.map.shardIds) {
      const { value: ids } = await this.#router.writeToShard(shardId, (tx) =>
        claimStaleBatches(tx, staleMs, STALE_BATCHES_PER_SHARD_MAX),
      );
      for (const id of ids) {
        await this.run(id);
        resumed += 1;
      }
    }
    return resumed;
  }

  #startInBackground(id: string): void {
    // A failed run leaves the batch processing; the resume job takes it up once it is stale.
    this.run(id).catch(() => undefined);
  }

  async #run(id: string, options: BatchRunOptions): Promise<BatchRow> {
    let recorded = 0;
    for (;;) {
      const { value: waiting } = await this.#router.read(
        id,
        (db) =>
          listBatchItems(db, id, { afterLine: 0, limit: BATCH_CHUNK_SIZE, waitingOnly: true }),
        { consistency: 'primary' },
      );
      if (waiting.length === 0) break;
      const settled = await settleAll(waiting, BATCH_ITEM_CONCURRENCY, (item) =>
        this.#payItem(id, item),
      );
      const results: ItemResult[] = [];
      let fault: unknown = null;
      for (const answer of settled) {
        if (answer.status === 'fulfilled') results.push(answer.value);
        else fault ??= answer.reason;
      }
      await this.#router.write(id, (tx) => recordItemResults(tx, id, results));
      recorded += results.length;
      if (fault !== null) throw fault;
      await options.afterChunk?.(recorded);
    }
    const { value } = await this.#router.write(id, async (tx) => {
      await recordItemResults(tx, id, []);
      return readBatch(tx, id);
    });
    if (value === null) throw notFound(id);
    return value;
  }

  /** One item's outcome; a definite refusal of the item is its outcome, a fault throws. */
  async #payItem(batchId: string, item: BatchItemRow): Promise<ItemResult> {
    try {
      const { value } = await this.#payments.pay({
        id: `batch:${batchId}:${item.line}`,
        kind: 'batch',
        payerAccountId: item.debitAccountId ?? '',
        payeeAccountId: item.creditAccountId ?? '',
        amount: item.amount ?? 0n,
        currency: item.currency ?? '',
        ...(item.reference === null ? {} : { reference: item.reference }),
      });
      return {
        line: item.line,
        status: value.status,
        detail: null,
        fee: value.fee,
        replayed: value.replayed,
      };
    } catch (error) {
      if (!isMainstayError(error) || !ITEM_REFUSALS.has(error.code)) throw error;
      const spec = errorSpecOf(error.code);
      return {
        line: item.line,
        status: error.code,
        detail: `${spec.title}: ${error.message}`,
        fee: null,
        replayed: false,
      };
    }
  }

  #assertCanExist(id: string): void {
    const bucket = isEntityId(id, 'pbat') ? taggedBucket(id) : null;
    if (bucket === null || bucket >= this.#router.map.snapshot.bucketCount) throw notFound(id);
  }
}

/** `work` on every item, at most `concurrency` at once; one settled answer per item, in order. */
async function settleAll<T, R>(
  items: readonly T[],
  concurrency: number,
  work: (item: T) => Promise<R>,
): Promise<PromiseSettledResult<R>[]> {
  const answers: PromiseSettledResult<R>[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (let at = next++; at < items.length; at = next++) {
      try {
        answers[at] = { status: 'fulfilled', value: await work(items[at] as T) };
      } catch (reason) {
        answers[at] = { status: 'rejected', reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return answers;
}

function cursorLine(cursor: string): number {
  if (!/^[1-9][0-9]{0,8}$/.test(cursor))
    throw new MainstayError('invalid_request', 'startingAfter must be a cursor from a page', {
      errors: [{ pointer: '/startingAfter', detail: 'must be a cursor from a page' }],
    });
  return Number(cursor);
}

function notFound(id: string): MainstayError {
  return new MainstayError('resource_not_found', `there is no payment batch ${id}`);
}
