import { isMainstayError } from '../../src/errors/mainstay-error.ts';
import { quantile } from '../support/closed-loop.ts';
import type { ProcessCpu } from '../support/process-cpu.ts';
import {
  type CpuSplit,
  cpuSplit,
  machineCoresBusy,
  sampleMachineCpu,
  sampleProcessTreeCpu,
} from '../support/process-tree-cpu.ts';

/** One op of a stage: a transfer (or a pending + post pair), answered with its final status. */
export type StageOp = (client: number) => Promise<string>;

export interface StageResult {
  readonly concurrency: number;
  readonly seconds: number;
  /** Ops answered (whatever their status). */
  readonly ops: number;
  readonly opsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Answered ops by status (`posted` for an applied transfer or pair). */
  readonly statuses: Readonly<Record<string, number>>;
  /** Ops that threw, by error code. */
  readonly errors: Readonly<Record<string, number>>;
  /** CPU of this process and the fleet it started, per op; `null` without /proc or ops. */
  readonly cpu: CpuSplit | null;
  /**
   * Cores kept busy by processes outside this benchmark (other fleets and test runs sharing the
   * machine) during the stage; `null` without /proc.
   */
  readonly otherCores: number | null;
  /** The /proc samples it was computed from (for `cpuByRole`). */
  readonly cpuSamples: { readonly before: ProcessCpu; readonly after: ProcessCpu } | null;
}

/**
 * A closed loop of `concurrency` clients for `durationMs` (bounded by time, as Double-11's
 * stages are): each client starts its next op when its last one returned. Latency is kept for
 * every answered op. CPU is sampled from /proc for this process and its descendants (the
 * fleet's servers) before and after.
 */
export async function runStage(
  op: StageOp,
  concurrency: number,
  durationMs: number,
): Promise<StageResult> {
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const errors: Record<string, number> = {};
  const cpuBefore = sampleProcessTreeCpu();
  const machineBefore = sampleMachineCpu();
  const started = performance.now();
  const deadline = started + durationMs;
  const client = async (id: number) => {
    while (performance.now() < deadline) {
      const begun = performance.now();
      try {
        const status = await op(id);
        latencies.push(performance.now() - begun);
        statuses[status] = (statuses[status] ?? 0) + 1;
      } catch (error) {
        const code = isMainstayError(error)
          ? error.code
          : ((error as { code?: string }).code ?? 'other');
        errors[code] = (errors[code] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, id) => client(id)));
  const seconds = (performance.now() - started) / 1_000;
  const cpuAfter = sampleProcessTreeCpu();
  const machineAfter = sampleMachineCpu();
  const split =
    cpuBefore && cpuAfter ? cpuSplit(cpuBefore, cpuAfter, seconds, latencies.length) : null;
  const cpu = latencies.length > 0 ? split : null;
  latencies.sort((a, b) => a - b);
  return {
    concurrency,
    seconds,
    ops: latencies.length,
    opsPerSecond: latencies.length / seconds,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    statuses,
    errors,
    cpu,
    otherCores:
      split && machineBefore && machineAfter
        ? Math.max(0, machineCoresBusy(machineBefore, machineAfter, seconds) - split.coreShare)
        : null,
    cpuSamples: cpuBefore && cpuAfter ? { before: cpuBefore, after: cpuAfter } : null,
  };
}
