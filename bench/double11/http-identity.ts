/**
 * The identity module on the bench's fleet, as an API process runs it: its access control for
 * the HTTP server (every route checked, as on the platform), its token endpoint, and the demo
 * credentials written to the fleet's home, so the load generator sends a valid access token.
 */
import { PostgresCatalogStore } from '../../src/catalog/postgres-catalog-store.ts';
import type { RouterOptions } from '../../src/data/router-options.ts';
import type { DemoCredentials } from '../../src/domains/identity/demo/demo-credentials.ts';
import { loadIdentityDemo } from '../../src/domains/identity/demo/demo-credentials.ts';
import { identityModule, type RunningIdentity } from '../../src/domains/identity/module.ts';
import { CATALOG_DATABASE } from '../../src/fleet/fleet.ts';
import { PLATFORM_SCOPES } from '../../src/http/access-control.ts';
import { MODULES } from '../../src/modules.ts';
import { scopesOf } from '../../src/platform/domain-module.ts';
import { guardedPool } from '../../src/postgres/guarded-pool.ts';
import { CatalogSecrets } from '../../src/secrets/catalog-secrets.ts';
import type { FleetFixture } from '../../test/support/fleet-fixture.ts';
import { readDemoCredentials } from '../support/demo-access.ts';

/** What the bench's HTTP server needs to check credentials like the platform's. */
export interface BenchIdentity {
  readonly identity: RunningIdentity;
  /** Every scope of the hosted modules and the platform (the OpenAPI document lists them). */
  readonly scopes: Readonly<Record<string, string>>;
  /** The fleet's demo client and key, from `<home>/demo-credentials.json`. */
  readonly demo: DemoCredentials;
  stop(): Promise<void>;
}

/** Starts the identity module on `fixture` (its shards need `IDENTITY_MIGRATIONS`). */
export async function startBenchIdentity(fixture: FleetFixture): Promise<BenchIdentity> {
  const connection = {
    ...fixture.fleet.connection(fixture.config.witness.id),
    database: CATALOG_DATABASE,
  };
  const pool = guardedPool({ ...connection, max: 3 });
  const catalog = new PostgresCatalogStore(pool);
  try {
    const router = await fixture.router({ applicationName: 'double11-identity' });
    const scopes = scopesOf(MODULES, PLATFORM_SCOPES);
    await loadIdentityDemo(router, catalog, { home: fixture.home, scopes });
    const identity = await identityModule.start({
      router,
      connectRouter: (extra: Partial<RouterOptions> = {}) => fixture.router(extra),
      catalog,
      catalogConnection: connection,
      processHome: fixture.home,
      section: undefined,
      secrets: new CatalogSecrets(catalog),
      scopes,
    });
    return {
      identity,
      scopes,
      demo: readDemoCredentials(fixture.home),
      stop: async () => {
        await identity.stop();
        await catalog.close();
      },
    };
  } catch (error) {
    await catalog.close().catch(() => undefined);
    throw error;
  }
}
