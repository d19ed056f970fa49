/**
 * The cards module: card binding, card accounts, authorization (the per-shard batching engine)
 * and stand-in processing, as one {@link DomainModule} the platform hosts without naming it.
 */
import type { DomainModule, RunningModule } from '../../platform/domain-module.ts';
import { registerCardRoutes } from './api/card-routes.ts';
import { type CardsConfig, CardsConfigSchema } from './config/cards-config.ts';
import { creditLimitApproval } from './config/credit-limit-approval.ts';
import { standInSettings } from './config/stand-in-settings.ts';
import { CARD_ERRORS } from './errors.ts';
import { registerCardMetrics } from './metrics.ts';
import { CARD_MIGRATIONS, type CardServices, loadCardDemo, startCardServices } from './services.ts';
import { cardStreamTopics } from './stream-topics.ts';

/** The card services as they run in one API process. */
export type RunningCards = CardServices & RunningModule;

/** A service that is not running: each call fails, for building the OpenAPI document alone. */
function notRunning<T extends object>(): T {
  return new Proxy({} as T, {
    get: () => () => Promise.reject(new Error('the card services are not running')),
  });
}

/** What each card route requires. */
export const CARD_SCOPES: Readonly<Record<string, string>> = {
  'cards:read': 'Read card accounts, cards and authorizations.',
  'cards:manage':
    'Open card accounts, change their credit limits, issue cards, block and unblock them.',
  'cards:authorize': 'Authorize, capture and reverse card payments.',
  'cards:users:read': 'Read payment users and their bound cards (masked).',
  'cards:users:write': 'Register payment users, bind and unbind their cards.',
  'cards:stand-in:read': 'Read stand-in advices, reconciliation and statistics.',
};

export const cardsModule: DomainModule<RunningCards> = {
  name: 'cards',
  configSection: { key: 'cards', schema: CardsConfigSchema },
  shardMigrations: CARD_MIGRATIONS,
  errors: CARD_ERRORS,
  scopes: CARD_SCOPES,
  loadDemoData: (router, catalog, demo) =>
    demo.sampleData === false ? Promise.resolve(false) : loadCardDemo(router, catalog),
  async start(context) {
    const section = (context.section ?? {}) as CardsConfig;
    const engineRouter = await context.connectRouter({
      applicationName: 'mainstay-authorization-engine',
      poolSizeMax: 4,
    });
    const services = await startCardServices(
      context.router,
      context.catalog,
      context.processHome,
      engineRouter,
      standInSettings(section.standIn),
      context.catalogConnection,
    ).catch(async (error: unknown) => {
      await engineRouter.close();
      throw error;
    });
    return {
      ...services,
      async routes(app) {
        registerCardRoutes(app, services, creditLimitApproval(section));
      },
      metrics({ counter, gauge }) {
        registerCardMetrics(counter, gauge, services);
      },
      jobs: () => services.jobSnapshots(),
      streamTopics: () => cardStreamTopics(services),
    };
  },
  async describeRoutes(app) {
    registerCardRoutes(app, {
      binding: notRunning(),
      accounts: notRunning(),
      authorizations: notRunning(),
      standIn: notRunning(),
    });
  },
};
