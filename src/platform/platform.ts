import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { MainstayConfig } from '../config/load-config.ts';
import { DEMO_MIGRATIONS, loadDemoData } from '../demo/demo-data.ts';
import { MainstayError } from '../errors/mainstay-error.ts';
import { Fleet } from '../fleet/fleet.ts';
import { recordHttpUrl } from '../fleet/fleet-lock.ts';
import { assertPortFree } from '../fleet/ports.ts';
import { buildHttpServer } from '../http/build-http-server.ts';

/** The package version, shown in the OpenAPI document. */
export const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

export interface PlatformOptions {
  readonly config: MainstayConfig;
  readonly onProgress?: (step: string) => void;
  readonly onServerExit?: (serverId: string, detail: string) => void;
  /** Pino options or logger for the HTTP server; off when omitted. */
  readonly logger?: boolean | object;
}

/** A running Mainstay: the fleet, the HTTP server, and how to stop both. */
export interface Platform {
  readonly fleet: Fleet;
  readonly http: FastifyInstance;
  readonly url: string;
  /** Whether this start loaded the demo data (only the first start does). */
  readonly demoLoaded: boolean;
  stop(): Promise<void>;
}

/**
 * Starts everything in order: checks the HTTP port first (failing before any server starts),
 * brings the fleet up, loads the demo data once, then opens the HTTP server. On failure, what
 * was started is stopped again.
 */
export async function startPlatform(options: PlatformOptions): Promise<Platform> {
  const { config } = options;
  const { host, port } = config.http;
  if (port !== 0) await assertPortFree(port, 'the Mainstay HTTP server (MAINSTAY_PORT)', host);
  const fleet = new Fleet({
    config,
    shardMigrations: [DEMO_MIGRATIONS],
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.onServerExit ? { onServerExit: options.onServerExit } : {}),
  });
  await fleet.up();
  let http: FastifyInstance | null = null;
  try {
    options.onProgress?.('loading demo data');
    const demoLoaded = await loadDemoData(fleet.catalog, (shardId) => ({
      query: async (sql, values) => (await fleet.shardPool(shardId, 'home')).query(sql, values),
    }));
    options.onProgress?.('starting the HTTP server');
    http = await buildHttpServer({
      source: fleet,
      version: VERSION,
      logger: options.logger ?? false,
    });
    const url = await listen(http, host, port);
    recordHttpUrl(config.home, url);
    const running = http;
    return {
      fleet,
      http: running,
      url,
      demoLoaded,
      stop: async () => {
        await running.close();
        await fleet.down();
      },
    };
  } catch (error) {
    await http?.close();
    await fleet.down();
    throw error;
  }
}

async function listen(http: FastifyInstance, host: string, port: number): Promise<string> {
  try {
    await http.listen({ host, port });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new MainstayError(
        'port_in_use',
        `port ${port} on ${host} (for the Mainstay HTTP server, MAINSTAY_PORT) is already in use by another process`,
        { cause: error },
      );
    }
    throw error;
  }
  const address = http.server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  return `http://${host}:${actualPort}`;
}
