import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { ApprovalStore } from '../approvals/approval-store.ts';
import { registerAuditHook } from '../audit/audit-hook.ts';
import { AuditLog } from '../audit/audit-log.ts';
import type { CatalogStore } from '../catalog/catalog-store.ts';
import { PostgresCatalogStore } from '../catalog/postgres-catalog-store.ts';
import type { MainstayConfig } from '../config/load-config.ts';
import { BypassSpool } from '../data/bypass/bypass-spool.ts';
import { IDEMPOTENCY_MIGRATIONS, idempotencyPruningJob } from '../data/idempotency.ts';
import { Router } from '../data/router.ts';
import type { RouterOptions } from '../data/router-options.ts';
import type { EnvironmentOperations } from '../environments/environment-operations.ts';
import { MainstayError } from '../errors/mainstay-error.ts';
import type { FailoverController } from '../fleet/failover-controller.ts';
import { type EventSource, pageOfEvents } from '../fleet/failover-events.ts';
import { CATALOG_DATABASE, type Fleet } from '../fleet/fleet.ts';
import type { TopologySource } from '../fleet/topology-snapshot.ts';
import { type AccessControl, PLATFORM_SCOPES } from '../http/access-control.ts';
import { buildHttpServer } from '../http/build-http-server.ts';
import { registerAuditRoutes } from '../http/routes/audit-routes.ts';
import { registerConsoleRoutes } from '../http/routes/console-route.ts';
import { registerEnvironmentRoutes } from '../http/routes/environments-route.ts';
import type { MetricsSource } from '../http/routes/metrics-route.ts';
import {
  type Operations,
  registerOperationsRoutes,
  reseedsTopic,
} from '../http/routes/operations-route.ts';
import { registerStreamRoute } from '../http/routes/stream-route.ts';
import { AdvisoryLockLease } from '../jobs/advisory-lock-lease.ts';
import { JobRunner } from '../jobs/job-runner.ts';
import type { ConnectionInfo } from '../postgres/connection-pools.ts';
import { guardedPool } from '../postgres/guarded-pool.ts';
import { addRootSecret, CatalogSecrets, promoteRootSecret } from '../secrets/catalog-secrets.ts';
import { checkModules, type DomainModule, RunningModules, scopesOf } from './domain-module.ts';
import { platformMetrics } from './platform-metrics.ts';
import type { StreamTopic } from './stream-topic.ts';

/** What one API process is wired from; `mainstay up` and `mainstay api` differ only here. */
export interface ApiWiringOptions {
  readonly config: MainstayConfig;
  /** The witness, where the catalog (and the shared recent-write store) is. */
  readonly witness: ConnectionInfo;
  /**
   * This process's own files (its bypass and stand-in spools): `MAINSTAY_HOME` for
   * `mainstay up`, `MAINSTAY_HOME/api/<port>` for each `mainstay api` (decision 36).
   */
  readonly processHome: string;
  /** Where `/v1/topology` and `/health` come from: the fleet, or the catalog. */
  readonly source: TopologySource;
  /** The failover controller: only the supervising process runs one. */
  readonly controller: FailoverController | null;
  /** The fleet this process supervises, handed to the modules (absent in `mainstay api`). */
  readonly fleet?: Fleet;
  readonly operations: (services: { controller: FailoverController | null }) => Operations;
  /** The version shown in the OpenAPI document. */
  readonly version: string;
  readonly logger?: boolean | object;
  readonly onProgress?: (step: string) => void;
  /** The environments under this home: only the supervising process offers them. */
  readonly environments?: EnvironmentOperations;
  /** The domain modules this process hosts, started in order and stopped in reverse. */
  readonly modules: readonly DomainModule[];
  /** Runs once the router is up, before the modules start (demo data, for one). */
  readonly beforeModules?: (router: Router, catalog: CatalogStore) => Promise<void>;
}

