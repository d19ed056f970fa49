import { registerCardRoutes } from '../../domains/cards/services.ts';
import { MainstayError } from '../../errors/mainstay-error.ts';
import { buildHttpServer } from '../../http/build-http-server.ts';
import { registerOperationsRoutes } from '../../http/routes/operations-route.ts';
import { VERSION } from '../../platform/platform.ts';

/**
 * A service stand-in for building the document without a fleet: routes only register, so every
 * method answers `service_unavailable`.
 */
function notRunning<T extends object>(): T {
  return new Proxy({} as T, {
    get: () => () => Promise.reject(new MainstayError('service_unavailable', 'not running')),
  });
}

/** The OpenAPI document, generated from the same schemas the server validates with. */
export async function openApiDocument(): Promise<unknown> {
  const unavailable = () => Promise.reject(new MainstayError('service_unavailable', 'not running'));
  const app = await buildHttpServer({
    source: { topology: unavailable, health: unavailable },
    events: { events: unavailable },
    metrics: { contentType: 'text/plain', metrics: unavailable },
    version: VERSION,
    routes: [
      (app) =>
        registerCardRoutes(app, {
          binding: notRunning(),
          accounts: notRunning(),
          authorizations: notRunning(),
          standIn: notRunning(),
        }),
      (app) => registerOperationsRoutes(app, { reseed: unavailable }),
    ],
  });
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
