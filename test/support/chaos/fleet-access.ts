/**
 * The fault suite's own way into a running fleet, from outside its processes: the topology
 * over HTTP, and SQL straight to a server with the superuser password from `fleet.json`. The
 * checks read the books here, on the servers, never through the API under test.
 */
import pg from 'pg';
import { PostgresCatalogStore } from '../../../src/catalog/postgres-catalog-store.ts';
import { Router } from '../../../src/data/router.ts';
import { CATALOG_DATABASE } from '../../../src/fleet/fleet.ts';
import { readFleetState } from '../../../src/fleet/fleet-state.ts';
import { SUPERUSER } from '../../../src/fleet/server-files.ts';
import type { TopologySnapshot } from '../../../src/fleet/topology-snapshot.ts';
import { guardedPool } from '../../../src/postgres/guarded-pool.ts';
import { authHeaders } from '../demo-credentials.ts';
import { assertLoopback } from './chaos-http.ts';

const CONNECT_TIMEOUT_MS = 3_000;
const STATEMENT_TIMEOUT_MS = 20_000;
const TOPOLOGY_TIMEOUT_MS = 5_000;

export class FleetAccess {
  readonly #password: string;
  readonly #ports: Readonly<Record<string, number>>;
  readonly #catalogPool: pg.Pool;
  /** `Authorization: Bearer <demo API key>` for the supervisor's HTTP routes. */
  readonly #authHeaders: { authorization: string };
  readonly router: Router;
  readonly upUrl: string;

  private constructor(
    state: { password: string; ports: Readonly<Record<string, number>> },
    catalogPool: pg.Pool,
    router: Router,
    upUrl: string,
    headers: { authorization: string },
  ) {
    this.#authHeaders = headers;
    this.#password = state.password;
    this.#ports = state.ports;
    this.#catalogPool = catalogPool;
    this.router = router;
    this.upUrl = upUrl;
  }

  /** Reads `fleet.json` under `home` and connects a router through the witness's catalog. */
  static async open(home: string, upUrl: string): Promise<FleetAccess> {
    assertLoopback(upUrl);
    const state = readFleetState(home);
    if (!state) throw new Error(`no fleet.json under ${home}`);
    const port = state.ports.witness;
    if (port === undefined) throw new Error('fleet.json names no witness port');
    const headers = authHeaders(home);
    const pool = guardedPool({
      host: '127.0.0.1',
      port,
      user: SUPERUSER,
      password: state.password,
      database: CATALOG_DATABASE,
      max: 2,
    });
    const router = await Router.connect({
      catalog: new PostgresCatalogStore(pool),
      credentials: { user: SUPERUSER, password: state.password },
    });
    return new FleetAccess(state, pool, router, upUrl, headers);
  }

  /** The topology as `mainstay up` probes it, or null when it did not answer in time. */
  async topology(): Promise<TopologySnapshot | null> {
    try {
      const response = await fetch(`${this.upUrl}/v1/topology`, {
        headers: this.#authHeaders,
        signal: AbortSignal.timeout(TOPOLOGY_TIMEOUT_MS),
      });
      if (response.status !== 200) return null;
      return (await response.json()) as TopologySnapshot;
    } catch {
      return null;
    }
  }

  /** Runs one statement on `database` of server `serverId`, on a connection of its own. */
  async sql<Row extends pg.QueryResultRow>(
    serverId: string,
    database: string,
    text: string,
    values: unknown[] = [],
  ): Promise<Row[]> {
    const port = this.#ports[serverId];
    if (port === undefined) throw new Error(`fleet.json names no server ${serverId}`);
    const client = new pg.Client({
      host: '127.0.0.1',
      port,
      user: SUPERUSER,
      password: this.#password,
      database,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      statement_timeout: STATEMENT_TIMEOUT_MS,
    });
    client.on('error', () => undefined);
    await client.connect();
    try {
      const result = await client.query<Row>(text, values);
      return result.rows;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    await this.router.close().catch(() => undefined);
    await this.#catalogPool.end().catch(() => undefined);
  }
}
