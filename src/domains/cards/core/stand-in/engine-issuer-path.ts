import type { Router } from '../../../../data/router.ts';
import { AuthorizationReader } from '../../store/authorization-reader.ts';
import { CardAccountService } from '../accounts/card-account-service.ts';
import type { AuthorizationEngine } from '../authorization/authorization-engine.ts';
import type { CachedCard, CardStatusSource } from './card-status-cache.ts';
import type { IssuerPath } from './issuer-path.ts';

/**
 * Binds the authorization engine as stand-in's issuer path. The engine decides, applies and
 * quarantines advices, reports, and gives its hold TTL (so stand-in's stated hold expiry is
 * the engine's, never a second setting); the reads stand-in needs beyond that (ledger pages,
 * an authorization by card and request id) are the {@link AuthorizationReader}'s, which
 * falls back to replicas when the primary does not answer.
 */
export function engineIssuerPath(router: Router, engine: AuthorizationEngine): IssuerPath {
  const reader = new AuthorizationReader(router);
  return {
    holdTtlMs: engine.settings.holdTtlSeconds * 1_000,
    authorize: (request) => engine.authorizeWithToken(request),
    queueDepth: (shardId) => engine.queueDepth(shardId),
    latencyP99Ms: (shardId, sinceMs) => {
      const latency = engine.latency(shardId, sinceMs);
      return latency.sampleCount === 0 ? null : latency.p99Ms;
    },
    applyAdvices: (shardId, advices) => engine.applyAdvices(shardId, advices),
    quarantineAdvice: (shardId, entry) => engine.quarantineAdvice(shardId, entry),
    reconciliation: async (shardId) => {
      const report = await engine.reconciliationReport(shardId);
      return {
        counts: report.counts,
        exposureByCurrency: report.exposureByCurrency,
        quarantined: report.quarantined,
      };
    },
    reconciledAdvices: (shardId, page) => reader.reconciledAdvices(shardId, page),
    quarantinedAdvices: (shardId, page) => reader.quarantinedAdvices(shardId, page),
    findAuthorization: (cardId, requestId) => reader.byRequest(cardId, requestId, 'any'),
    findAcknowledged: (cardId, requestId, waitMs) =>
      reader.byRequestReplayed(cardId, requestId, waitMs),
    overshoots: (shardId, accountIds) => reader.overshoots(shardId, accountIds),
  };
}

/**
 * Reads card state from a replica of the card's shard (`any` consistency: however far behind,
 * a replica's card state beats none when the primary is down), through the accounts service.
 */
export function replicaCardSource(router: Router): CardStatusSource {
  const accounts = new CardAccountService(router);
  return {
    async readCard(cardId: string): Promise<CachedCard | null> {
      const standing = await accounts.findCardStanding(cardId, 'any');
      if (!standing) return null;
      const { card } = standing;
      return {
        cardId: card.id,
        state:
          standing.accountStatus === 'closed'
            ? 'account_closed'
            : card.status === 'blocked'
              ? 'blocked'
              : card.status === 'expired'
                ? 'expired'
                : 'active',
        accountId: card.accountId,
        currency: standing.currency,
        expiry: { month: card.expiryMonth, year: card.expiryYear },
        observedAtMs: Date.now(),
      };
    },
  };
}
