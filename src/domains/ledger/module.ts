/**
 * The ledger module (decision 49): double-entry accounts, transfers through the batching engine
 * (single, linked, two-phase), striped institution accounts, balances at past times, and the
 * sweep that voids pending transfers past their timeout. The platform hosts it without naming it.
 */
import type pg from 'pg';
import { IDEMPOTENCY_MIGRATIONS } from '../../data/idempotency.ts';
import type { Router } from '../../data/router.ts';
import { AdvisoryLockLease } from '../../jobs/advisory-lock-lease.ts';
import type { DomainModule, MetricFactories, RunningModule } from '../../platform/domain-module.ts';
import { registerCrossShardRoutes } from './api/cross-shard-routes.ts';
import { LEDGER_SCOPES, registerLedgerRoutes } from './api/ledger-routes.ts';
import { type LedgerConfig, LedgerConfigSchema } from './config/ledger-config.ts';
import { CrossShardDriver } from './core/cross-shard/cross-shard-driver.ts';
import { CrossShardTransfers } from './core/cross-shard/cross-shard-transfers.ts';
import { LedgerAccountList } from './core/ledger-account-list.ts';
import { LedgerAccountService } from './core/ledger-account-service.ts';
import { LedgerEngine } from './core/ledger-engine.ts';
import { PENDING_SWEEP_INTERVAL_MS_DEFAULT, PendingExpiry } from './core/pending-expiry.ts';
import { LEDGER_ERRORS } from './errors.ts';
import { registerPaymentRoutes } from './payments/api/payment-routes.ts';
import { startPaymentServices } from './payments/payment-services.ts';
import { registerSettlementRoutes } from './settlement/api/settlement-routes.ts';
import { ledgerStreamTopic } from './settlement/api/settlement-stream.ts';
import { type SettlementServices, startSettlementServices } from './settlement/start-settlement.ts';
import { LEDGER_MIGRATIONS } from './sql/ledger-migrations.ts';

/** The ledger's services as they run in one API process. */
export interface LedgerServices {
  readonly accounts: LedgerAccountService;
  readonly accountList: LedgerAccountList;
  readonly engine: LedgerEngine;
  readonly expiry: PendingExpiry;
  readonly crossShard: CrossShardTransfers;
  readonly crossShardDriver: CrossShardDriver;
}

/** The running module; the entry point plugs other domains' end-of-day checks into `endOfDay`. */
export type RunningLedger = LedgerServices & SettlementServices & RunningModule;

/** A service that is not running: each call fails, for building the OpenAPI document alone. */
function notRunning<T extends object>(): T {
  return new Proxy({} as T, {
    get: () => () => Promise.reject(new Error('the ledger services are not running')),
  });
}

/**
 * Starts the ledger's services on `router`, with `engineRouter` for the engine's batches. The
 * sweep and the cross-shard driver run in one API process at a time, the one holding their
 * lease on the catalog (`catalogConnection`), as every platform job does (decision 40).
 */
export function startLedgerServices(
  router: Router,
  engineRouter: Router,
  section: LedgerConfig = {},
  catalogConnection?: pg.ClientConfig,
): LedgerServices & { readonly lease: AdvisoryLockLease | null } {
  const accounts = new LedgerAccountService(router, {
    ...(section.stripesPerShard === undefined ? {} : { stripesPerShard: section.stripesPerShard }),
  });
  const engine = new LedgerEngine(engineRouter);
  const lease = catalogConnection ? new AdvisoryLockLease({ connection: catalogConnection }) : null;
  const expiry = new PendingExpiry(router, engine);
  expiry.start(
    section.pendingSweepIntervalMs ?? PENDING_SWEEP_INTERVAL_MS_DEFAULT,
    lease ?? undefined,
  );
  const crossShard = new CrossShardTransfers(router);
  const crossShardDriver = new CrossShardDriver(router, engine, accounts, {
    ...(lease === null ? {} : { lease }),
  });
  crossShardDriver.start();
  const accountList = new LedgerAccountList(router);
  return { accounts, accountList, engine, expiry, crossShard, crossShardDriver, lease };
}

/** The engine's batches and the sweep's results, read at scrape time. */
function registerLedgerMetrics({ counter, gauge }: MetricFactories, ledger: LedgerServices): void {
  counter('mainstay_ledger_engine_requests_total', 'Ledger requests applied in batches.', [], (m) =>
    m.inc(ledger.engine.stats.requests),
  );
  counter(
    'mainstay_ledger_engine_batches_total',
    'Batches of the ledger engine, by how they ended.',
    ['outcome'],
    (m) => {
      const stats = ledger.engine.stats;
      m.inc({ outcome: 'applied' }, stats.batches);
      m.inc({ outcome: 'failed' }, stats.batchesFailed);
      m.inc({ outcome: 'isolated' }, stats.batchesIsolated);
    },
  );
  counter(
    'mainstay_ledger_engine_overloaded_total',
    'Ledger calls refused at once because their shard queue was full.',
    [],
    (m) => m.inc(ledger.engine.stats.overloaded),
  );
  gauge('mainstay_ledger_engine_batch_size_max', 'Largest ledger batch so far.', [], (m) =>
    m.set(ledger.engine.stats.batchSizeMax),
  );
}

export const ledgerModule: DomainModule<RunningLedger> = {
  name: 'ledger',
  configSection: { key: 'ledger', schema: LedgerConfigSchema },
  shardMigrations: [IDEMPOTENCY_MIGRATIONS, LEDGER_MIGRATIONS],
  errors: LEDGER_ERRORS,
  scopes: LEDGER_SCOPES,
  async start(context) {
    const section = (context.section ?? {}) as LedgerConfig;
    const engineRouter = await context.connectRouter({
      applicationName: 'mainstay-ledger-engine',
      poolSizeMax: 4,
    });
    const services = startLedgerServices(
      context.router,
      engineRouter,
      section,
      context.catalogConnection,
    );
    const payments = await startPaymentServices({
      router: context.router,
      engine: services.engine,
      accounts: services.accounts,
      secrets: context.secrets,
      ...(section.payments === undefined ? {} : { section: section.payments }),
      ...(services.lease === null ? {} : { lease: services.lease }),
    });
    const settlement = startSettlementServices(context.router, section.settlement);
    return {
      ...services,
      ...settlement,
      async routes(app) {
        registerLedgerRoutes(app, services);
        registerSettlementRoutes(app, settlement);
        registerCrossShardRoutes(app, services.crossShard);
        registerPaymentRoutes(app, payments);
      },
      metrics(factories) {
        registerLedgerMetrics(factories, services);
      },
      streamTopics: () => ({ ledger: ledgerStreamTopic(settlement.settlement) }),
      jobs: () => [
        ...services.expiry.jobs.snapshot(),
        ...services.crossShardDriver.jobs.snapshot(),
        ...payments.jobs.jobs.snapshot(),
      ],
      async stop() {
        await payments.jobs.stop();
        await payments.payments.close();
        await services.crossShardDriver.close();
        await services.crossShard.close();
        await services.expiry.stop();
        await services.lease?.close();
        await services.engine.close();
        await engineRouter.close();
      },
    };
  },
  async describeRoutes(app) {
    registerLedgerRoutes(app, {
      accounts: notRunning(),
      accountList: notRunning(),
      engine: notRunning(),
    });
    registerSettlementRoutes(app, { settlement: notRunning(), endOfDay: notRunning() });
    registerCrossShardRoutes(app, notRunning());
    registerPaymentRoutes(app, {
      payments: notRunning(),
      qrCodes: notRunning(),
      batches: notRunning(),
      jobs: notRunning(),
    });
  },
};
