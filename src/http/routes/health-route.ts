/**
 * `GET /health`: for load balancers and orchestrators, which only look at the status code, and
 * for humans, who read the per-component body.
 */

import type { FastifyInstance } from 'fastify';
import type { TopologySource } from '../../fleet/topology-snapshot.ts';
import { PUBLIC } from '../access-control.ts';
import { HANDLER_TIMEOUT_MS } from '../handler-timeout.ts';
import { RETRY_AFTER_SECONDS } from '../problem-handlers.ts';
import { HealthReportSchema } from '../schemas/health-schema.ts';
import { problemResponses } from './problem-responses.ts';

const healthReportRef = { $ref: `${HealthReportSchema.$id}#` };

/** Registers `GET /health`, answering `503` with the same report while anything is not ready. */
export function registerHealthRoute(app: FastifyInstance, source: TopologySource): void {
  app.get(
    '/health',
    {
      handlerTimeout: HANDLER_TIMEOUT_MS,
      schema: {
        security: PUBLIC,
        summary: 'Whether the platform is ready to serve',
        description:
          'The status code says whether every component is ready. An unready platform is a ' +
          'state, not a failed request: the `503` body is the same health report, not a problem.',
        tags: ['platform'],
        response: {
          200: {
            description: 'Every component is ready.',
            content: { 'application/json': { schema: healthReportRef } },
          },
          503: {
            description: 'At least one component is not ready; the report says which.',
            headers: {
              'Retry-After': {
                type: 'integer',
                description: 'Seconds to wait before asking again.',
              },
            },
            content: { 'application/json': { schema: healthReportRef } },
          },
          ...problemResponses,
        },
      },
    },
    async (_request, reply) => {
      const report = await source.health();
      if (!report.ready) {
        reply.code(503).header('retry-after', String(RETRY_AFTER_SECONDS));
      }
      return report;
    },
  );
}
