import type { TokenText } from '../../../../data/write-contract.ts';
import type { BatchContext, OpenBatch, ShardBatchClient } from '../../../../engine/batch-client.ts';
import { MainstayError } from '../../../../errors/mainstay-error.ts';
import { outcomeOfRow, rowOfStored } from '../../store/authorization-row.ts';
import type { AuthorizationOutcome, AuthorizationStatus } from './authorization-types.ts';
import {
  type BatchItem,
  type BatchItemResult,
  type EngineBatchResult,
  type MoveResult,
  runEngineBatch,
  storedRows,
} from './authorize-batch.ts';
import {
  type CardEntry,
  type CardWork,
  type EngineAnswer,
  isPendingMove,
  isPendingRequest,
  type PendingMove,
  type PendingRequest,
} from './card-batch-items.ts';
import { CardEngineCounters } from './engine-stats.ts';
import { issuerOutcome, sameRequestFields } from './request-validation.ts';

/** The batch's answer plus the stored rows its replays are answered from. */
interface Written {
  readonly result: EngineBatchResult;
  readonly stored: ReadonlyMap<string, Parameters<typeof outcomeOfRow>[0]>;
}

/** One open batch: the engine's context, the card counters, and its folded repeats. */
interface CardBatch {
  readonly context: BatchContext<CardWork, EngineAnswer>;
  readonly counters: CardEngineCounters;
  readonly holdTtlSeconds: number;
  /** Repeats of a request id in the batch, answered with their leader. */
  readonly repeats: ReadonlyMap<PendingRequest, PendingRequest[]>;
}

/**
 * Card authorization as a client of the batching engine (`src/engine/`, decision 49): a batch's
 * authorization requests and hold moves go in ONE transaction (one call of
 * `card_engine_batch`, plus a read of stored rows when some request was a retry), then every
 * item is answered. Repeats of a request id inside the batch are folded into their first
 * occurrence; repeats of an idempotency key go round once more, so they meet the first one's
 * stored answer exactly as a sequential retry would. A failed move fails that move alone. The
 * units the engine isolates are the leaders, moves first (the order the batch function applies
 * them), so a part of a split batch is cut where the function would cut it.
 */
export class CardBatchClient implements ShardBatchClient<CardWork, EngineAnswer, CardEntry> {
  /** What only card authorization counts of its batches. */
  readonly counters = new CardEngineCounters();
  readonly #holdTtlSeconds: number;

  constructor(holdTtlSeconds: number) {
    this.#holdTtlSeconds = holdTtlSeconds;
  }

  /** A request goes to its card's shard, a move to its hold's. */
  shardKeyOf(item: CardWork): string {
    return item.kind === 'move' ? item.move.authorizationId : item.request.cardId;
  }

  open(
    batch: readonly CardEntry[],
    context: BatchContext<CardWork, EngineAnswer>,
  ): OpenBatch<CardEntry> {
    const requests: PendingRequest[] = [];
    const moves: PendingMove[] = [];
    for (const entry of batch) {
      if (isPendingMove(entry)) moves.push(entry);
      else if (isPendingRequest(entry)) requests.push(entry);
    }
    const { leaders, repeats } = foldRepeats(requests);
    const moveLeaders = foldMoves(moves, context);
    this.counters.folded += requests.length - leaders.length;
    this.counters.moves += moveLeaders.length;
    const state: CardBatch = {
      context,
      counters: this.counters,
      holdTtlSeconds: this.#holdTtlSeconds,
      repeats,
    };
    return {
      units: [...moveLeaders, ...leaders],
      requestCount: leaders.length,
      apply: (part) => writePart(state, part),
      fail: (unit, error) => {
        unit.reject(error);
        if (isPendingRequest(unit))
          for (const repeat of repeats.get(unit) ?? []) repeat.reject(error);
      },
    };
  }
}

