import type { WriteAnswer } from '../../../../data/write-contract.ts';
import type {
  LedgerPage,
  QuarantinedAdvice,
  ReconciledAdvice,
} from '../../store/authorization-reader.ts';
import type { QuarantineEntry } from '../authorization/advice-applier.ts';
import type {
  AdviceOutcome,
  AdviceResult,
  AuthorizationAdvice,
  AuthorizationOutcome,
  AuthorizationRequest,
} from '../authorization/authorization-types.ts';

export type { QuarantinedAdvice, QuarantineEntry, ReconciledAdvice };

/**
 * An authorization answer: the outcome, the consistency token (`null` when nothing was written
 * on the issuer and the caller sent none) and whether it replays an earlier answer to the same
 * request id.
 */
export type AuthorizationAnswer = WriteAnswer<AuthorizationOutcome>;

/** A shard's reconciliation totals. */
export interface ShardReconciliation {
  readonly counts: Readonly<Record<AdviceResult, number>>;
  /** Exposure per currency, in its minor units. */
  readonly exposureByCurrency: Readonly<Record<string, bigint>>;
  /** Advices in the shard's dead letters. */
  readonly quarantined: number;
}

/**
 * The issuer path as stand-in processing sees it: the authorization engine on the shard's
 * primary, its load figures (for capacity diversion), and the advice and reconciliation
 * operations. Defined here, on stand-in's side, so stand-in depends on what it uses and an
 * adapter binds the real engine (`engineIssuerPath`).
 */
export interface IssuerPath {
  /**
   * How long the issuer keeps an approved hold, from the decision. Stand-in states this expiry
   * in its approvals; the issuer applies the same one to the advice, so both tell the same.
   */
  readonly holdTtlMs: number;
  /** Decides on the issuer; throws for infrastructure faults (`primary_unavailable`, ...). */
  authorize(request: AuthorizationRequest): Promise<AuthorizationAnswer>;
  /** Requests waiting in the shard's queue now. */
  queueDepth(shardId: number): number;
  /**
   * p99 latency of the shard's issuer decisions over a recent time window, `null` when none
   * ended in it; with `sinceMs`, only those that ended after it (slot-granular).
   */
  latencyP99Ms(shardId: number, sinceMs?: number): number | null;
  /** Applies advices of one shard in one transaction, idempotently; one outcome per advice. */
  applyAdvices(
    shardId: number,
    advices: readonly AuthorizationAdvice[],
  ): Promise<readonly AdviceOutcome[]>;
  /** Reconciled advices of a shard, ordered by authorization id, after `startingAfter`. */
  reconciledAdvices(shardId: number, page: LedgerPage): Promise<readonly ReconciledAdvice[]>;
  /** Keeps an advice that cannot be applied in the shard's dead letters; idempotent. */
  quarantineAdvice(shardId: number, entry: QuarantineEntry): Promise<void>;
  /** Quarantined advices of a shard, ordered by authorization id, after `startingAfter`. */
  quarantinedAdvices(shardId: number, page: LedgerPage): Promise<readonly QuarantinedAdvice[]>;
  /** The shard's reconciliation totals. */
  reconciliation(shardId: number): Promise<ShardReconciliation>;
  /** The authorization the issuer holds for a card's request, `null` when none (replica read). */
  findAuthorization(cardId: string, requestId: string): Promise<AuthorizationOutcome | null>;
  /**
   * The same, read on a replica once it has replayed all it had received, so an answer the
   * issuer acknowledged is seen (see `AuthorizationReader.byRequestReplayed`); throws when the
   * replica cannot be read or does not catch up within `waitMs`.
   */
  findAcknowledged(
    cardId: string,
    requestId: string,
    waitMs: number,
  ): Promise<AuthorizationOutcome | null>;
  /** Accounts' books above their credit limits, on the shard's primary, with its clock. */
  overshoots(
    shardId: number,
    accountIds: readonly string[],
  ): Promise<{ overshoots: Map<string, bigint>; measuredAt: Date }>;
}
