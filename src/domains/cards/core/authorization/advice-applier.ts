import { isEntityId, taggedBucket } from '../../../../data/entity-id.ts';
import type { Router } from '../../../../data/router.ts';
import { MainstayError } from '../../../../errors/mainstay-error.ts';
import {
  ADVICE_RESULTS,
  type AdviceOutcome,
  type AdviceResult,
  AUTHORIZATION_STATUSES,
  type AuthorizationAdvice,
  type AuthorizationStatus,
} from './authorization-types.ts';
import { type BatchItem, runAuthorizeBatch } from './authorize-batch.ts';
import { assertWellFormed, isValidAmount } from './request-validation.ts';

/** Per-shard summary of what stand-in decided and what the issuer made of it. */
export interface ReconciliationReport {
  readonly shardId: number;
  readonly counts: Readonly<Record<AdviceResult, number>>;
  /** Exposure per currency, in minor units. */
  readonly exposureByCurrency: Readonly<Record<string, bigint>>;
  /** Sum of all exposure in minor units (meaningful when the shard holds one currency). */
  readonly totalExposure: bigint;
  /** Advices kept in `stand_in_quarantine`: never applied, waiting for an operator. */
  readonly quarantined: number;
}

/** An advice given up on, with the failure that kept it from applying. */
export interface QuarantineEntry {
  readonly advice: AuthorizationAdvice;
  /** A catalogue code, or `sqlstate_<code>` for a database error. */
  readonly errorCode: string;
  readonly errorMessage: string;
  readonly failureCount: number;
}

/** Longest error message kept with a dead letter. */
const QUARANTINE_MESSAGE_LENGTH_MAX = 1_000;

/**
 * Applies stand-in advices to the issuer's books once the issuer path is back, through the same
 * server function as live authorizations (so "would the issuer have approved" is decided by the
 * same code, against the same state) and records each result in `stand_in_reconciliations`.
 * Idempotent: an advice applied again finds its request id stored and is `duplicate_dropped`,
 * and the ledger keeps its first result.
 */
export class StandInAdviceApplier {
  readonly #router: Router;
  readonly #options: { batchSizeMax: number; holdTtlSeconds: number; writeWaitMs: number };

  constructor(
    router: Router,
    options: { batchSizeMax: number; holdTtlSeconds: number; writeWaitMs: number },
  ) {
    this.#router = router;
    this.#options = options;
  }

