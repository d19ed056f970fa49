/** `GET /v1/topology`: the fleet as last probed, for dashboards, `mainstay status` and tests. */

import type { FastifyInstance } from 'fastify';
import type { TopologySource } from '../../fleet/topology-snapshot.ts';
import { requires } from '../access-control.ts';
import { HANDLER_TIMEOUT_MS } from '../handler-timeout.ts';
import { TopologySnapshotSchema } from '../schemas/topology-schema.ts';
import { problemResponses } from './problem-responses.ts';

/** Registers `GET /v1/topology`. A source that cannot answer throws, which becomes a problem. */
export function registerTopologyRoute(app: FastifyInstance, source: TopologySource): void {
  app.get(
    '/v1/topology',
    {
      handlerTimeout: HANDLER_TIMEOUT_MS,
      schema: {
        security: requires('platform:read'),
        summary: 'The fleet topology as last probed',
        description:
          'Data centres, servers with their roles, states and replication lag, and shards with ' +
          'their logical copies, as probed from the servers themselves at `observedAt`.',
        tags: ['fleet'],
        response: {
          200: {
            description: 'The topology snapshot.',
            content: { 'application/json': { schema: { $ref: `${TopologySnapshotSchema.$id}#` } } },
          },
          ...problemResponses,
        },
      },
    },
    async () => source.topology(),
  );
}
