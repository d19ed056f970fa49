import { type Static, Type } from '@sinclair/typebox';
import { FAILOVER_EVENT_KINDS, type FailoverEvent } from '../../fleet/failover-events.ts';
import {
  assertType,
  type DeepMutable,
  type Equal,
  LiteralUnion,
  Nullable,
} from './schema-helpers.ts';

/** One failover or catalog event, as `GET /v1/events` lists it. */
export const FailoverEventSchema = Type.Object(
  {
    at: Type.String({ format: 'date-time' }),
    kind: LiteralUnion(FAILOVER_EVENT_KINDS),
    server: Nullable(Type.String()),
    dc: Nullable(Type.String()),
    epoch: Nullable(Type.Integer()),
    sinceDetectionMs: Nullable(Type.Integer()),
    detail: Type.String(),
  },
  { $id: 'FailoverEvent', additionalProperties: false },
);

/** A page of events, newest first, in the list shape every Mainstay list uses. */
export const EventListSchema = Type.Object(
  {
    data: Type.Array(Type.Ref(FailoverEventSchema)),
    hasMore: Type.Boolean(),
    nextCursor: Nullable(Type.String()),
  },
  { $id: 'EventList', additionalProperties: false },
);

assertType<Equal<Static<typeof FailoverEventSchema>, DeepMutable<FailoverEvent>>>(true);
