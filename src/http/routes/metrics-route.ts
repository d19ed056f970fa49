/** `GET /metrics`: Prometheus exposition of the router, replication and failover counters. */

import type { FastifyInstance } from 'fastify';
import { PUBLIC, requires } from '../access-control.ts';
import { HANDLER_TIMEOUT_MS } from '../handler-timeout.ts';

/** Anything that renders metrics in a Prometheus exposition format. */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

/**
 * Registers `GET /metrics` (not in the JSON API; scraped by Prometheus, which sends a bearer
 * credential with the `platform:metrics` scope; `public` leaves it open, as `http.metricsPublic`
 * asks).
 */
export function registerMetricsRoute(
  app: FastifyInstance,
  source: MetricsSource,
  options: { readonly public: boolean } = { public: false },
): void {
  app.get(
    '/metrics',
    {
      handlerTimeout: HANDLER_TIMEOUT_MS,
      schema: {
        security: options.public ? PUBLIC : requires('platform:metrics'),
        summary: 'Prometheus metrics',
        description:
          'Reads by target and consistency level, primary fallbacks, replica lag, writes by ' +
          'outcome, failovers by kind, spooled (bypass) writes, the catalog epoch.',
        tags: ['platform'],
        response: {
          200: {
            description: 'Prometheus text exposition.',
            content: { 'text/plain': { schema: { type: 'string' } } },
          },
        },
      },
    },
    async (_request, reply) => reply.type(source.contentType).send(await source.metrics()),
  );
}
