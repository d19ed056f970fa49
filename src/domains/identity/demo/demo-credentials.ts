/**
 * The demo credentials: on a fleet's first start, an API client and an API key holding every
 * scope, written to `demo-credentials.json` in MAINSTAY_HOME (mode 0600), which the README's
 * tour and the tests read. A catalog flag keeps it to one load per fleet.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { CatalogStore } from '../../../catalog/catalog-store.ts';
import type { Router } from '../../../data/router.ts';
import type { DemoContext } from '../../../platform/domain-module.ts';
import { CatalogSecrets } from '../../../secrets/catalog-secrets.ts';
import { CredentialService } from '../core/credential-service.ts';
import { SessionService } from '../core/sessions/session-service.ts';
import { StaffService } from '../core/staff/staff-service.ts';

export const DEMO_CREDENTIALS_FILE = 'demo-credentials.json';
const DEMO_FLAG = 'identity_demo_loaded';

/** What `demo-credentials.json` holds. */
export interface DemoCredentials {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly apiKey: string;
  readonly tokenPath: string;
  readonly scopes: readonly string[];
  /** The first two admins (two, so that one can approve what the other asks). */
  readonly staff: readonly DemoStaff[];
}

/** A bootstrap admin: log in with the password and a code from the TOTP URI's secret. */
export interface DemoStaff {
  readonly id: string;
  readonly username: string;
  readonly password: string;
  readonly totpUri: string;
}

/** The bootstrap admins' usernames; `MAINSTAY_ADMIN_PASSWORD` sets the first one's password. */
export const BOOTSTRAP_ADMINS = ['admin', 'admin2'] as const;

/** Creates the demo client and key once per fleet; true when this call did. */
export async function loadIdentityDemo(
  router: Router,
  catalog: CatalogStore,
  demo: DemoContext,
): Promise<boolean> {
  if ((await catalog.getFlag(DEMO_FLAG)) !== null) return false;
  const scopes = Object.keys(demo.scopes).sort();
  const credentials = new CredentialService(router, new CatalogSecrets(catalog), scopes);
  const client = await credentials.createClient(
    { name: 'demo client (every scope)', scopes },
    { idempotencyKey: 'identity-demo-client' },
  );
  // A key is shown once: after a crash between its creation and the file, make another.
  const key = await credentials.createApiKey(
    { name: 'demo key (every scope)', scopes },
    { idempotencyKey: `identity-demo-key-${randomUUID()}` },
  );
  const staff = await bootstrapAdmins(router, catalog);
  const file: DemoCredentials = {
    clientId: client.value.id,
    clientSecret: client.value.clientSecret,
    apiKey: key.value.apiKey as string,
    tokenPath: '/oauth/token',
    scopes,
    staff,
  };
  const target = path.join(demo.home, DEMO_CREDENTIALS_FILE);
  writeFileSync(target, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  chmodSync(target, 0o600);
  await catalog.setFlag(DEMO_FLAG, new Date().toISOString());
  return true;
}

/** Creates the bootstrap admins (roles given directly: nobody could approve a grant yet). */
async function bootstrapAdmins(router: Router, catalog: CatalogStore): Promise<DemoStaff[]> {
  const secrets = new CatalogSecrets(catalog);
  const staff = new StaffService(router, secrets, new SessionService(router, 60));
  const created: DemoStaff[] = [];
  for (const [index, username] of BOOTSTRAP_ADMINS.entries()) {
    const fromEnv = index === 0 ? process.env.MAINSTAY_ADMIN_PASSWORD : undefined;
    const password = fromEnv || randomBytes(18).toString('base64url');
    const answer = await staff.create(
      { username, displayName: `Administrator ${index + 1}`, password, roles: ['admin'] },
      { idempotencyKey: `identity-bootstrap-${username}-${randomUUID()}` },
      { bootstrap: true },
    );
    created.push({
      id: answer.value.id,
      username,
      password,
      totpUri: answer.value.totpUri as string,
    });
  }
  return created;
}
