import type {
  AdviceOutcome,
  AdviceResult,
  AuthorizationAdvice,
  AuthorizationOutcome,
  AuthorizationRequest,
  AuthorizationStatus,
} from '../authorization/authorization-types.ts';

/**
 * An authorization answer with what the HTTP layer needs beside the outcome: the consistency
 * token of the issuer's commit (`null` when nothing was written on the issuer, as for every
 * stand-in answer) and whether it replays an earlier answer to the same request id.
 */
export interface AuthorizationAnswer {
  readonly outcome: AuthorizationOutcome;
  readonly token: string | null;
  readonly replayed: boolean;
}

/** One reconciled advice as the issuer's reconciliation ledger keeps it. */
export interface ReconciledAdvice {
  readonly authorizationId: string;
  readonly cardId: string;
  readonly requestId: string;
  readonly result: AdviceResult;
  readonly standInStatus: AuthorizationStatus;
  readonly issuerStatus: AuthorizationStatus;
  readonly amount: bigint;
  readonly currency: string;
  readonly exposure: bigint;
  readonly decidedAt: string;
  readonly appliedAt: string;
}

/** A shard's reconciliation totals. */
export interface ShardReconciliation {
  readonly counts: Readonly<Record<AdviceResult, number>>;
  /** Exposure per currency, in its minor units. */
  readonly exposureByCurrency: Readonly<Record<string, bigint>>;
}

/**
 * The issuer path as stand-in processing sees it: the authorization engine on the shard's
 * primary, its load figures (for capacity diversion), and the advice and reconciliation
 * operations. Defined here, on stand-in's side, so stand-in depends on what it uses and an
 * adapter binds the real engine (`engineIssuerPath`).
 */
export interface IssuerPath {
  /** Decides on the issuer; throws for infrastructure faults (`primary_unavailable`, ...). */
  authorize(request: AuthorizationRequest): Promise<AuthorizationAnswer>;
  /** Requests waiting in the shard's queue now. */
  queueDepth(shardId: number): number;
  /** Recent p99 latency of the shard's issuer decisions, `null` before any. */
  latencyP99Ms(shardId: number): number | null;
  /** Applies advices of one shard in one transaction, idempotently; one outcome per advice. */
  applyAdvices(
    shardId: number,
    advices: readonly AuthorizationAdvice[],
  ): Promise<readonly AdviceOutcome[]>;
  /** Reconciled advices of a shard, ordered by authorization id, after `startingAfter`. */
  reconciledAdvices(
    shardId: number,
    page: { readonly limit: number; readonly startingAfter?: string | null },
  ): Promise<readonly ReconciledAdvice[]>;
  /** The shard's reconciliation totals. */
  reconciliation(shardId: number): Promise<ShardReconciliation>;
  /** The authorization the issuer holds for a card's request, `null` when none (replica read). */
  findAuthorization(cardId: string, requestId: string): Promise<AuthorizationOutcome | null>;
}
