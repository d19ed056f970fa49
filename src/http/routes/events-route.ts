/** `GET /v1/events`: failovers, fences, promotions, rebuilds and catalog epoch changes. */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { EventSource } from '../../fleet/failover-events.ts';
import { EventListSchema } from '../schemas/event-schema.ts';
import { problemResponses } from './problem-responses.ts';

export const EVENT_PAGE_SIZE_MAX = 100;

/** Registers `GET /v1/events?limit=N` (newest first). */
export function registerEventsRoute(app: FastifyInstance, source: EventSource): void {
  app.get<{ Querystring: { limit?: number } }>(
    '/v1/events',
    {
      schema: {
        summary: 'Recent failover and catalog events, newest first',
        description:
          'What the failover controller did (a primary fenced, a replica promoted, copies ' +
          're-pointed, a DC failed over, with the time since the failure was detected) and ' +
          'every catalog epoch change.',
        tags: ['fleet'],
        querystring: Type.Object(
          {
            limit: Type.Optional(
              Type.Integer({ minimum: 1, maximum: EVENT_PAGE_SIZE_MAX, default: 20 }),
            ),
          },
          { additionalProperties: false },
        ),
        response: {
          200: {
            description: 'A page of events.',
            content: { 'application/json': { schema: { $ref: `${EventListSchema.$id}#` } } },
          },
          ...problemResponses,
        },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? 20;
      const events = await source.events(limit + 1);
      return { data: events.slice(0, limit), hasMore: events.length > limit, nextCursor: null };
    },
  );
}
