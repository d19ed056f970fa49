import type { Page } from '../../../../data/write-contract.ts';
import { MainstayError } from '../../../../errors/mainstay-error.ts';
import {
  ADVICE_RESULTS,
  type AdviceResult,
  type AuthorizationStatus,
} from '../authorization/authorization-types.ts';
import type { AdviceQueue } from './advice-queue.ts';
import type { IssuerPath, QuarantinedAdvice } from './issuer-path.ts';
import type { StandInAdvice } from './stand-in-advice.ts';

/** Advices per page at most, as the API's lists allow. */
export const ADVICE_PAGE_LIMIT_MAX = 100;

/** A page request of the advice list (cursor pagination, as every Mainstay list). */
export interface AdviceListQuery {
  readonly shardId?: number;
  /** 1 to {@link ADVICE_PAGE_LIMIT_MAX}. */
  readonly limit: number;
  /** The last authorization id of the previous page. */
  readonly startingAfter?: string | null;
}

/** Why an advice was quarantined (see `AdviceForwarder`). */
export interface AdviceQuarantine {
  /** A catalogue code, or `sqlstate_<code>` for a database refusal. */
  readonly errorCode: string;
  readonly errorMessage: string;
  readonly failureCount: number;
  readonly quarantinedAt: string;
}

/**
 * One advice in the list: still waiting in the spool, reconciled on the issuer, or quarantined
 * in the issuer's dead letters (the issuer kept refusing it; an operator has to look at it).
 */
export interface AdviceView {
  /** The stand-in authorization id (also the list's order and cursor). */
  readonly authorizationId: string;
  readonly shardId: number;
  readonly cardId: string;
  readonly requestId: string;
  readonly state: 'pending' | 'forwarded' | 'quarantined';
  readonly standInStatus: AuthorizationStatus;
  readonly amount: bigint;
  readonly currency: string;
  readonly decidedAt: string;
  /** `null` while pending. */
  readonly result: AdviceResult | null;
  readonly issuerStatus: AuthorizationStatus | null;
  readonly exposure: bigint | null;
  readonly appliedAt: string | null;
  /** `null` unless quarantined. */
  readonly quarantine: AdviceQuarantine | null;
}

/** A page of advices, as every Mainstay list. */
export type AdviceList = Page<AdviceView>;

/** All shards' reconciliation, with the backlog still to forward. */
export interface ReconciliationReport {
  readonly counts: Readonly<Record<AdviceResult, number>>;
  readonly exposureByCurrency: Readonly<Record<string, bigint>>;
  /** Sum over currencies in minor units: a single-currency alerting figure. */
  readonly exposureTotal: bigint;
  readonly pendingAdvices: number;
  /** Advices in the shards' dead letters. */
  readonly quarantinedAdvices: number;
  readonly shards: readonly {
    readonly shardId: number;
    readonly counts: Readonly<Record<AdviceResult, number>>;
    readonly exposureByCurrency: Readonly<Record<string, bigint>>;
    readonly pendingAdvices: number;
    readonly quarantinedAdvices: number;
  }[];
}

/**
 * Lists advices by stand-in authorization id (time order): the pending ones from the spool, the
 * forwarded ones from the issuer's reconciliation ledger and the quarantined ones from its dead
 * letters, so the list is complete across process restarts. An advice being forwarded right now may show as pending on one page and
 * forwarded on the next; it is never shown twice on one page.
 */
