/**
 * A topic of the live stream (`GET /v1/stream`, decision 61): a value the server reads on its
 * own schedule and pushes to every subscriber when it changes, so that a dashboard holds one
 * connection instead of polling each figure. A module offers topics from what it owns; the
 * entry point hands them to the stream route.
 */
export interface StreamTopic {
  /** The scope a subscriber needs, as a route of the same data would. */
  readonly scope: string;
  /** How often the value is read while anyone subscribes. Default 1,000 ms. */
  readonly intervalMs?: number;
  /** The topic's current value, as JSON. A read that throws is reported to subscribers. */
  read(): Promise<unknown>;
}