/**
 * Sends one part in one transaction and answers its items; throws, answering nothing, when the
 * transaction failed (then it wrote nothing, or its outcome is unknown: see `runIsolated`).
 */
async function writePart(state: CardBatch, part: readonly CardEntry[]): Promise<void> {
  const leaders: PendingRequest[] = [];
  const moveLeaders: PendingMove[] = [];
  for (const entry of part) {
    if (isPendingMove(entry)) moveLeaders.push(entry);
    else if (isPendingRequest(entry)) leaders.push(entry);
  }
  const items = leaders.map(batchItemOf);
  const moveItems = moveLeaders.map((pending) => pending.item.move);
  const first = part[0];
  if (first === undefined) return;
  const { context, holdTtlSeconds } = state;
  const key =
    first.item.kind === 'move' ? first.item.move.authorizationId : first.item.request.cardId;
  const answer = await context.router.write(
    key,
    async (tx): Promise<Written> => {
      const result = await runEngineBatch(tx, items, moveItems, holdTtlSeconds);
      const ids: string[] = [];
      for (const item of result.items) if (item.storedId !== null) ids.push(item.storedId);
      return { result, stored: ids.length > 0 ? await storedRows(tx, ids) : new Map() };
    },
    { waitMs: context.settings.writeWaitMs, touched: accountsOf },
  );
  const written = answer.value;
  const { token } = answer;
  const { now } = written.result;
  const clock = {
    nowIso: now.toISOString(),
    expiresIso: new Date(now.getTime() + holdTtlSeconds * 1_000).toISOString(),
  };
  for (let index = 0; index < leaders.length; index += 1) {
    const leader = leaders[index] as PendingRequest;
    const same: PendingRequest[] = [];
    for (const repeat of state.repeats.get(leader) ?? []) {
      if (!sameRequestFields(repeat.item.request, leader.item.request)) context.sendAgain(repeat);
      else same.push(repeat);
    }
    settleRequest(state, leader, same, written, index, clock, token);
  }
  moveLeaders.forEach((pending, index) => {
    settleMove(pending, written.result.moves[index], token);
  });
}

/**
 * The accounts a batch changed: recorded as written (the shared recent-write store), so that a
 * read of an account's available credit through any API process sees the batch's holds.
 */
function* accountsOf(written: Written): Iterable<string> {
  for (const item of written.result.items) if (item.accountId !== null) yield item.accountId;
  for (const move of written.result.moves) if (move.body?.account_id) yield move.body.account_id;
}

/**
 * Answers `leader` and its identical repeats (`same`) from its batch result. No closure per
 * request: this runs for every authorization of every batch.
 */
function settleRequest(
  state: CardBatch,
  leader: PendingRequest,
  same: readonly PendingRequest[],
  written: Written,
  index: number,
  clock: { nowIso: string; expiresIso: string },
  token: TokenText,
): void {
  const { counters: stats, context } = state;
  const result = written.result.items[index];
  if (result?.outcome === 'conflict') {
    for (const pending of [leader, ...same]) {
      stats.conflicts += 1;
      pending.reject(
        new MainstayError(
          'idempotency_key_reused',
          `request id "${pending.item.request.requestId}" was already used on card ${pending.item.request.cardId} with other fields`,
        ),
      );
    }
    return;
  }
  let outcome: AuthorizationOutcome | null = null;
  if (result?.outcome === 'new') outcome = newOutcome(leader, result, clock);
  else if (result?.outcome === 'replayed' && result.storedId !== null) {
    const row = written.stored.get(result.storedId);
    if (row) outcome = outcomeOfRow(row);
  }
  if (outcome === null) {
    // Another process stored this request id between our read and our insert (only possible
    // for a card with no row to lock): one more round finds its row and answers from it.
    if (leader.item.requeued) {
      leader.reject(new MainstayError('internal_error', 'the batch returned no row for a request'));
    } else {
      leader.item.requeued = true;
      context.sendAgain(leader);
    }
    for (const pending of same) context.sendAgain(pending);
    return;
  }
  const replayed = result?.outcome === 'replayed';
  if (replayed) stats.replays += 1;
  leader.resolve({ value: outcome, token, replayed });
  for (const pending of same) {
    stats.replays += 1;
    pending.resolve({ value: outcome, token, replayed: true });
  }
}

