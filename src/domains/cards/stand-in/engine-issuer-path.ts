import type { Router } from '../../../data/router.ts';
import type { AuthorizationEngine } from '../authorization/authorization-engine.ts';
import {
  AUTHORIZATION_COLUMNS,
  type AuthorizationRow,
  outcomeOfRow,
} from '../authorization/authorization-row.ts';
import type { AdviceResult, AuthorizationStatus } from '../authorization/authorization-types.ts';
import type { CachedCard, CardStatusSource } from './card-status-cache.ts';
import type { IssuerPath, ReconciledAdvice } from './issuer-path.ts';

/**
 * Binds the authorization engine as stand-in's issuer path. The engine decides, applies
 * advices and reports; the reads stand-in needs beyond that (a reconciled-advice page, an
 * authorization by card and request id) read the engine's tables through the router, on the
 * primary when it answers and on a replica (`any`) when it does not: stand-in works exactly
 * when primaries are in trouble.
 */
export function engineIssuerPath(router: Router, engine: AuthorizationEngine): IssuerPath {
  return {
    authorize: (request) => engine.authorizeWithToken(request),
    queueDepth: (shardId) => engine.queueDepth(shardId),
    latencyP99Ms: (shardId) => {
      const latency = engine.latency(shardId);
      return latency.sampleCount === 0 ? null : latency.p99Ms;
    },
    applyAdvices: (shardId, advices) => engine.applyAdvices(shardId, advices),
    reconciliation: async (shardId) => {
      const report = await engine.reconciliationReport(shardId);
      return { counts: report.counts, exposureByCurrency: report.exposureByCurrency };
    },
    reconciledAdvices: (shardId, page) => reconciledAdvices(router, shardId, page),
    findAuthorization: async (cardId, requestId) => {
      const { value } = await router.read(
        cardId,
        (db) =>
          db.query<AuthorizationRow>(
            `SELECT ${AUTHORIZATION_COLUMNS} FROM public.authorizations
              WHERE card_id = $1 AND request_id = $2`,
            [cardId, requestId],
          ),
        { consistency: 'any' },
      );
      const row = value.rows[0];
      return row ? outcomeOfRow(row) : null;
    },
  };
}

interface ReconciliationRow {
  authorization_id: string;
  card_id: string;
  request_id: string;
  result: AdviceResult;
  stand_in_status: AuthorizationStatus;
  issuer_status: AuthorizationStatus;
  amount: string;
  currency: string;
  exposure_amount: string;
  decided_at: Date;
  applied_at: Date;
}

async function reconciledAdvices(
  router: Router,
  shardId: number,
  page: { readonly limit: number; readonly startingAfter?: string | null },
): Promise<ReconciledAdvice[]> {
  const work = (db: Parameters<Parameters<Router['readShard']>[1]>[0]) =>
    db.query<ReconciliationRow>(
      `SELECT authorization_id, card_id, request_id, result, stand_in_status, issuer_status,
              amount::text, currency, exposure_amount::text, decided_at, applied_at
         FROM public.stand_in_reconciliations
        WHERE authorization_id > $1 ORDER BY authorization_id LIMIT $2`,
      [page.startingAfter ?? '', page.limit],
    );
  const { value } = await router
    .readShard(shardId, work, { consistency: 'primary' })
    .catch(() => router.readShard(shardId, work, { consistency: 'any' }));
  return value.rows.map((row) => ({
    authorizationId: row.authorization_id,
    cardId: row.card_id,
    requestId: row.request_id,
    result: row.result,
    standInStatus: row.stand_in_status,
    issuerStatus: row.issuer_status,
    amount: BigInt(row.amount),
    currency: row.currency,
    exposure: BigInt(row.exposure_amount),
    decidedAt: row.decided_at.toISOString(),
    appliedAt: row.applied_at.toISOString(),
  }));
}

interface CardRow {
  id: string;
  status: string;
  account_id: string;
  expiry_month: number;
  expiry_year: number;
  currency: string;
  account_status: string;
}

/**
 * Reads card state from a replica of the card's shard (`any` consistency: however far behind,
 * a replica's card state beats none when the primary is down).
 */
export function replicaCardSource(router: Router): CardStatusSource {
  return {
    async readCard(cardId: string): Promise<CachedCard | null> {
      const { value } = await router.read(
        cardId,
        (db) =>
          db.query<CardRow>(
            `SELECT c.id, c.status, c.account_id, c.expiry_month, c.expiry_year, a.currency,
                    a.status AS account_status
               FROM public.cards c JOIN public.card_accounts a ON a.id = c.account_id
              WHERE c.id = $1`,
            [cardId],
          ),
        { consistency: 'any' },
      );
      const row = value.rows[0];
      if (!row) return null;
      return {
        cardId: row.id,
        state:
          row.account_status === 'closed'
            ? 'account_closed'
            : row.status === 'blocked'
              ? 'blocked'
              : row.status === 'expired'
                ? 'expired'
                : 'active',
        accountId: row.account_id,
        currency: row.currency,
        expiry: { month: row.expiry_month, year: row.expiry_year },
        observedAtMs: Date.now(),
      };
    },
  };
}
