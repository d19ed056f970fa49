import type { Router } from '../../../../data/router.ts';
import type { TokenText } from '../../../../data/write-contract.ts';
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
import { runIsolated } from './batch-isolation.ts';
import type { EngineStats } from './engine-stats.ts';
import { issuerOutcome, sameRequestFields } from './request-validation.ts';
import type { LaneItem, PendingMove, PendingRequest, ShardLane } from './shard-lane.ts';

/** What a lane batch needs from its engine. */
export interface LaneBatchContext {
  readonly router: Router;
  readonly holdTtlSeconds: number;
  readonly writeWaitMs: number;
  /** Failing items found by bisection before the rest of a failing part goes one by one. */
  readonly bisectedFailuresMax: number;
  readonly stats: EngineStats;
}

/** The batch's answer plus the stored rows its replays are answered from. */
interface Written {
  readonly result: EngineBatchResult;
  readonly stored: ReadonlyMap<string, Parameters<typeof outcomeOfRow>[0]>;
}

/** Some of a batch's leaders, sent in one transaction: the whole batch, or a part of it. */
interface Part {
  readonly requests: readonly PendingRequest[];
  readonly moves: readonly PendingMove[];
}

/** A batch's folding: repeats answered with their leader, items sent round once more. */
interface Folding {
  readonly repeats: ReadonlyMap<PendingRequest, PendingRequest[]>;
  readonly again: LaneItem[];
}

/**
 * Runs one batch of a lane: its authorization requests and hold moves in ONE transaction (one
 * call of `card_engine_batch`, plus a read of stored rows when some request was a retry), then
 * answers every item. Repeats of a request id inside the batch are folded into their first
 * occurrence; repeats of an idempotency key go round once more, so they meet the first one's
 * stored answer exactly as a sequential retry would. A failed move fails that move alone. A
 * batch that fails as a whole because of one of its items (a value PostgreSQL refuses) is
 * split until that item fails alone ({@link runIsolated}); only an availability failure
 * (no primary, outcome unknown) fails every item, which is stand-in's signal.
 */
export async function runLaneBatch(
  context: LaneBatchContext,
  lane: ShardLane,
  batch: readonly LaneItem[],
): Promise<void> {
  const requests: PendingRequest[] = [];
  const moves: PendingMove[] = [];
  for (const item of batch) {
    if (item.kind === 'move') moves.push(item);
    else requests.push(item);
  }
  const { leaders, repeats } = foldRepeats(requests);
  const { moveLeaders, again } = foldMoves(moves);
  const { stats } = context;
  stats.folded += requests.length - leaders.length;
  stats.recordBatch(leaders.length, moveLeaders.length);
  const folding: Folding = { repeats, again };
  const started = performance.now();
  try {
    await runIsolated<Part>(
      { requests: leaders, moves: moveLeaders },
      {
        size: (part) => part.requests.length + part.moves.length,
        halves: halvesOf,
        singles: (part) => [
          ...part.moves.map((move) => ({ requests: [], moves: [move] })),
          ...part.requests.map((request) => ({ requests: [request], moves: [] })),
        ],
        attempt: (part) => writePart(context, part, folding),
        fail: (part, error) => failPart(part, folding, error),
      },
      context.bisectedFailuresMax,
      stats,
    );
  } finally {
    lane.latency.record(performance.now() - started);
  }
  if (again.length > 0) lane.requeue(again);
}

/** A part cut in two in the order the batch function applies it: moves first, then requests. */
function halvesOf(part: Part): readonly [Part, Part] {
  const half = Math.ceil((part.requests.length + part.moves.length) / 2);
  if (half <= part.moves.length) {
    return [
      { requests: [], moves: part.moves.slice(0, half) },
      { requests: part.requests, moves: part.moves.slice(half) },
    ];
  }
  const split = half - part.moves.length;
  return [
    { requests: part.requests.slice(0, split), moves: part.moves },
    { requests: part.requests.slice(split), moves: [] },
  ];
}

