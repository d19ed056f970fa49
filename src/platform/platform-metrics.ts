import { Counter, Gauge, Registry } from 'prom-client';
import type { AuditLog } from '../audit/audit-log.ts';
import { registerAuditMetrics } from '../audit/audit-metrics.ts';
import type { BypassSpool } from '../data/bypass/bypass-spool.ts';
import type { Router } from '../data/router.ts';
import { FALLBACK_REASONS } from '../data/router-stats.ts';
import type { FailoverController } from '../fleet/failover-controller.ts';
import { FAILOVER_EVENT_KINDS } from '../fleet/failover-events.ts';
import type { MetricsSource } from '../http/routes/metrics-route.ts';
import type { JobRunner } from '../jobs/job-runner.ts';
import type { MetricFactories, MetricFactory, RunningModule } from './domain-module.ts';
import { registerJobMetrics } from './job-metrics.ts';

/** What the metrics are read from, at scrape time. */
export interface MetricInputs {
  readonly router: Router;
  readonly controller: FailoverController | null;
  readonly spool: BypassSpool | null;
  /** The running domain modules, each registering its own metrics. */
  readonly modules?: readonly RunningModule[];
  /** The process's own jobs runner (idempotency pruning), beside the router's and controller's. */
  readonly jobs?: JobRunner;
  /** The audit trail's writer, for its backlog and failures. */
  readonly audit?: AuditLog;
}

/**
 * Prometheus metrics for a Mainstay process. Every value is read from the router, the failover
 * controller and the bypass spool when Prometheus scrapes (prom-client `collect`), so the hot
 * paths only bump plain counters.
 */
export function platformMetrics(inputs: MetricInputs): MetricsSource {
  const registry = new Registry();
  const factories = scrapeTimeFactories(registry);
  const { router, controller, spool } = inputs;
  registerRouterReadMetrics(factories, router);
  registerRouterWriteMetrics(factories, router);
  registerServerMetrics(factories, router);
  registerFailoverMetrics(factories, controller, spool);
  const { audit } = inputs;
  if (audit) registerAuditMetrics(factories, () => audit.stats());
  for (const module of inputs.modules ?? []) module.metrics?.(factories);
  registerJobMetrics(factories.counter, factories.gauge, () => [
    ...router.jobs.snapshot(),
    ...router.monitor.jobs.snapshot(),
    ...(controller?.jobs.snapshot() ?? []),
    ...(inputs.jobs?.snapshot() ?? []),
    ...(inputs.modules ?? []).flatMap((module) => module.jobs?.() ?? []),
  ]);
  return { contentType: registry.contentType, metrics: () => registry.metrics() };
}

/**
 * Counter and gauge factories on `registry` whose metrics are reset and refilled by `collect` at
 * every scrape, so each value is the source's current figure rather than a running sum.
 */
function scrapeTimeFactories(registry: Registry): MetricFactories {
  const counter: MetricFactory<Counter> = (name, help, labelNames, collect) =>
    new Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      collect(this: Counter) {
        this.reset();
        collect(this);
      },
    });
  const gauge: MetricFactory<Gauge> = (name, help, labelNames, collect) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect(this: Gauge) {
        this.reset();
        collect(this);
      },
    });
  return { counter, gauge };
}

/** The router's reads: by target and consistency, primary fallbacks, refusals, session waits. */
function registerRouterReadMetrics({ counter }: MetricFactories, router: Router): void {
  counter(
    'mainstay_router_reads_total',
    'Reads routed, by target and consistency level.',
    ['target', 'consistency'],
    (m) => {
      for (const [key, count] of router.stats.reads) {
        const [target = '', consistency = ''] = key.split(':');
        m.inc({ target, consistency }, count);
      }
    },
  );
  counter(
    'mainstay_router_read_fallbacks_total',
    'Reads sent to a primary instead of a replica, by reason.',
    ['reason'],
    (m) => {
      for (const reason of FALLBACK_REASONS)
        m.inc({ reason }, router.stats.fallbacks.get(reason) ?? 0);
    },
  );
  counter(
    'mainstay_router_read_fallbacks_refused_total',
    'Reads refused because the primary fallback cap was reached.',
    [],
    (m) => m.inc(router.stats.fallbacksRefused),
  );
  counter(
    'mainstay_router_session_waits_total',
    'Session reads that waited for a replica to catch up.',
    [],
    (m) => m.inc(router.stats.sessionWaits),
  );
}

