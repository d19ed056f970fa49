import type { Counter, Gauge } from 'prom-client';
import { JOB_OUTCOMES, type JobSnapshot } from '../jobs/job-runner.ts';
import type { MetricFactory } from './domain-module.ts';

/**
 * The jobs runner's figures for every background loop of the process (decision 40): runs by
 * outcome, whether a run is in flight, the last run's duration, and whether this process holds
 * a singleton job's lease. Read from the snapshots at scrape time.
 */
export function registerJobMetrics(
  counter: MetricFactory<Counter>,
  gauge: MetricFactory<Gauge>,
  snapshots: () => readonly JobSnapshot[],
): void {
  counter(
    'mainstay_job_runs_total',
    'Runs of each background job, by outcome (not_holder: another process holds its lease).',
    ['job', 'outcome'],
    (m) => {
      for (const job of snapshots()) {
        const counts: Record<(typeof JOB_OUTCOMES)[number], number> = {
          succeeded: job.runCount - job.failureCount,
          failed: job.failureCount - job.timeoutCount,
          timed_out: job.timeoutCount,
          not_holder: job.notHolderCount,
        };
        for (const outcome of JOB_OUTCOMES)
          m.inc({ job: job.name, outcome }, Math.max(0, counts[outcome]));
      }
    },
  );
  gauge(
    'mainstay_job_running',
    'Whether a run of the job is in flight (1) or not (0).',
    ['job'],
    (m) => {
      for (const job of snapshots()) m.set({ job: job.name }, job.running ? 1 : 0);
    },
  );
  gauge('mainstay_job_last_duration_seconds', 'How long the job last ran.', ['job'], (m) => {
    for (const job of snapshots())
      if (job.lastDurationMs !== null) m.set({ job: job.name }, job.lastDurationMs / 1000);
  });
  gauge(
    'mainstay_job_lease_held',
    'For a singleton job: whether this process holds its lease (1) or not (0).',
    ['job'],
    (m) => {
      for (const job of snapshots())
        if (job.leaseHeld !== null) m.set({ job: job.name }, job.leaseHeld ? 1 : 0);
    },
  );
}
