import path from 'node:path';
import type pg from 'pg';
import type { CatalogStore } from '../../catalog/catalog-store.ts';
import { BypassSpool } from '../../data/bypass/bypass-spool.ts';
import { IDEMPOTENCY_MIGRATIONS } from '../../data/idempotency.ts';
import type { Router } from '../../data/router.ts';
import type { JobSnapshot } from '../../jobs/job-runner.ts';
import type { MigrationSet } from '../../migrations/migration.ts';
import { CardAccountService } from './core/accounts/card-account-service.ts';
import { AuthorizationEngine } from './core/authorization/authorization-engine.ts';
import { AuthorizationService } from './core/authorization/authorization-service.ts';
import { HoldSweeper } from './core/authorization/hold-sweeper.ts';
import { CardBindingService } from './core/binding/binding-service.ts';
import { loadOrCreateCardKeys } from './core/binding/card-keys.ts';
import { CardLedgerDrain } from './core/ledger/card-ledger-drain.ts';
import { engineIssuerPath, replicaCardSource } from './core/stand-in/engine-issuer-path.ts';
import type { StandInOptions } from './core/stand-in/stand-in-options.ts';
import { StandInProcessor } from './core/stand-in/stand-in-processor.ts';
import { loadBindingDemoData } from './demo/binding-demo-data.ts';
import { loadCardDemoData } from './demo/card-demo-data.ts';
import { AUTHORIZATION_MIGRATIONS } from './sql/authorization-migrations.ts';
import { BINDING_MIGRATIONS } from './sql/binding-migrations.ts';
import { CARD_ACCOUNT_MIGRATIONS } from './sql/card-account-migrations.ts';
import { openStandInRegistry } from './store/stand-in-registry.ts';

/** The shard schema the card services need, in the order it is applied. */
export const CARD_MIGRATIONS: readonly MigrationSet[] = [
  IDEMPOTENCY_MIGRATIONS,
  BINDING_MIGRATIONS,
  CARD_ACCOUNT_MIGRATIONS,
  AUTHORIZATION_MIGRATIONS,
];

/** The card services of one Mainstay process, wired to its router. */
export interface CardServices {
  readonly router: Router;
  readonly binding: CardBindingService;
  readonly accounts: CardAccountService;
  readonly engine: AuthorizationEngine;
  readonly authorizations: AuthorizationService;
  readonly standIn: StandInProcessor;
  readonly sweeper: HoldSweeper;
  /**
   * Hands the card ledger events to a book of accounts (decision 52); idle until the entry point
   * attaches a sink with `ledgerPostings.start(sink, lease)`.
   */
  readonly ledgerPostings: CardLedgerDrain;
  /** Every card background loop's figures (hold expiry, forwarding, orphan sweep, registry poll). */
  jobSnapshots(): JobSnapshot[];
  stop(): Promise<void>;
}

/**
 * Starts the card services on `router`: binding (with the fleet's card keys), accounts, the
 * authorization engine behind stand-in processing (its advice spool under `home/spool`), and
 * the hold sweeper; `standInOptions` are the config file's (see stand-in-settings.ts);
 * `witness` reaches the catalog database, where the stand-in registry lives. The
 * engine gets a router of its own (`engineRouter`): its single writer per shard must never
 * queue for a connection behind request traffic (captures, lists) on the shared pools, or a
 * batch waits for them and group commit gathers nothing.
 */
export async function startCardServices(
  router: Router,
  catalog: CatalogStore,
  home: string,
  engineRouter: Router,
  standInOptions: Partial<StandInOptions>,
  witness: pg.ClientConfig,
): Promise<CardServices> {
  const keys = await loadOrCreateCardKeys(catalog);
  const binding = new CardBindingService(router, keys);
  const accounts = new CardAccountService(router);
  const engine = new AuthorizationEngine(engineRouter);
  const spool = await BypassSpool.open({ dir: path.join(home, 'spool'), name: 'stand-in-advices' });
  const registry = await openStandInRegistry(witness).catch(async (error: unknown) => {
    await spool.close();
    throw error;
  });
  const standIn = StandInProcessor.start(
    {
      router,
      issuer: engineIssuerPath(router, engine),
      cards: replicaCardSource(router),
      spool,
      registry: registry.registry,
    },
    standInOptions,
  );
  // Reads of authorization ids see stand-in decisions still waiting in the spool; captures and
  // reversals go through the engine's lanes, so one writer per shard moves every hold.
  const authorizations = new AuthorizationService(router, { standIn, engine });
  const sweeper = new HoldSweeper(router);
  sweeper.start();
  const ledgerPostings = new CardLedgerDrain(router);
  return {
    router,
    binding,
    accounts,
    engine,
    authorizations,
    standIn,
    sweeper,
    ledgerPostings,
    jobSnapshots: () => [
      ...sweeper.jobs.snapshot(),
      ...ledgerPostings.jobs.snapshot(),
      ...standIn.jobSnapshots(),
      ...registry.registry.jobs.snapshot(),
    ],
    async stop() {
      await ledgerPostings.stop();
      await sweeper.stop();
      await standIn.stop();
      await registry.close();
      await engine.close();
      await engineRouter.close();
    },
  };
}

/** Loads the card demo data once per fleet: cardholders with bound cards, accounts with cards. */
export async function loadCardDemo(router: Router, catalog: CatalogStore): Promise<boolean> {
  const keys = await loadOrCreateCardKeys(catalog);
  const users = await loadBindingDemoData(catalog, router, keys);
  const accounts = await loadCardDemoData(catalog, router);
  return users || accounts;
}
