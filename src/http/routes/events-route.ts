/** `GET /v1/events`: failovers, fences, promotions, rebuilds and catalog epoch changes. */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { MainstayError } from '../../errors/mainstay-error.ts';
import { cursorAfter, type EventCursor, type EventSource } from '../../fleet/failover-events.ts';
import { requires } from '../access-control.ts';
import { HANDLER_TIMEOUT_MS } from '../handler-timeout.ts';
import { EventListSchema } from '../schemas/event-schema.ts';
import { problemResponses } from './problem-responses.ts';

export const EVENT_PAGE_SIZE_MAX = 100;

/** The opaque `nextCursor` text of a cursor. */
function encodeCursor(cursor: EventCursor): string {
  return Buffer.from(JSON.stringify([cursor.at, cursor.skip])).toString('base64url');
}

function decodeCursor(text: string): EventCursor {
  try {
    const [at, skip] = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as unknown[];
    if (typeof at === 'string' && !Number.isNaN(Date.parse(at)) && Number.isSafeInteger(skip)) {
      return { at, skip: Math.max(0, skip as number) };
    }
  } catch {
    // Reported below.
  }
  throw new MainstayError('invalid_request', 'startingAfter is not a cursor this API returned', {
    errors: [{ pointer: '/startingAfter', detail: 'must be a nextCursor from an earlier page' }],
  });
}

/** Registers `GET /v1/events?limit=N&startingAfter=cursor` (newest first). */
export function registerEventsRoute(app: FastifyInstance, source: EventSource): void {
  app.get<{ Querystring: { limit?: number; startingAfter?: string } }>(
    '/v1/events',
    {
      handlerTimeout: HANDLER_TIMEOUT_MS,
      schema: {
        security: requires('platform:read'),
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
            startingAfter: Type.Optional(
              Type.String({
                minLength: 1,
                maxLength: 200,
                description: 'The `nextCursor` of the previous page.',
              }),
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
      const { startingAfter } = request.query;
      const cursor = startingAfter === undefined ? null : decodeCursor(startingAfter);
      const events = await source.events(limit + 1, cursor);
      const data = events.slice(0, limit);
      const hasMore = events.length > limit;
      const next = hasMore ? cursorAfter(data, cursor) : null;
      return { data, hasMore, nextCursor: next ? encodeCursor(next) : null };
    },
  );
}
