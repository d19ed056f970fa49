/**
 * Stand-in processing, for risk and operations staff: the advices decided while the issuer path
 * was down or overloaded (pending or reconciled), the reconciliation report with the stand-in
 * exposure, the share of stand-in decisions, and a way to forward the backlog now.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { requires } from '../../../http/access-control.ts';
import { problemResponses } from '../../../http/routes/problem-responses.ts';
import { json } from '../../../http/routes/route-helpers.ts';
import { amountToJson } from '../../../http/schemas/money-schema.ts';
import { LiteralUnion, Nullable } from '../../../http/schemas/schema-helpers.ts';
import {
  ADVICE_RESULTS,
  AUTHORIZATION_STATUSES,
  type AuthorizationStatus,
} from '../core/authorization/authorization-types.ts';
import { CIRCUIT_STATES } from '../core/stand-in/issuer-circuit.ts';
import { DIVERSION_REASONS } from '../core/stand-in/overload-diversion.ts';
import type { StandInProcessor } from '../core/stand-in/stand-in-processor.ts';
import { ADVICE_PAGE_LIMIT_MAX } from '../core/stand-in/stand-in-report.ts';
import { STAND_IN_TRIGGERS } from '../core/stand-in/stand-in-stats.ts';
import { ID_PATTERN } from './schemas/authorization-schema.ts';

const STATUS_NAMES = Object.keys(AUTHORIZATION_STATUSES) as AuthorizationStatus[];
const Counts = Type.Object(
  Object.fromEntries(ADVICE_RESULTS.map((result) => [result, Type.Integer()])),
);
const Exposure = Type.Record(Type.String({ pattern: '^[A-Z]{3}$' }), Type.Integer(), {
  description: 'Minor units per ISO 4217 currency.',
});

const AdviceSchema = Type.Object(
  {
    authorizationId: Type.String(),
    shardId: Type.Integer(),
    cardId: Type.String(),
    requestId: Type.String(),
    state: LiteralUnion(['pending', 'forwarded', 'quarantined'] as const),
    standInStatus: LiteralUnion(STATUS_NAMES),
    amount: Type.Integer(),
    currency: Type.String(),
    decidedAt: Type.String({ format: 'date-time' }),
    result: Nullable(LiteralUnion(ADVICE_RESULTS)),
    issuerStatus: Nullable(LiteralUnion(STATUS_NAMES)),
    exposure: Nullable(Type.Integer()),
    appliedAt: Nullable(Type.String({ format: 'date-time' })),
    quarantine: Nullable(
      Type.Object(
        {
          errorCode: Type.String(),
          errorMessage: Type.String(),
          failureCount: Type.Integer(),
          quarantinedAt: Type.String({ format: 'date-time' }),
        },
        {
          description:
            'Set when the issuer kept refusing the advice and it was moved to the dead letters.',
        },
      ),
    ),
  },
  { $id: 'StandInAdvice', additionalProperties: false },
);
const AdviceListSchema = Type.Object(
  {
    data: Type.Array(Type.Ref('StandInAdvice')),
    hasMore: Type.Boolean(),
    nextCursor: Nullable(Type.String()),
  },
  { $id: 'StandInAdviceList', additionalProperties: false },
);
const ReconciliationSchema = Type.Object(
  {
    counts: Counts,
    exposureByCurrency: Exposure,
    exposureTotal: Type.Integer(),
    pendingAdvices: Type.Integer(),
    quarantinedAdvices: Type.Integer(),
    shards: Type.Array(
      Type.Object({
        shardId: Type.Integer(),
        counts: Counts,
        exposureByCurrency: Exposure,
        pendingAdvices: Type.Integer(),
        quarantinedAdvices: Type.Integer(),
      }),
    ),
  },
  { $id: 'StandInReconciliation', additionalProperties: false },
);
const StatsSchema = Type.Object(
  {
    issuerDecisions: Type.Integer(),
    standInDecisions: Type.Integer(),
    standInShare: Type.Number({ minimum: 0, maximum: 1 }),
    standInApprovals: Type.Integer(),
    standInByTrigger: Type.Object(
      Object.fromEntries(STAND_IN_TRIGGERS.map((trigger) => [trigger, Type.Integer()])),
    ),
    pendingAdvicesTotal: Type.Integer(),
    forwardedCount: Type.Integer(),
    exposureByCurrency: Exposure,
    exposureTotal: Type.Integer(),
    circuits: Type.Record(Type.String(), LiteralUnion(CIRCUIT_STATES)),
    diversions: Type.Record(
      Type.String(),
      Type.Object(
        {
          reason: LiteralUnion(DIVERSION_REASONS),
          latencyP99Ms: Nullable(Type.Number({ minimum: 0 })),
          queueDepth: Type.Integer({ minimum: 0 }),
          issuerSharePercent: Type.Integer({ minimum: 0, maximum: 100 }),
        },
        { additionalProperties: false },
      ),
      {
        description:
          'Per shard id: why its authorizations go to stand-in now (`none`: to the issuer), ' +
          'the issuer p99 over the recent window behind the latency diversion, the engine ' +
          'queue depth, and the share of requests still sent to the issuer while a latency ' +
          'diversion ramps back.',
      },
    ),
    lastForwardError: Nullable(
      Type.Object({ shardId: Type.Integer(), message: Type.String(), at: Type.String() }),
    ),
    quarantinedCount: Type.Integer(),
    shared: Type.Object(
      {
        sharedAnswersReplayed: Type.Integer(),
        issuerAnswersHonoured: Type.Integer(),
        unverifiedDecisions: Type.Integer(),
        cappedByExposure: Type.Integer(),
        registryUnavailable: Type.Integer(),
        registryReachable: Type.Boolean(),
        unappliedByShard: Type.Record(Type.String(), Type.Integer()),
        outstandingByCurrency: Exposure,
        overshootByCurrency: Exposure,
      },
      {
        additionalProperties: false,
        description:
          'One answer per request across processes and the shared exposure caps (the ' +
          'registry on the witness): answers found already given (by stand-in in any ' +
          'process, or by the issuer), requests left undecided because the issuer could not be read, ' +
          'approvals turned down by the caps, and, for every process together, decisions not ' +
          'yet on the issuer books per shard, approvals outstanding and books above credit ' +
          'limits per currency (minor units).',
      },
    ),
  },
  { $id: 'StandInStats', additionalProperties: false },
);

const exposureJson = (exposure: Readonly<Record<string, bigint>>) =>
  Object.fromEntries(
    Object.entries(exposure).map(([code, amount]) => [code, amountToJson(amount)]),
  );

/** Registers the stand-in routes on `app`. */
export function registerStandInRoutes(app: FastifyInstance, standIn: StandInProcessor): void {
  for (const schema of [AdviceSchema, AdviceListSchema, ReconciliationSchema, StatsSchema]) {
    app.addSchema(schema);
  }
  registerAdvices(app, standIn);
  registerReconciliation(app, standIn);
  registerStats(app, standIn);
}

