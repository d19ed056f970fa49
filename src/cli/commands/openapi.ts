import { MainstayError } from '../../errors/mainstay-error.ts';
import { buildHttpServer } from '../../http/build-http-server.ts';
import { VERSION } from '../../platform/platform.ts';

/** The OpenAPI document, generated from the same schemas the server validates with. */
export async function openApiDocument(): Promise<unknown> {
  const unavailable = () => Promise.reject(new MainstayError('service_unavailable', 'not running'));
  const app = await buildHttpServer({
    source: { topology: unavailable, health: unavailable },
    events: { events: unavailable },
    metrics: { contentType: 'text/plain', metrics: unavailable },
    version: VERSION,
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
