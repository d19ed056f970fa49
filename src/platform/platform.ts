import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { PostgresCatalogStore } from '../catalog/postgres-catalog-store.ts';
import type { MainstayConfig } from '../config/load-config.ts';
import { BypassSpool } from '../data/bypass/bypass-spool.ts';
import { Router } from '../data/router.ts';
import type { RouterOptions } from '../data/router-options.ts';
import { DEMO_MIGRATIONS, loadDemoData } from '../demo/demo-data.ts';
import { MainstayError } from '../errors/mainstay-error.ts';
import { reseedDataCentre } from '../fleet/dc-reseed.ts';
import { FailoverController } from '../fleet/failover-controller.ts';
import { type EventSource, pageOfEvents } from '../fleet/failover-events.ts';
import { CATALOG_DATABASE, Fleet } from '../fleet/fleet.ts';
import { recordHttpUrl } from '../fleet/fleet-lock.ts';
import { assertPortFree } from '../fleet/ports.ts';
import { buildHttpServer } from '../http/build-http-server.ts';
import { registerOperationsRoutes } from '../http/routes/operations-route.ts';
import {
  CARD_MIGRATIONS,
  type CardServices,
  loadCardDemo,
  startCardServices,
} from './card-services.ts';
import { platformMetrics } from './platform-metrics.ts';
import { standInSettings } from './stand-in-settings.ts';

/** The package version, shown in the OpenAPI document. */
export const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

export interface PlatformOptions {
  readonly config: MainstayConfig;
  readonly onProgress?: (step: string) => void;
  readonly onServerExit?: (serverId: string, detail: string) => void;
  /** Pino options or logger for the HTTP server; off when omitted. */
  readonly logger?: boolean | object;
  /** Run the failover controller (default): `false` leaves failed servers down, for inspection. */
  readonly failover?: boolean;
}

/** A running Mainstay: the fleet, the HTTP server, and how to stop both. */
export interface Platform {
  readonly fleet: Fleet;
  readonly http: FastifyInstance;
  readonly url: string;
  /** Whether this start loaded the demo data (only the first start does). */
  readonly demoLoaded: boolean;
  /** The platform's router, for the services it hosts. */
  readonly router: Router;
  readonly controller: FailoverController | null;
  readonly spool: BypassSpool;
  /** The card services (binding, accounts, authorization engine, stand-in). */
  readonly cards: CardServices;
  stop(): Promise<void>;
}

/**
 * Starts everything in order: checks the HTTP port first (failing before any server starts),
 * brings the fleet up, loads the demo data once, then opens the HTTP server. On failure, what
 * was started is stopped again.
 */
export async function startPlatform(options: PlatformOptions): Promise<Platform> {
  const { config } = options;
  const { host, port } = config.http;
  if (port !== 0) await assertPortFree(port, 'the Mainstay HTTP server (MAINSTAY_PORT)', host);
  const fleet = new Fleet({
    config,
    shardMigrations: [DEMO_MIGRATIONS, ...CARD_MIGRATIONS],
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.onServerExit ? { onServerExit: options.onServerExit } : {}),
  });
  await fleet.up();
  let http: FastifyInstance | null = null;
  let stopServices: () => Promise<void> = async () => undefined;
  try {
    options.onProgress?.('loading demo data');
    const demoLoaded = await loadDemoData(fleet.catalog, (shardId) => ({
      query: async (sql, values) => (await fleet.shardPool(shardId, 'home')).query(sql, values),
    }));
    options.onProgress?.('starting the failover controller and the router');
    const services = await startServices(fleet, options);
    stopServices = services.stop;
    options.onProgress?.('loading card demo data');
    const cardDemoLoaded = await loadCardDemo(services.router, services.catalog);
    options.onProgress?.('starting the card services');
    const engineRouter = await services.connectRouter({
      applicationName: 'mainstay-authorization-engine',
      poolSizeMax: 4,
    });
    const cards = await startCardServices(
      services.router,
      services.catalog,
      config.home,
      engineRouter,
      standInSettings(config.cards.standIn),
    ).catch(async (error: unknown) => {
      await engineRouter.close();
      throw error;
    });
    const stopPlatformServices = stopServices;
    stopServices = async () => {
      await cards.stop();
      await stopPlatformServices();
    };
    options.onProgress?.('starting the HTTP server');
    http = await buildHttpServer({
      source: fleet,
      events: services.events,
      metrics: platformMetrics({ ...services, cards }),
      version: VERSION,
      logger: options.logger ?? false,
      routes: [
        (app) => cards.routes(app),
        (app) =>
          registerOperationsRoutes(app, {
            reseed: (dc) =>
              reseedDataCentre(fleet, dc, {
                ...(services.controller ? { failover: services.controller } : {}),
                ...(options.onProgress ? { onStep: options.onProgress } : {}),
              }),
          }),
      ],
    });
    const url = await listen(http, host, port);
    recordHttpUrl(config.home, url);
    const running = http;
    return {
      fleet,
      http: running,
      url,
      demoLoaded: demoLoaded || cardDemoLoaded,
      router: services.router,
      cards,
      controller: services.controller,
      spool: services.spool,
      stop: async () => {
        await running.close();
        await stopServices();
        await fleet.down();
      },
    };
  } catch (error) {
    await http?.close();
    await stopServices();
    await fleet.down();
    throw error;
  }
}

/**
 * The platform's own router (its own catalog connection, as any service would have), the
 * failover controller (unless turned off) and the bypass spool, with an event source merging
 * controller events and catalog epoch changes.
 */
async function startServices(fleet: Fleet, options: PlatformOptions) {
  const witness = fleet.config.witness.id;
  const pool = new pg.Pool({ ...fleet.connection(witness), database: CATALOG_DATABASE, max: 3 });
  pool.on('error', () => undefined);
  const catalog = new PostgresCatalogStore(pool);
  const { user, password } = fleet.connection(witness);
  const connectRouter = (options: Partial<RouterOptions> = {}) =>
    Router.connect({ catalog, credentials: { user, password }, ...options });
  const router = await connectRouter();
  const controller = options.failover === false ? null : new FailoverController(fleet);
  controller?.start();
  const spool = await BypassSpool.open({
    dir: path.join(fleet.config.home, 'spool'),
    name: 'bypass',
  });
  const events: EventSource = {
    async events(limit, cursor) {
      // Enough of each source to fill the page after skipping the cursor's same-time events.
      const wanted = limit + (cursor?.skip ?? 0);
      const own = controller?.log.recent(wanted, cursor?.at) ?? [];
      const epochs = (await catalog.events(wanted, cursor?.at)).map((event) => ({
        at: event.at,
        kind: 'catalog_epoch' as const,
        server: null,
        dc: null,
        epoch: event.epoch,
        sinceDetectionMs: null,
        detail: event.reason,
      }));
      const merged = [...own, ...epochs].sort((a, b) => b.at.localeCompare(a.at));
      return pageOfEvents(merged, limit, cursor);
    },
  };
  return {
    router,
    connectRouter,
    catalog,
    controller,
    spool,
    events,
    stop: async () => {
      await controller?.stop();
      await router.close();
      await spool.close();
      await catalog.close();
    },
  };
}

async function listen(http: FastifyInstance, host: string, port: number): Promise<string> {
  try {
    await http.listen({ host, port });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new MainstayError(
        'port_in_use',
        `port ${port} on ${host} (for the Mainstay HTTP server, MAINSTAY_PORT) is already in use by another process`,
        { cause: error },
      );
    }
    throw error;
  }
  const address = http.server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  return `http://${host}:${actualPort}`;
}
