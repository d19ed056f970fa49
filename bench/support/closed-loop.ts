/** Latency and throughput of one closed-loop run: `concurrency` clients, `opCount` ops in all. */
export interface LoopResult {
  readonly opCount: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly opsPerSecond: number;
  /** CPU time (user + system) of this whole process per op, background work included. */
  readonly cpuUsPerOp: number;
}

/**
 * Runs `op` `opCount` times from `concurrency` clients that each start their next op as soon as
 * the last one returns (closed loop, as a service's request handlers do). `op` gets the client's
 * number and the op's sequence number. An op that throws fails the run: a benchmark whose ops
 * fail measures nothing.
 */
export async function runClosedLoop(
  opCount: number,
  concurrency: number,
  op: (client: number, n: number) => Promise<unknown>,
): Promise<LoopResult> {
  const latencies = new Float64Array(opCount);
  let next = 0;
  const client = async (id: number) => {
    for (let n = next++; n < opCount; n = next++) {
      const started = performance.now();
      await op(id, n);
      latencies[n] = performance.now() - started;
    }
  };
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  await Promise.all(Array.from({ length: concurrency }, (_, id) => client(id)));
  const cpu = process.cpuUsage(cpuBefore);
  const elapsedMs = performance.now() - started;
  latencies.sort();
  return {
    opCount,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    opsPerSecond: (opCount / elapsedMs) * 1_000,
    cpuUsPerOp: (cpu.user + cpu.system) / opCount,
  };
}

/** Nearest-rank quantile of ascending `sorted`. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] as number;
}

export function median(values: readonly number[]): number {
  return quantile(
    [...values].sort((a, b) => a - b),
    0.5,
  );
}
