import type { Router } from '../../../../data/router.ts';
import type { ShardBatchOptions } from '../../../../engine/batch-client.ts';
import { type Committed, ListBatchClient } from '../../../../engine/list-batch-client.ts';
import { ShardBatchEngine } from '../../../../engine/shard-batch-engine.ts';
import {
  type FieldError,
  isMainstayError,
  MainstayError,
} from '../../../../errors/mainstay-error.ts';
import {
  type CrossShardRow,
  type CrossShardStart,
  type CrossShardStarted,
  readCrossShard,
  readLegs,
  startCrossShards,
} from '../../store/cross-shard-store.ts';
import { twoAccountMoveErrors } from '../ledger-request-validation.ts';
import { LEDGER_STATUSES, type LedgerStatus } from '../ledger-types.ts';
import {
  CREDIT_SIDE_LEGS,
  CROSS_SHARD_DEFAULTS,
  CROSS_SHARD_ID_LENGTH_MAX,
  type CrossShardAnswer,
  type CrossShardInput,
  type CrossShardSettings,
  type CrossShardView,
  DEBIT_SIDE_LEGS,
  legId,
} from './cross-shard-types.ts';

const KNOWN: ReadonlySet<string> = new Set(LEDGER_STATUSES);

/**
 * Transfers between customer accounts on two shards (decision 49, "Across shards"). `start`
 * writes leg 1 (a pending transfer from the debtor to the in_transit stripe beside it) and the
 * coordinator row in ONE transaction on the debtor's shard (`startCrossShards`; starts made at
 * once share the transaction, batched per shard on the engine of `src/engine/`); a
 * {@link CrossShardDriver} then completes it: posted on both sides or voided on both.
 *
 * @example
 * const transfers = new CrossShardTransfers(router);
 * const answer = await transfers.start({ id: 'xfer-1', debitAccountId: a, creditAccountId: b,
 *   amount: 500n, currency: 'EUR' });
 * if (answer.status === 'pending') later(await transfers.get('xfer-1', a));
 */
export class CrossShardTransfers {
  readonly #router: Router;
  readonly #settings: CrossShardSettings;
  readonly #starts: ShardBatchEngine<CrossShardStart, Committed<CrossShardStarted>, unknown>;

  constructor(
    router: Router,
    settings: Partial<CrossShardSettings> = {},
    batching: ShardBatchOptions = {},
  ) {
    this.#router = router;
    this.#settings = { ...CROSS_SHARD_DEFAULTS, ...settings };
    this.#starts = new ShardBatchEngine(
      router,
      'cross-shard starts',
      new ListBatchClient((start: CrossShardStart) => start.debitAccountId, startCrossShards),
      batching,
    );
  }

  /** Refuses new starts and waits for the batches in flight. */
  close(): Promise<void> {
    return this.#starts.close();
  }

  /**
   * Starts a transfer: `pending` with its state when accepted (a retry with the same id and
   * fields answers `pending` again, `replayed`, never a second transfer), or the refusal of its
   * first leg. Throws `invalid_request` for a malformed call or two accounts on one shard (use a
   * plain transfer), `resource_not_found` when the debtor's shard has no in_transit stripe in the
   * currency, and the router's faults (`primary_unavailable`, `write_outcome_unknown`: retry).
   */
  async start(input: CrossShardInput): Promise<CrossShardAnswer> {
    this.#check(input);
    const { value } = await this.#starts.submit({
      id: input.id,
      debitAccountId: input.debitAccountId,
      creditAccountId: input.creditAccountId,
      amount: input.amount,
      currency: input.currency,
      reference: input.reference ?? null,
      transitCode: this.#settings.transitCode,
      timeoutSeconds: this.#settings.timeoutSeconds,
    });
    if (value.status === 'in_transit_account_not_found')
      throw new MainstayError(
        'resource_not_found',
        `no ${this.#settings.transitCode} in_transit account in ${input.currency} on the debtor's shard`,
      );
    if (value.status !== 'pending' && !KNOWN.has(value.status))
      throw new Error(`a cross-shard start answered ${value.status}`);
    return {
      id: input.id,
      status: value.status as 'pending' | LedgerStatus,
      replayed: value.replayed,
      state: value.state,
    };
  }

  /**
   * Transfer `id`: its coordinator state and every step stored on both shards (on the
   * primaries). `debitAccountId` names its shard; without it every shard is asked.
   * `resource_not_found` when there is none.
   */
  async get(id: string, debitAccountId?: string): Promise<CrossShardView> {
    const row = await this.#find(id, debitAccountId);
    if (row === null)
      throw new MainstayError('resource_not_found', `there is no cross-shard transfer ${id}`);
    const side = async (key: string, legs: readonly string[]) => {
      const { value } = await this.#router.readShard(
        this.#router.map.shardOf(key),
        (db) => readLegs(db, legs),
        { consistency: 'primary' },
      );
      return value;
    };
    const [debits, credits] = await Promise.all([
      side(
        row.debitAccountId,
        DEBIT_SIDE_LEGS.map((leg) => legId(id, leg)),
      ),
      side(
        row.creditAccountId,
        CREDIT_SIDE_LEGS.map((leg) => legId(id, leg)),
      ),
    ]);
    return { ...row, legs: [...debits, ...credits] };
  }

  async #find(id: string, debitAccountId: string | undefined): Promise<CrossShardRow | null> {
    const read = async (shardId: number) =>
      (
        await this.#router.readShard(shardId, (db) => readCrossShard(db, id), {
          consistency: 'primary',
        })
      ).value;
    if (debitAccountId !== undefined) return read(this.#router.map.shardOf(debitAccountId));
    const answers = await Promise.allSettled(this.#router.map.shardIds.map(read));
    let failure: unknown = null;
    for (const answer of answers) {
      if (answer.status === 'fulfilled' && answer.value !== null) return answer.value;
      if (answer.status === 'rejected') failure ??= answer.reason;
    }
    if (failure !== null) throw failure;
    return null;
  }

  #check(input: CrossShardInput): void {
    const errors = twoAccountMoveErrors(
      input,
      [
        ['/debitAccountId', input.debitAccountId],
        ['/creditAccountId', input.creditAccountId],
      ],
      CROSS_SHARD_ID_LENGTH_MAX,
    );
    if (errors.length === 0) this.#checkShards(input, errors);
    if (errors.length > 0)
      throw new MainstayError('invalid_request', 'the cross-shard transfer is malformed', {
        errors,
      });
  }

  /** Both accounts must name a shard, and not the same one. */
  #checkShards(input: CrossShardInput, errors: FieldError[]): void {
    const shardOf = (key: string, pointer: string): number | null => {
      try {
        return this.#router.map.shardOf(key);
      } catch (error) {
        if (!isMainstayError(error, 'invalid_shard_key')) throw error;
        errors.push({ pointer, detail: 'names no shard' });
        return null;
      }
    };
    const debit = shardOf(input.debitAccountId, '/debitAccountId');
    const credit = shardOf(input.creditAccountId, '/creditAccountId');
    if (debit !== null && debit === credit)
      errors.push({
        pointer: '/creditAccountId',
        detail: "is on the debtor's shard: make a plain transfer",
      });
  }
}