  /**
   * Applies `advices` (all on `shardId`), in order, one transaction per `batchSizeMax` advices.
   * A malformed advice fails the call with `invalid_request` before anything is written.
   * Repeats of a card + request id within the call go to a later transaction, so the later
   * one is `duplicate_dropped` like a re-application.
   */
  async apply(shardId: number, advices: readonly AuthorizationAdvice[]): Promise<AdviceOutcome[]> {
    const items = advices.map((advice, index) => this.#itemOf(shardId, advice, index));
    const outcomes: AdviceOutcome[] = new Array(items.length);
    for (const chunk of chunksWithoutRepeats(items, this.#options.batchSizeMax)) {
      const { value } = await this.#router.writeToShard(
        shardId,
        (tx) =>
          runAuthorizeBatch(
            tx,
            chunk.map(({ item }) => item),
            this.#options.holdTtlSeconds,
          ),
        { waitMs: this.#options.writeWaitMs },
      );
      chunk.forEach(({ item, index }, position) => {
        const result = value[position];
        outcomes[index] = {
          requestId: item.requestId,
          authorizationId: item.id,
          // 'lost': another process stored the request id meanwhile, a duplicate all the same.
          result: (result === undefined || result.outcome === 'lost'
            ? 'duplicate_dropped'
            : result.outcome) as AdviceResult,
          issuerStatus: (result?.issuerStatus ?? 'duplicate') as AuthorizationStatus,
          exposure: result?.exposure ?? 0n,
        };
      });
    }
    await this.#keepStandInAnswers(shardId, items, outcomes);
    return outcomes;
  }

  /**
   * Advices that met an issuer row for their request: where the statuses differ, the answer
   * stand-in gave is the book entry (`card_keep_stand_in_answer`, decision 37). Rare (an issuer
   * attempt that committed after stand-in had answered), so one statement per advice, in one
   * transaction.
   */
  async #keepStandInAnswers(
    shardId: number,
    items: readonly BatchItem[],
    outcomes: AdviceOutcome[],
  ): Promise<void> {
    const met = outcomes.flatMap((outcome, index) =>
      outcome.result === 'duplicate_dropped' ? [index] : [],
    );
    if (met.length === 0) return;
    const { value } = await this.#router.writeToShard(
      shardId,
      async (tx) => {
        const kept: { result: string; exposure: string }[] = [];
        for (const index of met) {
          const item = items[index] as BatchItem;
          const { rows } = await tx.query<{
            o_result: string;
            o_status: string | null;
            o_id: string | null;
            o_exposure: string;
          }>('SELECT * FROM public.card_keep_stand_in_answer($1, $2, $3, $4, $5, $6, $7)', [
            item.cardId,
            item.requestId,
            item.standInStatus,
            item.amount.toString(),
            item.currency,
            item.decidedAt,
            this.#options.holdTtlSeconds,
          ]);
          const row = rows[0];
          kept.push({ result: row?.o_result ?? 'missing', exposure: row?.o_exposure ?? '0' });
        }
        return kept;
      },
      { waitMs: this.#options.writeWaitMs },
    );
    met.forEach((index, position) => {
      const kept = value[position];
      const before = outcomes[index];
      if (!kept || !before || kept.result !== 'answer_conflict') return;
      outcomes[index] = {
        ...before,
        result: 'answer_conflict',
        exposure: BigInt(kept.exposure),
      };
    });
  }

  /**
   * Keeps an advice out of the way in the shard's `stand_in_quarantine`, in its own
   * transaction; idempotent (a second call for the same authorization id changes nothing).
   * Touches nothing else: the advice is not on the issuer's books.
   */
  async quarantine(shardId: number, entry: QuarantineEntry): Promise<void> {
    const { advice } = entry;
    const json = JSON.stringify(advice, (_, value) =>
      typeof value === 'bigint' ? value.toString() : value,
    );
    const decidedAt =
      advice.decidedAt instanceof Date ? advice.decidedAt.toISOString() : String(advice.decidedAt);
    await this.#router.writeToShard(
      shardId,
      (tx) =>
        tx.query(
          `INSERT INTO public.stand_in_quarantine
             (authorization_id, card_id, request_id, stand_in_status, amount, currency,
              decided_at, error_code, error_message, failure_count, advice)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
           ON CONFLICT (authorization_id) DO NOTHING`,
          [
            String(advice.authorizationId),
            String(advice.cardId),
            String(advice.requestId),
            String(advice.standInStatus),
            String(advice.amount),
            String(advice.currency),
            decidedAt,
            entry.errorCode,
            entry.errorMessage.slice(0, QUARANTINE_MESSAGE_LENGTH_MAX),
            entry.failureCount,
            json,
          ],
        ),
      { waitMs: this.#options.writeWaitMs },
    );
  }

  /** Counts per result and exposure of one shard, read on its primary. */
  async report(shardId: number): Promise<ReconciliationReport> {
    const { value } = await this.#router.readShard(
      shardId,
      async (db) => ({
        ledger: await db.query<{
          result: AdviceResult;
          currency: string;
          n: number;
          exposure: string;
        }>(
          `SELECT result, currency, count(*)::int AS n, sum(exposure_amount)::text AS exposure
             FROM public.stand_in_reconciliations GROUP BY result, currency`,
        ),
        quarantined: await db.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM public.stand_in_quarantine',
        ),
      }),
      { consistency: 'primary' },
    );
    const counts = Object.fromEntries(ADVICE_RESULTS.map((result) => [result, 0])) as Record<
      AdviceResult,
      number
    >;
    const exposureByCurrency: Record<string, bigint> = {};
    let totalExposure = 0n;
    for (const row of value.ledger.rows) {
      counts[row.result] += row.n;
      const exposure = BigInt(row.exposure);
      if (exposure > 0n)
        exposureByCurrency[row.currency] = (exposureByCurrency[row.currency] ?? 0n) + exposure;
      totalExposure += exposure;
    }
    const quarantinedCount = value.quarantined.rows[0]?.n ?? 0;
    return { shardId, counts, exposureByCurrency, totalExposure, quarantined: quarantinedCount };
  }

  #itemOf(shardId: number, advice: AuthorizationAdvice, index: number): BatchItem {
    const fail = (detail: string) =>
      new MainstayError('invalid_request', `advice ${index} is invalid: ${detail}`);
    assertWellFormed(advice);
    if (!isValidAmount(advice.amount)) throw fail('amount must be 1 to 2^53 - 1 minor units');
    if (!isEntityId(advice.cardId, 'card')) throw fail('cardId is not a card id');
    if (this.#router.map.shardOf(advice.cardId) !== shardId)
      throw fail(`card ${advice.cardId} is not on shard ${shardId}`);
    if (
      !isEntityId(advice.authorizationId, 'auth') ||
      taggedBucket(advice.authorizationId) !== taggedBucket(advice.cardId)
    )
      throw fail("authorizationId must be an auth id in the card's bucket");
    if (!Object.hasOwn(AUTHORIZATION_STATUSES, advice.standInStatus))
      throw fail(`unknown stand-in status ${String(advice.standInStatus)}`);
    const decidedAt = new Date(advice.decidedAt);
    if (Number.isNaN(decidedAt.getTime())) throw fail('decidedAt is not a time');
    return {
      id: advice.authorizationId,
      requestId: advice.requestId,
      cardId: advice.cardId,
      amount: advice.amount,
      currency: advice.currency,
      merchantId: advice.merchantId,
      merchantCategory: advice.merchantCategory,
      merchantReference: advice.merchantReference ?? null,
      standInStatus: advice.standInStatus,
      decidedAt,
    };
  }
}

/**
 * Splits items into chunks of at most `sizeMax`, in order, never putting two items with the
 * same card and request id in one chunk (the server function requires that).
 */
function chunksWithoutRepeats(
  items: readonly BatchItem[],
  sizeMax: number,
): { item: BatchItem; index: number }[][] {
  const chunks: { item: BatchItem; index: number }[][] = [];
  let current: { item: BatchItem; index: number }[] = [];
  let keys = new Set<string>();
  items.forEach((item, index) => {
    const key = `${item.cardId}\u0000${item.requestId}`;
    if (current.length >= sizeMax || keys.has(key)) {
      chunks.push(current);
      current = [];
      keys = new Set();
    }
    current.push({ item, index });
    keys.add(key);
  });
  if (current.length > 0) chunks.push(current);
  return chunks;
}
