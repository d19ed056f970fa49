import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { AUDIT_MIGRATIONS } from '../audit/audit-log.ts';
import type { MainstayConfig } from '../config/load-config.ts';
import type { BypassSpool } from '../data/bypass/bypass-spool.ts';
import type { Router } from '../data/router.ts';
import { DEMO_MIGRATIONS, loadDemoData } from '../demo/demo-data.ts';
import { reseedDataCentre } from '../fleet/dc-reseed.ts';
import { FailoverController } from '../fleet/failover-controller.ts';
import { Fleet } from '../fleet/fleet.ts';
import { recordHttpUrl } from '../fleet/fleet-lock.ts';
import { assertPortFree } from '../fleet/ports.ts';
import { PLATFORM_SCOPES } from '../http/access-control.ts';
import type { MigrationSet } from '../migrations/migration.ts';
import { type ApiWiring, listen, wireApi } from './api-wiring.ts';
import { type DomainModule, type RunningModules, scopesOf } from './domain-module.ts';

/** The package version, shown in the OpenAPI document. */
export const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

export interface PlatformOptions {
  readonly config: MainstayConfig;
  /** The domain modules to host (the entry point's list; see src/modules.ts). */
  readonly modules: readonly DomainModule[];
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
  /** The running domain modules: `modules.get(cardsModule)` for the card services. */
  readonly modules: RunningModules;
  stop(): Promise<void>;
}

/**
 * Every shard database's schema: the platform's (demo, audit), then each module's, each set once
 * (two modules may both need a shared set, such as the idempotency records).
 */
export function shardMigrationsOf(modules: readonly DomainModule[]): MigrationSet[] {
  return [
    ...new Set([DEMO_MIGRATIONS, AUDIT_MIGRATIONS, ...modules.flatMap((m) => m.shardMigrations)]),
  ];
}

/** The hosted modules' own catalog tables (`DomainModule.catalogMigrations`), each set once. */
export function catalogMigrationsOf(modules: readonly DomainModule[]): MigrationSet[] {
  return [...new Set(modules.flatMap((m) => m.catalogMigrations ?? []))];
}

/** The fleet `options` describe: its config, and the schema of the hosted modules. */
function fleetOf(options: PlatformOptions): Fleet {
  return new Fleet({
    config: options.config,
    shardMigrations: shardMigrationsOf(options.modules),
    catalogMigrations: catalogMigrationsOf(options.modules),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.onServerExit ? { onServerExit: options.onServerExit } : {}),
  });
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
  const fleet = fleetOf(options);
  await fleet.up();
  let wiring: ApiWiring | null = null;
  try {
    options.onProgress?.('loading demo data');
    const demoLoaded = await loadDemoData(fleet.catalog, (shardId) => ({
      query: async (sql, values) => (await fleet.shardPool(shardId, 'home')).query(sql, values),
    }));
    options.onProgress?.('starting the failover controller');
    const controller = options.failover === false ? null : new FailoverController(fleet);
    controller?.start();
    let moduleDemoLoaded = false;
    wiring = await wireApi({
      config,
      witness: fleet.connection(config.witness.id),
      processHome: config.home,
      source: fleet,
      controller,
      modules: options.modules,
      version: VERSION,
      ...(options.logger !== undefined ? { logger: options.logger } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      operations: (services) => ({
        reseed: (dc) =>
          reseedDataCentre(fleet, dc, {
            ...(services.controller ? { failover: services.controller } : {}),
            ...(options.onProgress ? { onStep: options.onProgress } : {}),
          }),
      }),
      beforeModules: async (router, catalog) => {
        for (const module of options.modules) {
          if (!module.loadDemoData) continue;
          options.onProgress?.(`loading ${module.name} demo data`);
          const demo = { home: config.home, scopes: scopesOf(options.modules, PLATFORM_SCOPES) };
          if (await module.loadDemoData(router, catalog, demo)) moduleDemoLoaded = true;
        }
      },
    });
    const url = await listen(wiring.http, host, port);
    recordHttpUrl(config.home, url);
    const running = wiring;
    return {
      fleet,
      http: running.http,
      url,
      demoLoaded: demoLoaded || moduleDemoLoaded,
      router: running.router,
      modules: running.modules,
      controller,
      spool: running.spool,
      stop: async () => {
        await running.stop();
        await fleet.down();
      },
    };
  } catch (error) {
    await wiring?.stop();
    await fleet.down();
    throw error;
  }
}