/** An API process's services, its HTTP server built but not listening. */
export interface ApiWiring {
  readonly catalog: CatalogStore;
  readonly router: Router;
  readonly spool: BypassSpool;
  readonly modules: RunningModules;
  readonly http: FastifyInstance;
  /** The process's own background jobs (idempotency pruning); its snapshot is for metrics. */
  readonly jobs: JobRunner;
  /** Stops the HTTP server, the modules, the controller, jobs, routers, spools, catalog. */
  stop(): Promise<void>;
}

/**
 * Wires one API process: its catalog connection, its routers, its bypass spool, the card
 * services and the HTTP server with every route. Shared by `startPlatform` (which adds the
 * fleet and the failover controller around it) and `startApiProcess` (which has neither), so
 * both serve the same API. On failure, what was started is stopped again.
 */
export async function wireApi(options: ApiWiringOptions): Promise<ApiWiring> {
  const stack: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const step of stack.splice(0).reverse()) await step().catch(() => undefined);
  };
  try {
    const pool = guardedPool({ ...options.witness, database: CATALOG_DATABASE, max: 3 });
    const catalog = new PostgresCatalogStore(pool);
    stack.push(() => catalog.close());
    const { user, password } = options.witness;
    const connectRouter = (extra: Partial<RouterOptions> = {}) =>
      Router.connect({ catalog, credentials: { user, password }, ...extra });
    options.onProgress?.('starting the router');
    const router = await connectRouter();
    stack.push(() => router.close());
    const audit = new AuditLog(router);
    stack.push(async () => {
      await audit.close();
    });
    const { controller } = options;
    if (controller) stack.push(() => controller.stop());
    const jobs = startPlatformJobs(options, router);
    stack.push(() => jobs.stop());
    const spool = await BypassSpool.open({
      dir: path.join(options.processHome, 'spool'),
      name: 'bypass',
    });
    stack.push(() => spool.close());
    await options.beforeModules?.(router, catalog);
    checkModules(options.modules);
    const scopes = scopesOf(options.modules, PLATFORM_SCOPES);
    const secrets = new CatalogSecrets(catalog);
    const modules = new RunningModules();
    for (const module of options.modules) {
      options.onProgress?.(`starting the ${module.name} module`);
      const running = await module.start({
        router,
        connectRouter,
        catalog,
        catalogConnection: { ...options.witness, database: CATALOG_DATABASE },
        processHome: options.processHome,
        section: sectionOf(options.config, module),
        secrets,
        scopes,
        started: modules,
        ...(options.fleet ? { fleetHost: { fleet: options.fleet, controller } } : {}),
      });
      stack.push(() => running.stop());
      modules.add(module, running);
    }
    options.onProgress?.('starting the HTTP server');
    const metrics = platformMetrics({
      router,
      controller,
      spool,
      modules: modules.all(),
      jobs: jobs.runner,
      audit,
    });
    const approvals = new ApprovalStore(pool);
    const parts = { catalog, modules, scopes, metrics, approvals, audit };
    const http = await buildApiHttp(options, parts);
    stack.push(() => http.close());
    return { catalog, router, spool, modules, http, jobs: jobs.runner, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * The process's own jobs: idempotency records pruned past `jobs.idempotencyRetentionDays`, by
 * one API process at a time, the one holding the lease on the witness (decision 40).
 */
function startPlatformJobs(options: ApiWiringOptions, router: Router) {
  const lease = new AdvisoryLockLease({
    connection: { ...options.witness, database: CATALOG_DATABASE },
  });
  const runner = new JobRunner();
  const retentionMs = options.config.jobs.idempotencyRetentionDays * 24 * 60 * 60 * 1000;
  // Only where a hosted module keeps idempotency records (the lease connects on first use).
  if (options.modules.some((module) => module.shardMigrations.includes(IDEMPOTENCY_MIGRATIONS)))
    runner.add(idempotencyPruningJob(router, { retentionMs, lease }));
  runner.start();
  const stop = async () => {
    await runner.stop();
    await lease.close();
  };
  return { runner, stop };
}

/** The HTTP server of an API process: the platform's routes, then each module's. */
function buildApiHttp(
  options: ApiWiringOptions,
  parts: {
    catalog: CatalogStore;
    modules: RunningModules;
    scopes: Readonly<Record<string, string>>;
    metrics: MetricsSource;
    approvals: ApprovalStore;
    audit: AuditLog;
  },
): Promise<FastifyInstance> {
  const { controller } = options;
  return buildHttpServer({
    source: options.source,
    events: eventSource(controller, parts.catalog),
    metrics: parts.metrics,
    version: options.version,
    logger: options.logger ?? false,
    access: accessOf(parts.modules),
    approvals: parts.approvals,
    scopes: parts.scopes,
    metricsPublic: options.config.http.metricsPublic,
    routes: [
      // First, so that every module's plugin inherits it.
      (app) => registerAuditHook(app, parts.audit),
      ...parts.modules.all().map((running) => async (app: FastifyInstance) => {
        await app.register(async (scope) => running.routes(scope));
      }),
      (app) =>
        registerOperationsRoutes(app, {
          ...options.operations({ controller }),
          rootSecrets: {
            add: () => addRootSecret(parts.catalog),
            promote: (rootId) => promoteRootSecret(parts.catalog, rootId),
          },
        }),
      (app) => registerAuditRoutes(app, parts.audit),
      (app) =>
        registerStreamRoute(app, {
          ...streamTopics(options.source, controller, parts),
          reseeds: reseedsTopic(parts.approvals),
        }),
      (app) => registerConsoleRoutes(app),
      ...(options.environments ? [environmentRoutes(options.environments)] : []),
    ],
  });
}

/** How many waiting, and how many decided, approval requests the `approvals` topic carries. */
const APPROVALS_TOPIC_LIMIT = 20;

/**
 * The platform's live topics (the fleet's topology, recent events, the approval requests waiting
 * for a checker) and every module's.
 */
function streamTopics(
  source: TopologySource,
  controller: FailoverController | null,
  parts: { catalog: CatalogStore; modules: RunningModules; approvals: ApprovalStore },
): Record<string, StreamTopic> {
  const events = eventSource(controller, parts.catalog);
  return Object.assign(
    {
      topology: { scope: 'platform:read', read: () => source.topology() },
      events: {
        scope: 'platform:read',
        intervalMs: 1_000,
        read: () => events.events(50, null),
      },
      approvals: {
        scope: 'approvals:read',
        intervalMs: 1_000,
        read: () => parts.approvals.waiting(APPROVALS_TOPIC_LIMIT),
      },
    },
    ...parts.modules.all().map((running) => running.streamTopics?.() ?? {}),
  );
}

function environmentRoutes(environments: EnvironmentOperations) {
  return (app: FastifyInstance) => registerEnvironmentRoutes(app, environments);
}

/** A module's config section as the file gives it. */
function sectionOf(config: MainstayConfig, module: DomainModule): unknown {
  return module.configSection ? config.sections[module.configSection.key] : undefined;
}

/** The one access control the hosted modules provide; an API process never starts open. */
function accessOf(modules: RunningModules): AccessControl {
  const providers = modules.all().flatMap((running) => (running.access ? [running.access] : []));
  const [access] = providers;
  if (providers.length !== 1 || !access) {
    throw new MainstayError(
      'config_invalid',
      `an API process needs exactly one module that authenticates requests (the identity module); found ${providers.length}`,
    );
  }
  return access;
}

/** Failover events (of the controller, when this process runs one) merged with catalog epochs. */
function eventSource(controller: FailoverController | null, catalog: CatalogStore): EventSource {
  return {
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
}

/** Opens the HTTP server; `port_in_use` when another process holds the port. */
export async function listen(http: FastifyInstance, host: string, port: number): Promise<string> {
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
