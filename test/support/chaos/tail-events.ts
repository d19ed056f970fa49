/**
 * What the fleet says it lost: the failover events (`GET /v1/events`) that report a tail, to be
 * set beside the acknowledged writes the clients lost.
 */
import { type ApiProcess, send } from './chaos-http.ts';

const PAGE_SIZE = 100;
const PAGE_COUNT_MAX = 20;
const TIMEOUT_MS = 5_000;
/** Event kinds whose detail states a lost or unreplicated tail. */
const TAIL_KINDS = ['replica_promoted', 'shard_moved', 'lost_tail'];

export interface FleetEvent {
  readonly at: string;
  readonly kind: string;
  readonly server: string | null;
  readonly dc: string | null;
  readonly detail: string;
}

/** Every event since `since` (ms since the epoch), oldest first, newest page first fetched. */
export async function eventsSince(target: ApiProcess, since: number): Promise<FleetEvent[]> {
  const events: FleetEvent[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < PAGE_COUNT_MAX; page += 1) {
    const query: string = cursor ? `&startingAfter=${encodeURIComponent(cursor)}` : '';
    const answer = await send(target, 'GET', `/v1/events?limit=${PAGE_SIZE}${query}`, {
      timeoutMs: TIMEOUT_MS,
    });
    if (answer.status !== 200) break;
    const data = (answer.body?.data ?? []) as FleetEvent[];
    events.push(...data.filter((event) => Date.parse(event.at) >= since));
    cursor = answer.body?.nextCursor ?? null;
    const oldest = data.at(-1);
    if (!cursor || !oldest || Date.parse(oldest.at) < since) break;
  }
  return events.reverse();
}

/** The events that report a tail, as report lines. */
export function tailReports(events: readonly FleetEvent[]): string[] {
  return events
    .filter(
      (event) => TAIL_KINDS.some((kind) => event.kind.includes(kind)) || /lost/.test(event.detail),
    )
    .map((event) => `${event.at} ${event.kind} ${event.server ?? event.dc ?? ''}: ${event.detail}`);
}
