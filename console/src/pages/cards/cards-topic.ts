/**
 * The `cards` topic of the live stream, as the cards module sends it (counts of this API
 * process since it started; the registry's figures cover every process), and the rate of
 * authorizations computed here from successive counts.
 */
import { useEffect, useRef, useState } from 'react';

/** Amounts per currency: decimal strings of minor units. */
export type MinorUnits = Readonly<Record<string, string>>;

export interface CardShardFigures {
  readonly shardId: number;
  readonly circuit: string;
  readonly diversion: string;
  readonly latencyP99Ms: number | null;
  readonly queueDepth: number;
  readonly issuerSharePercent: number;
  readonly pendingAdvices: number;
  readonly unapplied: number;
}

export interface CardsTopic {
  readonly countedBy: 'process';
  readonly authorizations: {
    readonly total: number;
    readonly approved: number;
    readonly declined: number;
    readonly byStatus: Readonly<Record<string, number>>;
    readonly byDecider: { readonly issuer: number; readonly stand_in: number };
  };
  readonly standIn: {
    readonly share: number;
    readonly decisions: number;
    readonly approvals: number;
    readonly byTrigger: Readonly<Record<string, number>>;
    readonly forwarded: number;
    readonly forwardedByResult: Readonly<Record<string, number>>;
    readonly conflicts: number;
    readonly quarantined: number;
    readonly pendingAdvices: number;
    readonly exposureByCurrency: MinorUnits;
    readonly lastForwardError: { shardId: number; message: string; at: string } | null;
  };
  readonly registry: {
    readonly reachable: boolean;
    readonly unapplied: number;
    readonly outstandingByCurrency: MinorUnits;
    readonly overshootByCurrency: MinorUnits;
  };
  readonly shards: readonly CardShardFigures[];
}

const TICK_MS = 1_000;
const POINTS_MAX = 120;

/**
 * Authorizations and declines per second, from the counts the stream last sent: once a second
 * (a local tick, no request) the change since the previous tick over the time between them.
 * Answers the chart's rows ([time in s, authorizations/s, declines/s]) and the latest rate.
 */
export function useRates(topic: CardsTopic | undefined): {
  points: number[][];
  perSecond: number | null;
} {
  const latest = useRef<{ total: number; declined: number } | null>(null);
  latest.current = topic
    ? { total: topic.authorizations.total, declined: topic.authorizations.declined }
    : null;
  const [points, setPoints] = useState<number[][]>([]);
  useEffect(() => {
    let previous: { total: number; declined: number; atMs: number } | null = null;
    const timer = setInterval(() => {
      const now = latest.current;
      if (now === null) return;
      const atMs = Date.now();
      if (previous !== null) {
        const seconds = (atMs - previous.atMs) / 1_000;
        const total = Math.max(0, now.total - previous.total) / seconds;
        const declined = Math.max(0, now.declined - previous.declined) / seconds;
        setPoints((old) => [...old.slice(-(POINTS_MAX - 1)), [atMs / 1_000, total, declined]]);
      }
      previous = { ...now, atMs };
    }, TICK_MS);
    return () => clearInterval(timer);
  }, []);
  const last = points.at(-1);
  return { points, perSecond: last ? (last[1] ?? 0) : null };
}

/**
 * A key that changes whenever the stand-in backlog or reconciliation may have changed, so the
 * lists read through the API are read again then (and only then).
 */
export function adviceChangeKey(topic: CardsTopic | undefined): string {
  if (!topic) return '';
  const s = topic.standIn;
  return [s.decisions, s.pendingAdvices, s.forwarded, s.quarantined, topic.registry.unapplied].join(
    '|',
  );
}