export async function listAdvices(
  queue: AdviceQueue,
  issuer: IssuerPath,
  shardIds: readonly number[],
  query: AdviceListQuery,
): Promise<AdviceList> {
  if (
    !Number.isSafeInteger(query.limit) ||
    query.limit < 1 ||
    query.limit > ADVICE_PAGE_LIMIT_MAX
  ) {
    const detail = `must be an integer from 1 to ${ADVICE_PAGE_LIMIT_MAX}`;
    throw new MainstayError('invalid_request', `advice list: limit ${detail}`, {
      errors: [{ pointer: '/limit', detail }],
    });
  }
  if (query.shardId !== undefined && !shardIds.includes(query.shardId)) {
    const detail = `must be one of the fleet's shards (${shardIds.join(', ')})`;
    throw new MainstayError('invalid_request', `advice list: shardId ${detail}`, {
      errors: [{ pointer: '/shardId', detail }],
    });
  }
  const after = query.startingAfter ?? '';
  const shards = query.shardId === undefined ? shardIds : [query.shardId];
  const byId = new Map<string, AdviceView>();
  for (const advice of queue.pending(query.shardId)) {
    if (advice.outcome.id > after) byId.set(advice.outcome.id, pendingView(advice));
  }
  // Ledger rows last: an advice forwarded while this page is built shows as forwarded.
  const page = { limit: query.limit + 1, startingAfter: query.startingAfter ?? null };
  for (const shardId of shards) {
    for (const row of await issuer.quarantinedAdvices(shardId, page))
      byId.set(row.authorizationId, quarantinedView(row, shardId));
    for (const row of await issuer.reconciledAdvices(shardId, page))
      byId.set(row.authorizationId, { ...row, shardId, state: 'forwarded', quarantine: null });
  }
  const sorted = [...byId.values()].sort((a, b) =>
    a.authorizationId < b.authorizationId ? -1 : a.authorizationId > b.authorizationId ? 1 : 0,
  );
  const data = sorted.slice(0, query.limit);
  const hasMore = sorted.length > query.limit;
  return { data, hasMore, nextCursor: hasMore ? (data.at(-1)?.authorizationId ?? null) : null };
}

function pendingView(advice: StandInAdvice): AdviceView {
  return {
    authorizationId: advice.outcome.id,
    shardId: advice.shardId,
    cardId: advice.request.cardId,
    requestId: advice.request.requestId,
    state: 'pending',
    standInStatus: advice.outcome.status,
    amount: advice.request.amount,
    currency: advice.request.currency,
    decidedAt: advice.outcome.createdAt,
    result: null,
    issuerStatus: null,
    exposure: null,
    appliedAt: null,
    quarantine: null,
  };
}

function quarantinedView(row: QuarantinedAdvice, shardId: number): AdviceView {
  const { errorCode, errorMessage, failureCount, quarantinedAt } = row;
  return {
    authorizationId: row.authorizationId,
    shardId,
    cardId: row.cardId,
    requestId: row.requestId,
    state: 'quarantined',
    standInStatus: row.standInStatus,
    amount: row.amount,
    currency: row.currency,
    decidedAt: row.decidedAt,
    result: null,
    issuerStatus: null,
    exposure: null,
    appliedAt: null,
    quarantine: { errorCode, errorMessage, failureCount, quarantinedAt },
  };
}

/** Sums every shard's reconciliation ledger and adds the backlog still to forward. */
export async function reconciliationReport(
  queue: AdviceQueue,
  issuer: IssuerPath,
  shardIds: readonly number[],
): Promise<ReconciliationReport> {
  const counts = emptyCounts();
  const exposureByCurrency: Record<string, bigint> = {};
  const shards: ReconciliationReport['shards'][number][] = [];
  for (const shardId of shardIds) {
    const shard = await issuer.reconciliation(shardId);
    for (const result of ADVICE_RESULTS) counts[result] += shard.counts[result] ?? 0;
    for (const [currency, amount] of Object.entries(shard.exposureByCurrency)) {
      exposureByCurrency[currency] = (exposureByCurrency[currency] ?? 0n) + amount;
    }
    shards.push({
      shardId,
      counts: shard.counts,
      exposureByCurrency: shard.exposureByCurrency,
      pendingAdvices: queue.pendingCount(shardId),
      quarantinedAdvices: shard.quarantined,
    });
  }
  return {
    counts,
    exposureByCurrency,
    exposureTotal: Object.values(exposureByCurrency).reduce((sum, a) => sum + a, 0n),
    pendingAdvices: queue.pendingCount(),
    quarantinedAdvices: shards.reduce((sum, shard) => sum + shard.quarantinedAdvices, 0),
    shards,
  };
}

/** Zero for every result. */
export function emptyCounts(): Record<AdviceResult, number> {
  return Object.fromEntries(ADVICE_RESULTS.map((result) => [result, 0])) as Record<
    AdviceResult,
    number
  >;
}
