import type { FastifyInstance } from 'fastify';
import { ApprovalStore } from '../../approvals/approval-store.ts';
import { MainstayError } from '../../errors/mainstay-error.ts';
import { PLATFORM_SCOPES } from '../../http/access-control.ts';
import { buildHttpServer } from '../../http/build-http-server.ts';
import { registerAuditRoutes } from '../../http/routes/audit-routes.ts';
import { registerEnvironmentRoutes } from '../../http/routes/environments-route.ts';
import { registerOperationsRoutes } from '../../http/routes/operations-route.ts';
import { registerStreamRoute } from '../../http/routes/stream-route.ts';
import { MODULES } from '../../modules.ts';
import { scopesOf } from '../../platform/domain-module.ts';
import { VERSION } from '../../platform/platform.ts';
import { guardedPool } from '../../postgres/guarded-pool.ts';

/**
 * The HTTP server with every route of the platform and no data behind it (each source answers
 * `service_unavailable`): what the OpenAPI document is generated from, and what the start-up
 * benchmark builds to time the compilation of its schemas. `compileSchemasAtStart` as in
 * {@link buildHttpServer}.
 */
export async function describedServer(compileSchemasAtStart: boolean): Promise<FastifyInstance> {
  const unavailable = () => Promise.reject(new MainstayError('service_unavailable', 'not running'));
  return buildHttpServer({
    source: { topology: unavailable, health: unavailable },
    events: { events: unavailable },
    metrics: { contentType: 'text/plain', metrics: unavailable },
    version: VERSION,
    compileSchemasAtStart,
    // Nothing is served, but every route must still declare its security to be described.
    access: { authenticate: unavailable },
    // Never queried: the gate only adds its routes and the 202 answers to the document.
    approvals: new ApprovalStore(guardedPool({})),
    scopes: scopesOf(MODULES, PLATFORM_SCOPES),
    routes: [
      ...MODULES.map((module) => async (app: FastifyInstance) => {
        await app.register(async (scope) => module.describeRoutes(scope));
      }),
      (app) =>
        registerOperationsRoutes(app, {
          reseed: unavailable,
          rootSecrets: { add: unavailable, promote: unavailable },
        }),
      (app) => registerAuditRoutes(app, { list: unavailable, verify: unavailable }),
      (app) => registerStreamRoute(app, {}),
      (app) =>
        registerEnvironmentRoutes(app, {
          create: unavailable,
          list: unavailable,
          destroy: unavailable,
        }),
    ],
  });
}

/** The OpenAPI document, generated from the same schemas the server validates with. */
export async function openApiDocument(): Promise<unknown> {
  // Every request validator and response serializer compiled now: a schema that cannot be
  // compiled is an error here, not at a request.
  const app = await describedServer(true);
  await app.ready();
  const document = app.swagger();
  await app.close();
  return document;
}

/** `mainstay openapi`: prints the OpenAPI document. */
export async function openApiCommand(): Promise<number> {
  process.stdout.write(`${JSON.stringify(await openApiDocument(), null, 2)}\n`);
  return 0;
}