/**
 * The outcome of a new issuer decision, from what the engine already knows and the few columns
 * the batch returned: equal, field for field, to what a later read of the stored row shows.
 */
function newOutcome(
  pending: PendingRequest,
  result: BatchItemResult,
  clock: { nowIso: string; expiresIso: string },
): AuthorizationOutcome {
  return issuerOutcome(pending.item.request, {
    id: pending.item.id,
    accountId: result.accountId,
    status: result.issuerStatus as AuthorizationStatus,
    holdExpiresAt: clock.expiresIso,
    createdAt: clock.nowIso,
  });
}

/** Answers one move; a failed move is that caller's error, not the batch's. */
function settleMove(pending: PendingMove, result: MoveResult | undefined, token: TokenText): void {
  const { authorizationId: id, key } = pending.item.move;
  if ((result?.outcome === 'moved' || result?.outcome === 'replayed') && result.body) {
    pending.resolve({
      value: outcomeOfRow(rowOfStored(result.body)),
      token,
      replayed: result.outcome === 'replayed',
    });
    return;
  }
  const outcome = result?.outcome;
  pending.reject(
    outcome === 'key_reused'
      ? new MainstayError(
          'idempotency_key_reused',
          `idempotency key "${key}" was already used with a different request`,
        )
      : outcome === 'not_found'
        ? new MainstayError('resource_not_found', `no authorization ${id}`)
        : outcome === 'state_conflict'
          ? new MainstayError(
              'state_conflict',
              `authorization ${id} has no open hold (${result?.detail})`,
            )
          : outcome === 'invalid_amount'
            ? new MainstayError('invalid_amount', result?.detail ?? 'amount exceeds what is held')
            : new MainstayError('internal_error', `the batch gave no answer for key "${key}"`),
  );
}

/** Splits requests into one leader per (card, request id) and the repeats that follow it. */
function foldRepeats(batch: readonly PendingRequest[]): {
  leaders: PendingRequest[];
  repeats: Map<PendingRequest, PendingRequest[]>;
} {
  const byKey = new Map<string, PendingRequest>();
  const leaders: PendingRequest[] = [];
  const repeats = new Map<PendingRequest, PendingRequest[]>();
  for (const pending of batch) {
    const key = `${pending.item.request.cardId}\u0000${pending.item.request.requestId}`;
    const leader = byKey.get(key);
    if (!leader) {
      byKey.set(key, pending);
      leaders.push(pending);
    } else {
      const list = repeats.get(leader) ?? [];
      list.push(pending);
      repeats.set(leader, list);
    }
  }
  return { leaders, repeats };
}

/** One move per (kind, key) goes now; later ones with the same key wait for the next batch. */
function foldMoves(
  moves: readonly PendingMove[],
  context: BatchContext<CardWork, EngineAnswer>,
): PendingMove[] {
  const seen = new Set<string>();
  const moveLeaders: PendingMove[] = [];
  for (const pending of moves) {
    const key = `${pending.item.move.capture}\u0000${pending.item.move.key}`;
    if (seen.has(key)) context.sendAgain(pending);
    else {
      seen.add(key);
      moveLeaders.push(pending);
    }
  }
  return moveLeaders;
}

function batchItemOf(pending: PendingRequest): BatchItem {
  const { request } = pending.item;
  return {
    id: pending.item.id,
    requestId: request.requestId,
    cardId: request.cardId,
    amount: request.amount,
    currency: request.currency,
    merchantId: request.merchantId,
    merchantCategory: request.merchantCategory,
    merchantReference: request.merchantReference ?? null,
    standInStatus: null,
    decidedAt: null,
  };
}
