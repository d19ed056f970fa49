/**
 * The identity module: API clients (OAuth2 client credentials, JWT access tokens), API keys, and
 * the {@link AccessControl} every route of the process is checked with (decision 46).
 */
import type { DomainModule, RunningModule } from '../../platform/domain-module.ts';
import { CardBindingService } from '../cards/core/binding/binding-service.ts';
import { loadOrCreateCardKeys } from '../cards/core/binding/card-keys.ts';
import { registerCredentialRoutes } from './api/credential-routes.ts';
import { registerOAuthRoutes } from './api/oauth-routes.ts';
import { registerStaffRoutes } from './api/staff-routes.ts';
import {
  ACCESS_TOKEN_TTL_SECONDS_DEFAULT,
  type IdentityConfig,
  IdentityConfigSchema,
  ISSUER_DEFAULT,
  STAFF_SESSION_MINUTES_DEFAULT,
} from './config/identity-config.ts';
import { createAuthorizationServer } from './core/authorization-server.ts';
import { BearerAccess } from './core/bearer-access.ts';
import { CredentialService } from './core/credential-service.ts';
import { SessionService } from './core/sessions/session-service.ts';
import { signingJwks, verificationJwks } from './core/signing-keys.ts';
import { StaffService } from './core/staff/staff-service.ts';
import {
  CUSTOMER_SCOPES,
  type CustomerServices,
  registerCustomerRoutes,
  startCustomers,
} from './customers/customers.ts';
import { loadIdentityDemo } from './demo/demo-credentials.ts';
import { IDENTITY_ERRORS } from './errors.ts';
import { IDENTITY_MIGRATIONS } from './sql/identity-migrations.ts';

/** The identity services as they run in one API process. */
export interface RunningIdentity extends RunningModule {
  readonly credentials: CredentialService;
  readonly access: BearerAccess;
  readonly staff: StaffService;
  readonly sessions: SessionService;
  readonly customers: CustomerServices;
}

export const IDENTITY_SCOPES: Readonly<Record<string, string>> = {
  'identity:admin': 'Create, list and revoke API clients, API keys and staff accounts.',
  'identity:read': 'Read staff accounts.',
  'identity:self': "See and end one's own session (every member of staff).",
  ...CUSTOMER_SCOPES,
};

export const identityModule: DomainModule<RunningIdentity> = {
  name: 'identity',
  configSection: { key: 'identity', schema: IdentityConfigSchema },
  shardMigrations: [IDENTITY_MIGRATIONS],
  errors: IDENTITY_ERRORS,
  scopes: IDENTITY_SCOPES,
  loadDemoData: loadIdentityDemo,
  async start(context) {
    const section = (context.section ?? {}) as IdentityConfig;
    const issuer = section.issuer ?? ISSUER_DEFAULT;
    const credentials = new CredentialService(
      context.router,
      context.secrets,
      Object.keys(context.scopes),
    );
    const signing = await context.secrets.keysFor('access-token-signing');
    const provider = createAuthorizationServer({
      issuer,
      jwks: signingJwks(signing),
      credentials,
      accessTokenTtlSeconds: section.accessTokenTtlSeconds ?? ACCESS_TOKEN_TTL_SECONDS_DEFAULT,
    });
    const sessions = new SessionService(
      context.router,
      section.staffSessionMinutes ?? STAFF_SESSION_MINUTES_DEFAULT,
    );
    const staff = new StaffService(context.router, context.secrets, sessions);
    const jwks = verificationJwks(signing);
    const access = new BearerAccess({ credentials, sessions, jwks, issuer });
    // A customer approved at the top KYC level becomes a payment user of the cards domain:
    // identity reaches the card binding service through a port of its own (PaymentUserPort).
    const binding = new CardBindingService(
      context.router,
      await loadOrCreateCardKeys(context.catalog, context.secrets),
    );
    const customers = startCustomers({
      router: context.router,
      secrets: context.secrets,
      sessions,
      paymentUsers: {
        create: async (input, write) => (await binding.createUser(input, write)).value,
      },
    });
    return {
      credentials,
      access,
      staff,
      sessions,
      customers,
      async routes(app) {
        registerOAuthRoutes(app, provider);
        registerCredentialRoutes(app, credentials);
        await registerStaffRoutes(app, staff, sessions);
        await registerCustomerRoutes(app, customers);
      },
      streamTopics: () => ({
        // The KYC review queue in figures, for a live view of the queue (scope as its route).
        kyc_reviews: {
          scope: 'identity:review',
          intervalMs: 2_000,
          read: () => customers.reviews.summary(),
        },
      }),
      async stop() {},
    };
  },
  async describeRoutes(app) {
    registerOAuthRoutes(app, null);
    registerCredentialRoutes(app, null as never);
    await registerStaffRoutes(app, null as never, null as never);
    await registerCustomerRoutes(app, {
      customers: null as never,
      kyc: null as never,
      reviews: null as never,
      outbox: {} as never,
    });
  },
};
