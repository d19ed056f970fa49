import {
  type AdviceOutcome,
  AUTHORIZATION_STATUSES,
  type AuthorizationStatus,
} from '../authorization/authorization-types.ts';
import type { CircuitState } from './issuer-circuit.ts';
import type { ShardDiversion } from './overload-diversion.ts';
import type { SharedAnswerStats } from './shared-answers.ts';

/** Why a request was decided in stand-in. */
export const STAND_IN_TRIGGERS = [
  /** The shard's circuit was open: the issuer failed recently. */
  'circuit_open',
  /** The issuer attempt failed (primary unavailable, outcome unknown). */
  'issuer_failed',
  /** The issuer attempt took longer than `issuerTimeoutMs`. */
  'issuer_timeout',
  /** Capacity diversion: the shard's queue or latency was over its threshold, or its queue full. */
  'overload',
] as const;
export type StandInTrigger = (typeof STAND_IN_TRIGGERS)[number];

/** The last forwarding failure, kept until the shard forwards cleanly. */
export interface ForwardError {
  readonly shardId: number;
  readonly message: string;
  readonly at: string;
}

/** The processor's figures, for metrics and the console. */
export interface StandInStatsSnapshot {
  /**
   * Answers this process gave, by status (`approved` or a decline reason), issuer and stand-in
   * together; replays of an earlier answer are not counted again.
   */
  readonly authorizationsByStatus: Readonly<Record<AuthorizationStatus, number>>;
  readonly issuerDecisions: number;
  readonly standInDecisions: number;
  /** Stand-in decisions over all decisions (0 before any). */
  readonly standInShare: number;
  readonly standInApprovals: number;
  readonly standInByTrigger: Readonly<Record<StandInTrigger, number>>;
  /** Retries answered with the first stand-in decision. */
  readonly replayedAnswers: number;
  /** Issuer attempts that timed out here and later answered anyway (their pair is reconciled). */
  readonly lateIssuerAnswers: number;
  readonly pendingAdvices: Readonly<Record<number, number>>;
  readonly pendingAdvicesTotal: number;
  /** Advices forwarded by this process (each counted once). */
  readonly forwardedCount: number;
  /** Results of the advices this process forwarded. */
  readonly forwardedByResult: Readonly<Record<string, number>>;
  /** Exposure of the advices this process forwarded, per currency (minor units). */
  readonly exposureByCurrency: Readonly<Record<string, bigint>>;
  /** Sum of `exposureByCurrency` in minor units: a single-currency alerting figure. */
  readonly exposureTotal: bigint;
  readonly lastForwardError: ForwardError | null;
  /**
   * Advices this process quarantined: the issuer kept refusing them, so they were moved to
   * their shard's dead letters (`stand_in_quarantine`) for an operator. Alert on any.
   */
  readonly quarantinedCount: number;
  readonly circuits: Readonly<Record<number, CircuitState>>;
  /**
   * One answer per request and the shared exposure caps (decisions 37, 38): answers found
   * already given, approvals capped, and the registry's view of every process's stand-in
   * decisions not yet on the issuer's books.
   */
  readonly shared: SharedAnswerStats;
  /**
   * Per shard: why its requests go to stand-in now (`none` when they go to the issuer), the
   * p99 behind the latency diversion, the queue depth, and the share still sent to the issuer.
   */
  readonly diversions: Readonly<Record<number, ShardDiversion>>;
  readonly cachedCards: number;
}

/** The counters behind {@link StandInStatsSnapshot}; the processor owns one. */
export class StandInCounters {
  readonly authorizationsByStatus = Object.fromEntries(
    Object.keys(AUTHORIZATION_STATUSES).map((status) => [status, 0]),
  ) as Record<AuthorizationStatus, number>;
  issuerDecisions = 0;
  standInDecisions = 0;
  standInApprovals = 0;
  replayedAnswers = 0;
  lateIssuerAnswers = 0;
  forwardedCount = 0;
  readonly standInByTrigger: Record<StandInTrigger, number> = {
    circuit_open: 0,
    issuer_failed: 0,
    issuer_timeout: 0,
    overload: 0,
  };
  readonly forwardedByResult: Record<string, number> = {};
  readonly exposureByCurrency: Record<string, bigint> = {};
  lastForwardError: ForwardError | null = null;
  quarantinedCount = 0;

  /** Counts the results of one forwarded batch; `currencyOf` names each advice's currency. */
  countForwarded(results: readonly AdviceOutcome[], currencyOf: (id: string) => string): void {
    for (const result of results) {
      this.forwardedCount += 1;
      this.forwardedByResult[result.result] = (this.forwardedByResult[result.result] ?? 0) + 1;
      if (result.exposure > 0n) {
        const currency = currencyOf(result.authorizationId);
        this.exposureByCurrency[currency] =
          (this.exposureByCurrency[currency] ?? 0n) + result.exposure;
      }
    }
  }

  /** Counts one answer given (not a replay of an earlier one). */
  countAnswer(status: AuthorizationStatus): void {
    this.authorizationsByStatus[status] += 1;
  }

  get standInShare(): number {
    const total = this.issuerDecisions + this.standInDecisions;
    return total === 0 ? 0 : this.standInDecisions / total;
  }

  get exposureTotal(): bigint {
    return Object.values(this.exposureByCurrency).reduce((sum, amount) => sum + amount, 0n);
  }

  /** The snapshot of these counters with the processor's current state beside them. */
  snapshot(
    state: Pick<
      StandInStatsSnapshot,
      | 'pendingAdvices'
      | 'pendingAdvicesTotal'
      | 'circuits'
      | 'shared'
      | 'diversions'
      | 'cachedCards'
    >,
  ): StandInStatsSnapshot {
    return {
      authorizationsByStatus: { ...this.authorizationsByStatus },
      issuerDecisions: this.issuerDecisions,
      standInDecisions: this.standInDecisions,
      standInShare: this.standInShare,
      standInApprovals: this.standInApprovals,
      standInByTrigger: { ...this.standInByTrigger },
      replayedAnswers: this.replayedAnswers,
      lateIssuerAnswers: this.lateIssuerAnswers,
      forwardedCount: this.forwardedCount,
      forwardedByResult: { ...this.forwardedByResult },
      exposureByCurrency: { ...this.exposureByCurrency },
      exposureTotal: this.exposureTotal,
      lastForwardError: this.lastForwardError,
      quarantinedCount: this.quarantinedCount,
      ...state,
    };
  }
}
