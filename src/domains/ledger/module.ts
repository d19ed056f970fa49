/**
 * The ledger module (decision 49): double-entry accounts, transfers through the batching engine
 * (single, linked, two-phase), striped institution accounts, balances at past times, and the
 * sweep that voids pending transfers past their timeout. The platform hosts it without naming it.
 */
import { IDEMPOTENCY_MIGRATIONS } from '../../data/idempotency.ts';
import type { Router } from '../../data/router.ts';
import type { DomainModule, MetricFactories, RunningModule } from '../../platform/domain-module.ts';
import { LEDGER_SCOPES, registerLedgerRoutes } from './api/ledger-routes.ts';
import { type LedgerConfig, LedgerConfigSchema } from './config/ledger-config.ts';
import { LedgerAccountService } from './core/ledger-account-service.ts';
import { LedgerEngine } from './core/ledger-engine.ts';
import { PENDING_SWEEP_INTERVAL_MS_DEFAULT, PendingExpiry } from './core/pending-expiry.ts';
import { LEDGER_ERRORS } from './errors.ts';
import { LEDGER_MIGRATIONS } from './sql/ledger-migrations.ts';

/** The ledger's services as they run in one API process. */
export interface LedgerServices {
  readonly accounts: LedgerAccountService;
  readonly engine: LedgerEngine;
  readonly expiry: PendingExpiry;
}

export type RunningLedger = LedgerServices & RunningModule;

/** A service that is not running: each call fails, for building the OpenAPI document alone. */
function notRunning<T extends object>(): T {
  return new Proxy({} as T, {
    get: () => () => Promise.reject(new Error('the ledger services are not running')),
  });
}

/** Starts the ledger's services on `router`, with `engineRouter` for the engine's batches. */
export function startLedgerServices(
  router: Router,
  engineRouter: Router,
  section: LedgerConfig = {},
): LedgerServices {
  const accounts = new LedgerAccountService(router, {
    ...(section.stripesPerShard === undefined ? {} : { stripesPerShard: section.stripesPerShard }),
  });
  const engine = new LedgerEngine(engineRouter);
  const expiry = new PendingExpiry(router, engine);
  expiry.start(section.pendingSweepIntervalMs ?? PENDING_SWEEP_INTERVAL_MS_DEFAULT);
  return { accounts, engine, expiry };
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
    const services = startLedgerServices(context.router, engineRouter, section);
    return {
      ...services,
      async routes(app) {
        registerLedgerRoutes(app, services);
      },
      metrics(factories) {
        registerLedgerMetrics(factories, services);
      },
      jobs: () => services.expiry.jobs.snapshot(),
      async stop() {
        await services.expiry.stop();
        await services.engine.close();
        await engineRouter.close();
      },
    };
  },
  async describeRoutes(app) {
    registerLedgerRoutes(app, { accounts: notRunning(), engine: notRunning() });
  },
};
