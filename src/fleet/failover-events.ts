/** What the failover controller did, as shown at `GET /v1/events`. */
export const FAILOVER_EVENT_KINDS = [
  'catalog_epoch',
  'primary_failed',
  'primary_fenced',
  'replica_promoted',
  'copies_repointed',
  'replica_rebuilt',
  'replica_failed',
  'replica_recovered',
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

  /** The newest `limit` events, newest first. */
  recent(limit = 100): readonly FailoverEvent[] {
    return this.#events.slice(-limit).reverse();
  }
}

/** Anything that can list recent platform events, newest first. */
export interface EventSource {
  events(limit: number): Promise<readonly FailoverEvent[]>;
}
