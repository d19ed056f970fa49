/**
 * The console (decision 61): the single-page app built into `console/dist` by `npm run build`,
 * served at `/console/`. The files are public (they hold no data; the app logs in through the
 * API like any client). A hashed asset is cached for good; `index.html` never, so a new build
 * is picked up at the next load. Any other path under `/console/` answers `index.html`, where the
 * app's own routes take over. Without a build, a problem says how to make one.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { MainstayError } from '../../errors/mainstay-error.ts';
import { PUBLIC } from '../access-control.ts';

/** `console/dist` beside `src/` (or `dist/`) at the package's root. */
export const CONSOLE_DIST = fileURLToPath(new URL('../../../console/dist/', import.meta.url));

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.woff2': 'font/woff2',
};
/** A file name the build makes: letters, digits, dots, dashes, underscores, one folder deep. */
const SAFE_NAME = /^(?:[A-Za-z0-9_-]+\/)?[A-Za-z0-9_.-]+$/;

export function registerConsoleRoutes(app: FastifyInstance, dist: string = CONSOLE_DIST): void {
  const schema = { security: PUBLIC, hide: true };
  app.get('/console', { schema }, async (_request, reply) => reply.redirect('/console/', 308));
  app.get<{ Params: { '*': string } }>('/console/*', { schema }, async (request, reply) => {
    const name = request.params['*'];
    if (name !== '' && SAFE_NAME.test(name) && !name.includes('..')) {
      const file = path.join(dist, name);
      if (await isFile(file)) return sendFile(reply, file, name.startsWith('assets/'));
    }
    const index = path.join(dist, 'index.html');
    if (!(await isFile(index)))
      throw new MainstayError(
        'service_unavailable',
        'The console is not built: run `npm run build` (or `npm start`, which builds it).',
      );
    return sendFile(reply, index, false);
  });
}

async function isFile(file: string): Promise<boolean> {
  return stat(file).then(
    (found) => found.isFile(),
    () => false,
  );
}

async function sendFile(reply: FastifyReply, file: string, immutable: boolean) {
  const body = await readFile(file);
  return reply
    .header('content-type', TYPES[path.extname(file)] ?? 'application/octet-stream')
    .header('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
    .header('x-content-type-options', 'nosniff')
    .send(body);
}
