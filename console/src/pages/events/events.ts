/**
 * Failover and catalog events as `GET /v1/events` and the stream's `events` topic give them
 * (newest first), and how lists of them are joined without showing one event twice.
 */

export const EVENT_KINDS = [
  'catalog_epoch',
  'primary_failed',
  'primary_fenced',
  'replica_promoted',
  'copies_repointed',
  'lost_tail_measured',
  'lost_tail_unknown',
  'replica_rebuilt',
  'replica_failed',
  'replica_recovered',
  'suspicion_cleared',
  'dc_failed',
  'shard_moved',
  'failover_failed',
] as const;

export interface FailoverEvent {
  readonly at: string;
  /** One of {@link EVENT_KINDS}; a kind this console does not know yet is shown as it is. */
  readonly kind: string;
  readonly server: string | null;
  readonly dc: string | null;
  readonly epoch: number | null;
  readonly sinceDetectionMs: number | null;
  readonly detail: string;
}

export interface EventPage {
  readonly data: readonly FailoverEvent[];
  readonly hasMore: boolean;
  readonly nextCursor: string | null;
}

const BAD = new Set(['primary_failed', 'replica_failed', 'dc_failed', 'failover_failed']);
const WARN = new Set(['primary_fenced', 'lost_tail_measured', 'lost_tail_unknown', 'shard_moved']);
const OK = new Set([
  'replica_promoted',
  'replica_rebuilt',
  'replica_recovered',
  'suspicion_cleared',
  'copies_repointed',
]);

/** The badge class of an event kind ('' for the plain grey of a catalog change). */
export function kindTone(kind: string): string {
  if (BAD.has(kind)) return 'bad';
  if (WARN.has(kind)) return 'warn';
  if (OK.has(kind)) return 'ok';
  return '';
}

/** What identifies an event: events have no id, and two can share a millisecond. */
export function eventKey(event: FailoverEvent): string {
  return JSON.stringify([
    event.at,
    event.kind,
    event.server,
    event.dc,
    event.epoch,
    event.sinceDetectionMs,
    event.detail,
  ]);
}

/**
 * `base` with the events of `more` it does not hold yet, newest first. An event that `more`
 * lists n times is added only as far as `base` holds it fewer times, so identical events of the
 * same millisecond are all kept and none is doubled.
 */
export function mergeEvents(
  base: readonly FailoverEvent[],
  more: readonly FailoverEvent[],
): readonly FailoverEvent[] {
  const held = new Map<string, number>();
  for (const event of base) held.set(eventKey(event), (held.get(eventKey(event)) ?? 0) + 1);
  const added: FailoverEvent[] = [];
  for (const event of more) {
    const key = eventKey(event);
    const count = held.get(key) ?? 0;
    if (count > 0) held.set(key, count - 1);
    else added.push(event);
  }
  if (added.length === 0) return base;
  return [...base, ...added].sort((a, b) => b.at.localeCompare(a.at));
}