/** `GET /v1/stand-in/advices`: a page of advices, pending, reconciled or quarantined. */
function registerAdvices(app: FastifyInstance, standIn: StandInProcessor): void {
  app.get<{ Querystring: { limit?: number; startingAfter?: string; shardId?: number } }>(
    '/v1/stand-in/advices',
    {
      schema: {
        security: requires('cards:stand-in:read'),
        summary: 'Stand-in advices: pending, reconciled and quarantined, oldest first',
        tags: ['stand-in'],
        querystring: Type.Object(
          {
            limit: Type.Optional(
              Type.Integer({ minimum: 1, maximum: ADVICE_PAGE_LIMIT_MAX, default: 20 }),
            ),
            startingAfter: Type.Optional(Type.String({ pattern: ID_PATTERN('auth') })),
            shardId: Type.Optional(Type.Integer({ minimum: 0, maximum: 65_535 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: json(AdviceListSchema, 'A page of advices.'), ...problemResponses },
      },
    },
    async (request) => {
      const { limit, startingAfter, shardId } = request.query;
      const page = await standIn.advices({
        limit: limit ?? 20,
        ...(startingAfter === undefined ? {} : { startingAfter }),
        ...(shardId === undefined ? {} : { shardId }),
      });
      return {
        ...page,
        data: page.data.map((advice) => ({
          ...advice,
          amount: amountToJson(advice.amount),
          exposure: advice.exposure === null ? null : amountToJson(advice.exposure),
        })),
      };
    },
  );
}

/** `GET /v1/stand-in/reconciliation`: forwarded advices by result and the stand-in exposure. */
function registerReconciliation(app: FastifyInstance, standIn: StandInProcessor): void {
  app.get(
    '/v1/stand-in/reconciliation',
    {
      schema: {
        security: requires('cards:stand-in:read'),
        summary: 'Reconciliation of forwarded advices and the stand-in exposure',
        description:
          'Per result of the rule matrix: `matched` (the issuer would have approved too), ' +
          '`exposure` (the issuer would have declined what stand-in approved: the hold is kept ' +
          'and the amount over the available credit is the exposure), `declined_recorded`, ' +
          '`duplicate_dropped` (the issuer already had the request with the same answer), ' +
          '`answer_conflict` (the issuer had answered otherwise: the stand-in answer is kept ' +
          'unless the issuer hold was already moved, and the conflict is listed for review).',
        tags: ['stand-in'],
        response: { 200: json(ReconciliationSchema, 'The report.'), ...problemResponses },
      },
    },
    async () => {
      const report = await standIn.reconciliationReport();
      return {
        ...report,
        exposureByCurrency: exposureJson(report.exposureByCurrency),
        exposureTotal: amountToJson(report.exposureTotal),
        shards: report.shards.map((shard) => ({
          ...shard,
          exposureByCurrency: exposureJson(shard.exposureByCurrency),
        })),
      };
    },
  );
}

/** `GET /v1/stand-in/stats`: this process's stand-in share, backlog, circuits and diversions. */
function registerStats(app: FastifyInstance, standIn: StandInProcessor): void {
  app.get(
    '/v1/stand-in/stats',
    {
      schema: {
        security: requires('cards:stand-in:read'),
        summary: 'Share of stand-in decisions, backlog, circuits and diversions (this process)',
        tags: ['stand-in'],
        response: { 200: json(StatsSchema, 'The figures.'), ...problemResponses },
      },
    },
    async () => {
      const stats = standIn.stats();
      return {
        issuerDecisions: stats.issuerDecisions,
        standInDecisions: stats.standInDecisions,
        standInShare: stats.standInShare,
        standInApprovals: stats.standInApprovals,
        standInByTrigger: stats.standInByTrigger,
        pendingAdvicesTotal: stats.pendingAdvicesTotal,
        forwardedCount: stats.forwardedCount,
        exposureByCurrency: exposureJson(stats.exposureByCurrency),
        exposureTotal: amountToJson(stats.exposureTotal),
        circuits: stats.circuits,
        diversions: stats.diversions,
        lastForwardError: stats.lastForwardError,
        quarantinedCount: stats.quarantinedCount,
        shared: {
          sharedAnswersReplayed: stats.shared.sharedAnswersReplayed,
          issuerAnswersHonoured: stats.shared.issuerAnswersHonoured,
          unverifiedDecisions: stats.shared.unverifiedDecisions,
          cappedByExposure: stats.shared.cappedByExposure,
          registryUnavailable: stats.shared.registryUnavailable,
          registryReachable: stats.shared.registry.reachable,
          unappliedByShard: stats.shared.registry.unappliedByShard,
          outstandingByCurrency: exposureJson(stats.shared.registry.outstandingByCurrency),
          overshootByCurrency: exposureJson(stats.shared.registry.overshootByCurrency),
        },
      };
    },
  );
}
