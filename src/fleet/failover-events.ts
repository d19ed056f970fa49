/** What the failover controller did, as shown at `GET /v1/events`. */
export const FAILOVER_EVENT_KINDS = [
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
export type FailoverEventKind = (typeof FAILOVER_EVENT_KINDS)[number];

export interface FailoverEvent {
  readonly at: string;
  readonly kind: FailoverEventKind;
  readonly server: string | null;
  readonly dc: string | null;
  /** Catalog epoch after the step, when it changed one. */
  readonly epoch: number | null;
  /** Time since the failure was detected, for steps of a failover. */
  readonly sinceDetectionMs: number | null;
  readonly detail: string;
}

export const EVENT_COUNT_MAX = 1_000;

/** A bounded, newest-last log of failover events, with a count per kind that is never cut. */
export class FailoverEventLog {
  readonly #events: FailoverEvent[] = [];
  readonly counts = new Map<FailoverEventKind, number>();

  add(event: Omit<FailoverEvent, 'at'>): FailoverEvent {
    const full = { at: new Date().toISOString(), ...event };
    this.#events.push(full);
    this.counts.set(event.kind, (this.counts.get(event.kind) ?? 0) + 1);
    if (this.#events.length > EVENT_COUNT_MAX) this.#events.shift();
    return full;
  }

  /** The newest `limit` events (at or before `atOrBefore`, when given), newest first. */
  recent(limit = 100, atOrBefore?: string): readonly FailoverEvent[] {
    const events =
      atOrBefore === undefined ? this.#events : this.#events.filter((e) => e.at <= atOrBefore);
    return events.slice(-limit).reverse();
  }
}

/**
 * Where a page of events ends: the next page holds the events older than `at`, and those at
 * exactly `at` after the first `skip` of them (several events can share a millisecond).
 */
export interface EventCursor {
  readonly at: string;
  readonly skip: number;
}

/** Anything that can list recent platform events, newest first, a page at a time. */
export interface EventSource {
  /** Up to `limit` events after `cursor` (from the newest when `null`), newest first. */
  events(limit: number, cursor?: EventCursor | null): Promise<readonly FailoverEvent[]>;
}

/**
 * Cuts one page from `newestFirst` (every event at or before the cursor's time, in a stable
 * order): drops the `skip` events at exactly the cursor's time, keeps `limit`.
 */
export function pageOfEvents<E extends { readonly at: string }>(
  newestFirst: readonly E[],
  limit: number,
  cursor: EventCursor | null | undefined,
): E[] {
  if (!cursor) return newestFirst.slice(0, limit);
  let skipped = 0;
  const after = newestFirst.filter((event) => {
    if (event.at > cursor.at) return false;
    if (event.at === cursor.at && skipped < cursor.skip) {
      skipped += 1;
      return false;
    }
    return true;
  });
  return after.slice(0, limit);
}

/** The cursor that continues after `page`, given the cursor that produced it. */
export function cursorAfter(
  page: readonly { readonly at: string }[],
  previous: EventCursor | null | undefined,
): EventCursor | null {
  const last = page[page.length - 1];
  if (!last) return null;
  let skip = page.filter((event) => event.at === last.at).length;
  if (previous && previous.at === last.at) skip += previous.skip;
  return { at: last.at, skip };
}
