/** `GET /metrics`: Prometheus exposition of the router, replication and failover counters. */
import type { FastifyInstance } from 'fastify';
import { HANDLER_TIMEOUT_MS } from '../handler-timeout.ts';

/** Anything that renders metrics in a Prometheus exposition format. */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

/** Registers `GET /metrics` (not in the JSON API; scraped by Prometheus). */
export function registerMetricsRoute(app: FastifyInstance, source: MetricsSource): void {
  app.get(
    '/metrics',
    {
      handlerTimeout: HANDLER_TIMEOUT_MS,
      schema: {
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
