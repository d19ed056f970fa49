import type { StreamTopic } from '../../platform/stream-topic.ts';
import type { AuthorizationStatus } from './core/authorization/authorization-types.ts';
import type { StandInStatsSnapshot } from './core/stand-in/stand-in-stats.ts';
import type { CardServices } from './services.ts';

/** Amounts in the topic: decimal strings of minor units, exact at any size. */
type MinorUnits = Readonly<Record<string, string>>;

/** One shard's stand-in state in the `cards` topic. */
export interface CardShardFigures {
  readonly shardId: number;
  readonly circuit: string;
  readonly diversion: string;
  readonly latencyP99Ms: number | null;
  readonly queueDepth: number;
  readonly issuerSharePercent: number;
  /** Advices in this process's spool waiting to be forwarded. */
  readonly pendingAdvices: number;
  /** Stand-in decisions of every API process not yet on the issuer's books (the registry's). */
  readonly unapplied: number;
}

/** The value of the `cards` topic. */
export interface CardsTopicValue {
  /** Always `process`: the counts are this API process's since it started. */
  readonly countedBy: 'process';
  readonly authorizations: {
    readonly total: number;
    readonly approved: number;
    readonly declined: number;
    /** Every status (`approved` and each decline reason), zeros included. */
    readonly byStatus: Readonly<Record<AuthorizationStatus, number>>;
    readonly byDecider: { readonly issuer: number; readonly stand_in: number };
  };
  readonly standIn: {
    readonly share: number;
    readonly decisions: number;
    readonly approvals: number;
    readonly byTrigger: Readonly<Record<string, number>>;
    readonly forwarded: number;
    readonly forwardedByResult: Readonly<Record<string, number>>;
    /** Forwarded advices the issuer had answered otherwise (`answer_conflict`), for review. */
    readonly conflicts: number;
    readonly quarantined: number;
    readonly pendingAdvices: number;
    /** Exposure of the advices this process forwarded, per currency. */
    readonly exposureByCurrency: MinorUnits;
    readonly lastForwardError: StandInStatsSnapshot['lastForwardError'];
  };
  /** The stand-in registry on the witness: every API process together. */
  readonly registry: {
    readonly reachable: boolean;
    readonly unapplied: number;
    readonly outstandingByCurrency: MinorUnits;
    readonly overshootByCurrency: MinorUnits;
  };
  readonly shards: readonly CardShardFigures[];
}

const minorUnits = (amounts: Readonly<Record<string, bigint>>): MinorUnits =>
  Object.fromEntries(Object.entries(amounts).map(([code, amount]) => [code, amount.toString()]));

/**
 * The `cards` topic from the stand-in processor's figures, all held in memory (no query per
 * read). Authorizations are counted per API process, since it started: every answer the
 * process gave, by status, replays excluded; a count over every process would scan each
 * shard's `authorizations`, so none is offered. Advices waiting in the spool are this
 * process's too; `registry` is the fleet-wide view the stand-in registry already polls.
 * Reconciliation over every shard is `GET /v1/stand-in/reconciliation`.
 */
export function cardsTopicValue(stats: StandInStatsSnapshot): CardsTopicValue {
  const byStatus = stats.authorizationsByStatus;
  const total = Object.values(byStatus).reduce((sum, n) => sum + n, 0);
  const { registry } = stats.shared;
  const unapplied = Object.values(registry.unappliedByShard).reduce((sum, n) => sum + n, 0);
  return {
    countedBy: 'process',
    authorizations: {
      total,
      approved: byStatus.approved,
      declined: total - byStatus.approved,
      byStatus,
      byDecider: { issuer: stats.issuerDecisions, stand_in: stats.standInDecisions },
    },
    standIn: {
      share: stats.standInShare,
      decisions: stats.standInDecisions,
      approvals: stats.standInApprovals,
      byTrigger: stats.standInByTrigger,
      forwarded: stats.forwardedCount,
      forwardedByResult: stats.forwardedByResult,
      conflicts: stats.forwardedByResult.answer_conflict ?? 0,
      quarantined: stats.quarantinedCount,
      pendingAdvices: stats.pendingAdvicesTotal,
      exposureByCurrency: minorUnits(stats.exposureByCurrency),
      lastForwardError: stats.lastForwardError,
    },
    registry: {
      reachable: registry.reachable,
      unapplied,
      outstandingByCurrency: minorUnits(registry.outstandingByCurrency),
      overshootByCurrency: minorUnits(registry.overshootByCurrency),
    },
    shards: Object.entries(stats.diversions).map(([id, diversion]) => {
      const shardId = Number(id);
      return {
        shardId,
        circuit: stats.circuits[shardId] ?? 'closed',
        diversion: diversion.reason,
        latencyP99Ms: diversion.latencyP99Ms,
        queueDepth: diversion.queueDepth,
        issuerSharePercent: diversion.issuerSharePercent,
        pendingAdvices: stats.pendingAdvices[shardId] ?? 0,
        unapplied: registry.unappliedByShard[shardId] ?? 0,
      };
    }),
  };
}

/** The live topics the cards module offers on `GET /v1/stream`. */
export function cardStreamTopics(cards: CardServices): Record<string, StreamTopic> {
  return {
    cards: {
      scope: 'cards:stand-in:read',
      intervalMs: 1_000,
      read: async () => cardsTopicValue(cards.standIn.stats()),
    },
  };
}