/** Answers every item of a failed part, repeats folded into its requests included. */
function failPart(part: Part, folding: Folding, error: unknown): void {
  for (const pending of part.moves) pending.reject(error);
  for (const leader of part.requests) {
    leader.reject(error);
    for (const repeat of folding.repeats.get(leader) ?? []) repeat.reject(error);
  }
}

/**
 * Sends one part in one transaction and answers its items; throws, answering nothing, when the
 * transaction failed (then it wrote nothing, or its outcome is unknown: see `runIsolated`).
 */
async function writePart(context: LaneBatchContext, part: Part, folding: Folding): Promise<void> {
  const { requests: leaders, moves: moveLeaders } = part;
  const items = leaders.map(batchItemOf);
  const moveItems = moveLeaders.map((pending) => pending.move);
  const first = moveLeaders[0] ?? leaders[0];
  if (first === undefined) return;
  const key = first.kind === 'move' ? first.move.authorizationId : first.request.cardId;
  const answer = await context.router.write(
    key,
    async (tx): Promise<Written> => {
      const result = await runEngineBatch(tx, items, moveItems, context.holdTtlSeconds);
      const ids: string[] = [];
      for (const item of result.items) if (item.storedId !== null) ids.push(item.storedId);
      return { result, stored: ids.length > 0 ? await storedRows(tx, ids) : new Map() };
    },
    { waitMs: context.writeWaitMs, touched: accountsOf },
  );
  const written = answer.value;
  const { token } = answer;
  const { now } = written.result;
  const clock = {
    nowIso: now.toISOString(),
    expiresIso: new Date(now.getTime() + context.holdTtlSeconds * 1_000).toISOString(),
  };
  const { again } = folding;
  for (let index = 0; index < leaders.length; index += 1) {
    const leader = leaders[index] as PendingRequest;
    const same: PendingRequest[] = [];
    for (const repeat of folding.repeats.get(leader) ?? []) {
      if (!sameRequestFields(repeat.request, leader.request)) again.push(repeat);
      else same.push(repeat);
    }
    settleRequest(context, leader, same, written, index, clock, token, again);
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
  context: LaneBatchContext,
  leader: PendingRequest,
  same: readonly PendingRequest[],
  written: Written,
  index: number,
  clock: { nowIso: string; expiresIso: string },
  token: TokenText,
  again: LaneItem[],
): void {
  const { stats } = context;
  const result = written.result.items[index];
  if (result?.outcome === 'conflict') {
    for (const pending of [leader, ...same]) {
      stats.conflicts += 1;
      pending.reject(
        new MainstayError(
          'idempotency_key_reused',
          `request id "${pending.request.requestId}" was already used on card ${pending.request.cardId} with other fields`,
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
    if (leader.requeued) {
      leader.reject(new MainstayError('internal_error', 'the batch returned no row for a request'));
    } else {
      leader.requeued = true;
      again.push(leader);
    }
    again.push(...same);
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
  return issuerOutcome(pending.request, {
    id: pending.id,
    accountId: result.accountId,
    status: result.issuerStatus as AuthorizationStatus,
    holdExpiresAt: clock.expiresIso,
    createdAt: clock.nowIso,
  });
}

/** Answers one move; a failed move is that caller's error, not the batch's. */
function settleMove(pending: PendingMove, result: MoveResult | undefined, token: TokenText): void {
  const { authorizationId: id, key } = pending.move;
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
    const key = `${pending.request.cardId}\u0000${pending.request.requestId}`;
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
function foldMoves(moves: readonly PendingMove[]): {
  moveLeaders: PendingMove[];
  again: LaneItem[];
} {
  const seen = new Set<string>();
  const moveLeaders: PendingMove[] = [];
  const again: LaneItem[] = [];
  for (const pending of moves) {
    const key = `${pending.move.capture}\u0000${pending.move.key}`;
    if (seen.has(key)) again.push(pending);
    else {
      seen.add(key);
      moveLeaders.push(pending);
    }
  }
  return { moveLeaders, again };
}

function batchItemOf(pending: PendingRequest): BatchItem {
  const { request } = pending;
  return {
    id: pending.id,
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