/** The router's writes by outcome and the shared recent-write store that session reads rely on. */
function registerRouterWriteMetrics({ counter }: MetricFactories, router: Router): void {
  counter(
    'mainstay_router_writes_total',
    'Writes by outcome (diverted: to takeover tables; spooled: decided without the database).',
    ['outcome'],
    (m) => {
      m.inc({ outcome: 'committed' }, router.stats.writes);
      m.inc({ outcome: 'failed_definite' }, router.stats.writesFailedDefinite);
      m.inc({ outcome: 'outcome_unknown' }, router.stats.writesOutcomeUnknown);
      m.inc({ outcome: 'diverted' }, router.stats.writesDiverted);
      m.inc({ outcome: 'spooled' }, router.stats.writesSpooled);
    },
  );
  counter(
    'mainstay_recent_write_store_total',
    'The shared recent-write store (decision 35): entries recorded, lookups, failures (the read went to the primary; the write was acknowledged unrecorded), records dropped while unreachable, reads it kept off a replica that lacked another process write, round trips.',
    ['event'],
    (m) => {
      const stats = router.shared?.stats;
      if (!stats) return;
      m.inc({ event: 'recorded' }, stats.recorded);
      m.inc({ event: 'record_failed' }, stats.recordFailures);
      m.inc({ event: 'record_dropped' }, stats.recordsDropped);
      m.inc({ event: 'lookup' }, stats.lookups);
      m.inc({ event: 'lookup_failed' }, stats.lookupFailures);
      m.inc({ event: 'stale_caught' }, stats.staleCaught);
      m.inc({ event: 'round_trip' }, stats.roundTrips);
    },
  );
}

/** The catalog epoch and the servers as the router sees them: replica lag and health. */
function registerServerMetrics({ gauge }: MetricFactories, router: Router): void {
  gauge('mainstay_catalog_epoch', 'Catalog epoch the router routes by.', [], (m) =>
    m.set(router.map.epoch),
  );
  gauge(
    'mainstay_replica_lag_bytes',
    'WAL bytes a replica trails its primary (unknown lag is absent).',
    ['server'],
    (m) => {
      for (const id of replicaIds(router)) {
        const seen = router.monitor.observe(id);
        if (seen.lagBytes !== null) m.set({ server: id }, seen.lagBytes);
      }
    },
  );
  gauge(
    'mainstay_replica_lag_seconds',
    'Time a replica trails its primary; +Inf when unknown.',
    ['server'],
    (m) => {
      for (const id of replicaIds(router))
        m.set({ server: id }, router.monitor.observe(id).lagMs / 1000);
    },
  );
  gauge(
    'mainstay_server_healthy',
    'Whether the router sees a server as healthy (1) or not (0).',
    ['server'],
    (m) => {
      for (const server of router.map.snapshot.servers) {
        if (server.role !== 'witness')
          m.set({ server: server.id }, router.monitor.observe(server.id).healthy ? 1 : 0);
      }
    },
  );
}

/** The failover controller's actions and the bypass spool's backlog (zero when absent). */
function registerFailoverMetrics(
  { counter, gauge }: MetricFactories,
  controller: FailoverController | null,
  spool: BypassSpool | null,
): void {
  counter(
    'mainstay_failover_events_total',
    'Failover controller actions, by kind.',
    ['kind'],
    (m) => {
      for (const kind of FAILOVER_EVENT_KINDS)
        m.inc({ kind }, controller?.log.counts.get(kind) ?? 0);
    },
  );
  gauge(
    'mainstay_bypass_spool_pending',
    'Operations decided without the database, waiting for replay.',
    [],
    (m) => m.set(spool?.pendingCount ?? 0),
  );
  gauge('mainstay_bypass_spool_bytes', 'Size of the bypass spool file.', [], (m) =>
    m.set(spool?.sizeBytes ?? 0),
  );
}

function replicaIds(router: Router): string[] {
  return router.map.snapshot.servers
    .filter((s) => s.role === 'replica' && s.fencedAtEpoch === null)
    .map((s) => s.id);
}
