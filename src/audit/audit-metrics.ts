import type { Counter, Gauge } from 'prom-client';
import type { AuditStats } from './audit-log.ts';

type Factory<M> = (
  name: string,
  help: string,
  labelNames: string[],
  collect: (metric: M) => void,
) => M;

/** The platform's scrape-time metric factories (`MetricFactories`), by shape: audit sits below it. */
export interface AuditMetricFactories {
  readonly counter: Factory<Counter>;
  readonly gauge: Factory<Gauge>;
}

/**
 * The audit trail's figures in `/metrics`, read at scrape time. Alert on
 * `mainstay_audit_entries_total{outcome!="appended"}` rising (entries lost: refused by their
 * shard, or dropped) and on `mainstay_audit_oldest_pending_seconds` growing (a shard that cannot
 * be written: its entries wait in this process's memory, lost if it dies).
 */
export function registerAuditMetrics(
  { counter, gauge }: AuditMetricFactories,
  stats: () => AuditStats,
): void {
  counter(
    'mainstay_audit_entries_total',
    'Audit entries by outcome: appended, refused by their shard (bad data), dropped (queue full or closed).',
    ['outcome'],
    (m) => {
      const figures = stats();
      m.inc({ outcome: 'appended' }, figures.appendedCount);
      m.inc({ outcome: 'refused' }, figures.refusedCount);
      m.inc({ outcome: 'dropped' }, figures.droppedCount);
    },
  );
  counter(
    'mainstay_audit_batch_failures_total',
    'Audit append transactions that failed (their entries stay queued and are retried).',
    [],
    (m) => m.inc(stats().failedBatchCount),
  );
  counter(
    'mainstay_audit_unconfirmed_total',
    'Answers sent before their audit entry committed (the wait for it ran out).',
    [],
    (m) => m.inc(stats().unconfirmedCount),
  );
  gauge('mainstay_audit_pending_entries', 'Audit entries queued in memory.', [], (m) =>
    m.set(stats().pendingCount),
  );
  gauge(
    'mainstay_audit_oldest_pending_seconds',
    'How long the oldest queued audit entry has waited.',
    [],
    (m) => m.set(stats().oldestPendingMs / 1000),
  );
}
