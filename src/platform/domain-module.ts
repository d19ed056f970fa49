/**
 * The module contract: what a domain (cards today; a ledger, identity, ops tomorrow) hands the
 * platform, so that the platform composes a list of modules and names none of them. A domain is
 * one folder, `src/domains/<name>/`, whose `module.ts` exports one {@link DomainModule}; the list
 * the running platform hosts is made at the entry points (`src/modules.ts`). See "How to add a
 * domain" in docs/ARCHITECTURE.md.
 */
import type { TSchema } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import type { Counter, Gauge } from 'prom-client';
import type { AccessControl } from '../access/principal.ts';
import type { CatalogStore } from '../catalog/catalog-store.ts';
import type { Router } from '../data/router.ts';
import type { RouterOptions } from '../data/router-options.ts';
import type { ErrorSpec } from '../errors/error-catalogue.ts';
import type { FailoverController } from '../fleet/failover-controller.ts';
import type { Fleet } from '../fleet/fleet.ts';
import type { JobSnapshot } from '../jobs/job-runner.ts';
import type { MigrationSet } from '../migrations/migration.ts';
import type { SecretsPort } from '../secrets/secrets-port.ts';
import type { StreamTopic } from './stream-topic.ts';

/** Makes one Prometheus metric whose value is read at scrape time by `collect`. */
export type MetricFactory<M> = (
  name: string,
  help: string,
  labelNames: string[],
  collect: (metric: M) => void,
) => M;

/** The factories a module registers its metrics with (names start `mainstay_<module>_`). */
export interface MetricFactories {
  readonly counter: MetricFactory<Counter>;
  readonly gauge: MetricFactory<Gauge>;
}

/** A module's section of the config file: its top-level key and its JSON schema. */
export interface ConfigSection {
  readonly key: string;
  readonly schema: TSchema;
}

/** The fleet and its failover controller, as the process that supervises them holds them. */
export interface FleetHost {
  readonly fleet: Fleet;
  /** Null when the platform runs without a failover controller. */
  readonly controller: FailoverController | null;
}

/** What one API process gives a module when it starts it. */
export interface ModuleContext {
  /** The process's router for request traffic. */
  readonly router: Router;
  /** A further router of the module's own (its own pools), closed by the module on stop. */
  connectRouter(extra?: Partial<RouterOptions>): Promise<Router>;
  readonly catalog: CatalogStore;
  /** The catalog database on the witness, for state every API process shares. */
  readonly catalogConnection: pg.ClientConfig;
  /** This process's own directory (its spools live under it). */
  readonly processHome: string;
  /** The module's config section as the file gives it, checked against its schema. */
  readonly section: unknown;
  /** Where keys come from (the catalog's root secrets by default). */
  readonly secrets: SecretsPort;
  /** Every scope a route of this process may require, with what it allows. */
  readonly scopes: Readonly<Record<string, string>>;
  /**
   * The modules this process started before this one (those earlier in the list). A module the
   * entry point defines to link two domains reaches them here; a domain never does.
   */
  readonly started?: RunningModules;
  /**
   * The fleet, in the process that supervises it (`mainstay up`) only: a module that operates
   * the servers (the ops module's fleet steps) works there; a `mainstay api` process has none.
   */
  readonly fleetHost?: FleetHost;
}

/** What a module's demo data may need beside the router and the catalog. */
export interface DemoContext {
  /** `MAINSTAY_HOME`: demo credentials are written here (mode 0600). */
  readonly home: string;
  /** Every scope of the hosted modules and the platform. */
  readonly scopes: Readonly<Record<string, string>>;
  /**
   * Whether to load sample business data (customers, accounts, cards); `false` for an empty
   * environment. What gives access (the demo credentials) is loaded either way.
   */
  readonly sampleData?: boolean;
}

/** A module running in one API process. */
export interface RunningModule {
  /**
   * The module's routes, registered as one encapsulated Fastify plugin, so that a hook added
   * in the plugin (authentication, say) wraps exactly this module's surface.
   */
  routes(app: FastifyInstance): Promise<void>;
  /** Registers the module's metrics; read at scrape time like every Mainstay metric. */
  metrics?(factories: MetricFactories): void;
  /** The module's background loops (each on a jobs runner), for the job metrics. */
  jobs?(): readonly JobSnapshot[];
  /** Live topics of the module's own figures, for `GET /v1/stream` (decision 61). */
  streamTopics?(): Readonly<Record<string, StreamTopic>>;
  /**
   * Verifies the bearer credentials of every route (the identity module's). Exactly one
   * running module of an API process provides it; the process does not start otherwise.
   */
  readonly access?: AccessControl;
  stop(): Promise<void>;
}

/**
 * One domain. `R` is what it runs as, so that a caller holding the module object gets its
 * services typed (`platform.module(cardsModule).standIn`) without the platform naming them.
 */
export interface DomainModule<R extends RunningModule = RunningModule> {
  /** A lowercase name, unique among the modules of a process. */
  readonly name: string;
  readonly configSection?: ConfigSection;
  /** The shard schema, applied in order on every shard database after the platform's own. */
  readonly shardMigrations: readonly MigrationSet[];
  /**
   * Tables of the module's own in the catalog database on the witness (state every process of
   * the fleet shares, off the money path: the ops module's workflow runs), applied after the
   * catalog's schema. Each set keeps its own versions.
   */
  readonly catalogMigrations?: readonly MigrationSet[];
  /**
   * The module's own error codes (its `errors.ts`, which registers them with the catalogue as
   * it loads and declares them to the type checker); listed in the errors reference.
   */
  readonly errors: Readonly<Record<string, ErrorSpec>>;
  /** The scopes its routes require (`<module>:<what>`), with what each allows. */
  readonly scopes?: Readonly<Record<string, string>>;
  /** Loads the module's demo data once per fleet; true when this call loaded it. */
  loadDemoData?(router: Router, catalog: CatalogStore, demo: DemoContext): Promise<boolean>;
  start(context: ModuleContext): Promise<R>;
  /** Registers the routes with nothing behind them, to build the OpenAPI document offline. */
  describeRoutes(app: FastifyInstance): Promise<void>;
}

/** The modules one process runs, by name; typed access through the module object. */
export class RunningModules {
  readonly #running = new Map<string, RunningModule>();

  add(module: DomainModule, running: RunningModule): void {
    this.#running.set(module.name, running);
  }

  /** The running form of `module`; throws when this process does not run it. */
  get<R extends RunningModule>(module: DomainModule<R>): R {
    const running = this.#running.get(module.name);
    if (!running) throw new Error(`module ${module.name} is not running in this process`);
    return running as R;
  }

  all(): readonly RunningModule[] {
    return [...this.#running.values()];
  }
}

/** Every scope a process hosting `modules` knows: the platform's and each module's. */
export function scopesOf(
  modules: readonly DomainModule[],
  platform: Readonly<Record<string, string>>,
): Readonly<Record<string, string>> {
  return Object.assign({}, platform, ...modules.map((module) => module.scopes ?? {}));
}

/** Throws when two modules share a name or a config key. */
export function checkModules(modules: readonly DomainModule[]): void {
  const names = new Set<string>();
  const keys = new Set<string>();
  for (const module of modules) {
    if (names.has(module.name)) throw new Error(`two modules are named ${module.name}`);
    names.add(module.name);
    const key = module.configSection?.key;
    if (key !== undefined && keys.has(key)) throw new Error(`two modules read config ${key}`);
    if (key !== undefined) keys.add(key);
  }
}
