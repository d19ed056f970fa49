import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PostgresCatalogStore } from '../../src/catalog/postgres-catalog-store.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { Router } from '../../src/data/router.ts';
import type { RouterOptions } from '../../src/data/router-options.ts';
import { takeoverMigrations } from '../../src/data/takeover/takeover-writer.ts';
import { DEMO_MIGRATIONS } from '../../src/demo/demo-data.ts';
import { CATALOG_DATABASE, Fleet } from '../../src/fleet/fleet.ts';
import type { MigrationSet } from '../../src/migrations/migration.ts';
import { CONFIG_SECTIONS } from '../../src/modules.ts';
import { guardedPool } from '../../src/postgres/guarded-pool.ts';
import { removeHome, tempHome } from './temp-home.ts';

/** Tables the data-layer tests write and read. */
export const CHECK_MIGRATIONS: MigrationSet = {
  name: 'test-checks',
  migrations: [
    {
      version: 1,
      name: 'router-checks',
      sql: `CREATE TABLE public.router_checks (key text PRIMARY KEY, version bigint NOT NULL);
            CREATE TABLE public.appends (id text PRIMARY KEY, body text NOT NULL);`,
    },
  ],
};

/** Keys (`<prefix>_<n>`) whose shard is homed in `dc`, found by trying candidates on the map. */
export function keysHomedIn(router: Router, dc: string, count: number, prefix = 'key'): string[] {
  const keys: string[] = [];
  for (let n = 0; keys.length < count; n += 1) {
    const key = `${prefix}_${n}`;
    if (router.map.route(router.map.shardOf(key)).shard.homeDc === dc) keys.push(key);
  }
  return keys;
}

/** How many of `ids` are in table `appends` on the primaries of `shardIds` (all by default). */
export async function countAppendsOnPrimaries(
  router: Router,
  ids: readonly string[],
  shardIds: Iterable<number> = router.map.shardIds,
): Promise<number> {
  let total = 0;
  for (const shardId of shardIds) {
    const { value } = await router.readShard(
      shardId,
      (db) =>
        db.query<{ n: number }>('SELECT count(*)::int AS n FROM appends WHERE id = ANY($1)', [ids]),
      { consistency: 'primary' },
    );
    total += value.rows[0]?.n ?? 0;
  }
  return total;
}

/** Polls `check` every `pollMs` until it answers true (an error counts as false), else fails. */
export async function eventually(
  check: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
  pollMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(pollMs);
  }
  assert.fail(`timed out waiting for ${what}`);
}

/** Each DC primary's and replica's id by its port, so a writer can tell which server committed. */
export function serverByPort(fixture: FleetFixture): Map<number, string> {
  return new Map(
    fixture.config.dataCentres
      .flatMap((dc) => [dc.primary.id, dc.replica.id])
      .map((id) => [fixture.fleet.connection(id).port, id]),
  );
}

export type FleetFixture = Awaited<ReturnType<typeof startFleet>>;

/** A real fleet in a temp home (with an optional config file), and routers on it. */
export async function startFleet(
  label: string,
  file: Record<string, unknown> = {},
  extraMigrations: readonly MigrationSet[] = [],
) {
  const home = tempHome(label);
  const env: Record<string, string> = { MAINSTAY_HOME: home };
  if (Object.keys(file).length > 0) {
    env.MAINSTAY_CONFIG = path.join(home, 'mainstay.config.json');
    writeFileSync(env.MAINSTAY_CONFIG, JSON.stringify(file));
  }
  const config = loadConfig({ cwd: home, env }, CONFIG_SECTIONS);
  const fleet = new Fleet({
    config,
    shardMigrations: [
      DEMO_MIGRATIONS,
      CHECK_MIGRATIONS,
      takeoverMigrations(['appends']),
      ...extraMigrations,
    ],
  });
  await fleet.up();
  const routers: Router[] = [];
  const catalogs: PostgresCatalogStore[] = [];
  const credentials = () => {
    const { user, password } = fleet.connection(config.witness.id);
    return { user, password };
  };
  return {
    home,
    config,
    fleet,
    credentials,
    /** A router with its own catalog connection, as a separate service would have. */
    async router(options: Partial<RouterOptions> = {}): Promise<Router> {
      const pool = guardedPool({
        ...fleet.connection(config.witness.id),
        database: CATALOG_DATABASE,
        max: 3,
      });
      const catalog = new PostgresCatalogStore(pool);
      catalogs.push(catalog);
      const router = await Router.connect({ catalog, credentials: credentials(), ...options });
      routers.push(router);
      return router;
    },
    async stop(): Promise<void> {
      await Promise.all(routers.map((router) => router.close().catch(() => undefined)));
      await Promise.all(catalogs.map((catalog) => catalog.close().catch(() => undefined)));
      await fleet.down();
      removeHome(home);
    },
  };
}
