import type { Router } from '../../../data/router.ts';
import type { WriteAnswer } from '../../../data/write-contract.ts';
import type { ShardBatchOptions, ShardBatchSettings } from '../../../engine/batch-client.ts';
import type { EngineStatsSnapshot } from '../../../engine/engine-stats.ts';
import type { BatchLatency } from '../../../engine/latency-window.ts';
import { ShardBatchEngine } from '../../../engine/shard-batch-engine.ts';
import { isMainstayError, MainstayError } from '../../../errors/mainstay-error.ts';
import {
  type ChainAnswer,
  chainsOf,
  LedgerBatchClient,
  type LedgerChain,
  type LedgerEntry,
} from './ledger-batch-client.ts';
import { checkLedgerCall } from './ledger-request-validation.ts';
import type { LedgerOutcome, LedgerRequest } from './ledger-types.ts';

/**
 * Every money write of the ledger, through the one batching engine (decision 49, "One engine"):
 * calls are queued per shard and applied in micro-batches, each ONE call of
 * `ledger_apply_batch` in one transaction, with the engine's figures (window 500 µs, batches of
 * up to 512 requests, 8,192 waiting per shard, then `overloaded` at once) and its isolation: a
 * chain PostgreSQL refuses fails alone, the rest of its batch is applied. Give it a router of
 * its own, so its batches never wait behind request traffic.
 *
 * Business refusals (`insufficient_funds`, `exists_with_different_fields`...) are outcomes, one
 * per request; only faults throw.
 *
 * @example
 * const ledger = new LedgerEngine(engineRouter);
 * const [outcome] = await ledger.submit([{ kind: 'transfer', id: 'pay-1', debitAccountId: wallet,
 *   creditAccountId: shop, amount: 1_250n, currency: 'CNY' }]);
 * if (outcome?.status === 'posted') ship();
 */
export class LedgerEngine {
  readonly #router: Router;
  readonly #engine: ShardBatchEngine<LedgerChain, ChainAnswer, LedgerEntry>;

  constructor(router: Router, options: ShardBatchOptions = {}) {
    this.#router = router;
    this.#engine = new ShardBatchEngine(router, 'ledger engine', new LedgerBatchClient(), options);
  }

  /**
   * Applies `requests`, all on one shard, and answers one outcome per request, in order. The
   * shard is `shardKey`'s when given (any key of the shard, such as one of its accounts' ids),
   * else the first request's debit account's; a call that starts with a post, void or expiry
   * must name it, since the pending transfer's accounts are known only in SQL. A linked chain
   * (requests with `linked` up to the first without) goes whole into one batch and is applied
   * whole or not at all; it closes inside the call.
   *
   * Refused before anything is queued: a malformed call (`invalid_request`, a pointer per
   * field, see `checkLedgerCall`), a full shard queue (`overloaded`), a closed engine
   * (`service_unavailable`). When a chain fails alone (PostgreSQL refused it: its isolation
   * code) or the shard fails the batch (`primary_unavailable`, `write_outcome_unknown`), the
   * call rejects with that error once all its chains are answered; its other chains may have
   * been applied, and a retry of the same call answers them from their stored outcomes
   * (`replayed`, by id) and tries the rest again.
   */
  async submit(requests: readonly LedgerRequest[], shardKey?: string): Promise<LedgerOutcome[]> {
    return (await this.submitWithToken(requests, shardKey)).value;
  }

  /**
   * {@link LedgerEngine.submit} under the one write contract (decision 44): the outcomes, and a
   * token covering the caller's earlier writes (`context.token`) and the batches of this call,
   * so a read that sends it sees every applied request.
   */
  async submitWithToken(
    requests: readonly LedgerRequest[],
    shardKey?: string,
    callerToken?: string | null,
  ): Promise<WriteAnswer<LedgerOutcome[]>> {
    if (this.#engine.closed)
      throw new MainstayError('service_unavailable', 'the ledger engine is closed');
    const { batchSizeMax, queueDepthMax } = this.#engine.settings;
    checkLedgerCall(requests, shardKey, {
      callLengthMax: queueDepthMax,
      chainLengthMax: batchSizeMax,
      shardOf: (key) => this.#shardOf(key),
    });
    const first = requests[0];
    if (first === undefined)
      return {
        value: [],
        token: callerToken ? this.#router.mergeTokens(callerToken) : null,
        replayed: false,
      };
    const key =
      shardKey ??
      (first.kind === 'transfer' || first.kind === 'pending' ? first.debitAccountId : '');
    const chains = chainsOf(key, requests);
    const answers = await Promise.allSettled(
      this.#engine.submitAll(
        chains.map((chain) => ({ item: chain, weight: chain.requests.length })),
      ),
    );
    const outcomes: LedgerOutcome[] = [];
    const tokens: string[] = callerToken ? [callerToken] : [];
    for (const answer of answers) {
      if (answer.status === 'rejected') throw answer.reason;
      outcomes.push(...answer.value.outcomes);
      tokens.push(answer.value.token);
    }
    const replayed = outcomes.every((outcome) => outcome.replayed);
    return { value: outcomes, token: this.#router.mergeTokens(...tokens), replayed };
  }

  /** The settings in force (options with the engine's defaults applied). */
  get settings(): ShardBatchSettings {
    return this.#engine.settings;
  }

  /** Requests waiting on a shard (not counting the batch in flight). */
  queueDepth(shardId: number): number {
    return this.#engine.queueDepth(shardId);
  }

  /** Batch latency of a shard over the engine's latency window. */
  latency(shardId: number, sinceMs?: number): BatchLatency {
    return this.#engine.latency(shardId, sinceMs);
  }

  /** The engine's counters since it started (`requests` counts ledger requests). */
  get stats(): EngineStatsSnapshot {
    return this.#engine.stats;
  }

  /** Refuses new calls, sends every queued one at once and waits for all batches to end. */
  close(): Promise<void> {
    return this.#engine.close();
  }

  /** The shard of `key`, or `null` when it names none (an id tagged with a bucket off the map). */
  #shardOf(key: string): number | null {
    try {
      return this.#router.map.shardOf(key);
    } catch (error) {
      if (isMainstayError(error, 'invalid_shard_key')) return null;
      throw error;
    }
  }
}
