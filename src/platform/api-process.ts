import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { CatalogSnapshot, CatalogStore } from '../catalog/catalog-store.ts';
import type { MainstayConfig } from '../config/load-config.ts';
import type { Router } from '../data/router.ts';
import { MainstayError } from '../errors/mainstay-error.ts';
import { readLiveLock } from '../fleet/fleet-lock.ts';
import { readFleetState } from '../fleet/fleet-state.ts';
import { assertPortFree } from '../fleet/ports.ts';
import { SUPERUSER } from '../fleet/server-files.ts';
import { healthFromTopology, probeTopology } from '../fleet/topology-probe.ts';
import type { HealthReport, TopologySnapshot, TopologySource } from '../fleet/topology-snapshot.ts';
import { type ConnectionInfo, ConnectionPools } from '../postgres/connection-pools.ts';
import { type ApiWiring, listen, wireApi } from './api-wiring.ts';
import type { DomainModule, RunningModules } from './domain-module.ts';

export interface ApiProcessOptions {
  readonly config: MainstayConfig;
  /** The version shown in the OpenAPI document. */
  readonly version: string;
  /** The domain modules to host (the entry point's list; see src/modules.ts). */
  readonly modules: readonly DomainModule[];
  readonly logger?: boolean | object;
  readonly onProgress?: (step: string) => void;
}

/** A running API process (`mainstay api`): HTTP and the services behind it, no fleet. */
export interface ApiProcess {
  readonly url: string;
  readonly http: FastifyInstance;
  readonly router: Router;
  /** The running domain modules: `modules.get(cardsModule)` for the card services. */
  readonly modules: RunningModules;
  /** Where this process keeps its own spools. */
  readonly processHome: string;
  stop(): Promise<void>;
}

/**
 * Starts an API process attached to a running fleet (decision 36): the fleet of the same
 * `MAINSTAY_HOME` (addresses and password from its `fleet.json`), or external servers named in
 * the config. It serves the same routes as `mainstay up` with its own routers, modules
 * and spools (under `MAINSTAY_HOME/api/<port>`), but supervises nothing and runs no failover
 * controller: it follows the catalog like any router. Several run side by side behind a load
 * balancer; the shared recent-write store and the stand-in registry in the catalog keep their
 * answers consistent with each other.
 */
export async function startApiProcess(options: ApiProcessOptions): Promise<ApiProcess> {
  const { config } = options;
  const { host, port } = config.http;
  if (port !== 0) await assertPortFree(port, 'this API process (MAINSTAY_PORT)', host);
  const connect = fleetConnections(config);
  const processHome = path.join(config.home, 'api', port === 0 ? `pid-${process.pid}` : `${port}`);
  mkdirSync(processHome, { recursive: true });
  const pools = new ConnectionPools(connect);
  let catalog: CatalogStore | null = null;
  const source = catalogTopology(config, () => catalog, pools);
  let wiring: ApiWiring | null = null;
  try {
    wiring = await wireApi({
      config,
      witness: connect(config.witness.id),
      processHome,
      source,
      controller: null,
      modules: options.modules,
      version: options.version,
      ...(options.logger !== undefined ? { logger: options.logger } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      operations: () => ({
        reseed: async () => {
          const supervisor = readLiveLock(config.home)?.httpUrl ?? 'the `mainstay up` process';
          throw new MainstayError(
            'state_conflict',
            `a re-seed moves servers, which only the supervising process does: call ${supervisor}`,
          );
        },
      }),
    });
    catalog = wiring.catalog;
    const url = await listen(wiring.http, host, port);
    const running = wiring;
    return {
      url,
      http: running.http,
      router: running.router,
      modules: running.modules,
      processHome,
      stop: async () => {
        await running.stop();
        await pools.closeAll();
      },
    };
  } catch (error) {
    await wiring?.stop();
    await pools.closeAll();
    throw error;
  }
}

/**
 * How to reach each server of the config's topology without running the fleet: an external
 * server as the config names it, a managed one on the port and with the password its supervisor
 * recorded in `fleet.json`.
 */
export function fleetConnections(config: MainstayConfig): (serverId: string) => ConnectionInfo {
  const specs = [config.witness, ...config.dataCentres.flatMap((dc) => [dc.primary, dc.replica])];
  const state = config.postgres.source === 'external' ? null : readFleetState(config.home);
  if (config.postgres.source !== 'external') {
    if (!state || !readLiveLock(config.home)) {
      throw new MainstayError(
        'catalog_unavailable',
        `no running fleet in ${config.home}: start it with "mainstay up" (same MAINSTAY_HOME) first, or name external servers in the config`,
      );
    }
  }
  return (serverId) => {
    const spec = specs.find((candidate) => candidate.id === serverId);
    if (spec?.external) {
      const { host, port, user, password } = spec.external;
      return { host, port, user, password: password ?? '' };
    }
    // A server added since this process started (add-replica) is in the state file only now.
    const port = state?.ports[serverId] ?? readFleetState(config.home)?.ports[serverId];
    if (!state || port === undefined) {
      throw new MainstayError('service_unavailable', `server ${serverId} has no recorded port`);
    }
    return { host: '127.0.0.1', port, user: SUPERUSER, password: state.password };
  };
}

/**
 * `/v1/topology` and `/health` for a process that supervises nothing: roles from the catalog,
 * states and positions probed from the servers as `mainstay up` does (no process ids).
 */
function catalogTopology(
  config: MainstayConfig,
  catalog: () => CatalogStore | null,
  pools: ConnectionPools,
): TopologySource {
  const topology = async (): Promise<TopologySnapshot> => {
    let snapshot: CatalogSnapshot | null = null;
    try {
      snapshot = (await catalog()?.load()) ?? null;
    } catch {
      snapshot = null;
    }
    return probeTopology({ config, catalog: snapshot, pools, servers: new Map() });
  };
  return {
    topology,
    health: async (): Promise<HealthReport> => healthFromTopology(await topology()),
  };
}
