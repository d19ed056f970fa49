import type {
  AuthorizationOutcome,
  AuthorizationRequest,
} from '../../src/domains/cards/core/authorization/authorization-types.ts';
import { isMainstayError } from '../../src/errors/mainstay-error.ts';
import { quantile } from '../support/closed-loop.ts';
import type { Double11Workload } from './workload.ts';

/** What a stage drives: an authorizer, and the capture/reversal path (the same for both). */
export interface Double11Target {
  authorize(request: AuthorizationRequest): Promise<AuthorizationOutcome>;
  capture(id: string, key: string): Promise<unknown>;
  reverse(id: string, key: string): Promise<unknown>;
}

export interface StageResult {
  readonly concurrency: number;
  readonly seconds: number;
  readonly authorizations: number;
  readonly authorizationsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly captures: number;
  readonly reversals: number;
  readonly statuses: Readonly<Record<string, number>>;
  readonly decidedBy: Readonly<Record<string, number>>;
  /** Ops that threw, by error code (a capture racing a reversal of the same hold is expected). */
  readonly errors: Readonly<Record<string, number>>;
}

/**
 * A closed loop of `concurrency` authorization clients for `durationMs`, each sending its next
 * request when its last one returned, beside a smaller set of clients (`moveShare` of them, as
 * a merchant's settlement system would be) that capture or reverse approved holds. Latency is
 * kept for authorizations (the figure compared); captures and reversals load the same accounts.
 */
export async function runMixedStage(
  target: Double11Target,
  workload: Double11Workload,
  concurrency: number,
  durationMs: number,
  moveShare: number,
): Promise<StageResult> {
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const decidedBy: Record<string, number> = {};
  const errors: Record<string, number> = {};
  let captures = 0;
  let reversals = 0;
  const started = performance.now();
  const deadline = started + durationMs;
  const failed = (error: unknown) => {
    const code = isMainstayError(error) ? error.code : 'other';
    errors[code] = (errors[code] ?? 0) + 1;
  };
  const authorizer = async () => {
    while (performance.now() < deadline) {
      try {
        const begun = performance.now();
        const outcome = await target.authorize(workload.nextRequest());
        latencies.push(performance.now() - begun);
        statuses[outcome.status] = (statuses[outcome.status] ?? 0) + 1;
        decidedBy[outcome.decidedBy] = (decidedBy[outcome.decidedBy] ?? 0) + 1;
        if (outcome.status === 'approved' && outcome.decidedBy === 'issuer') {
          workload.approved(outcome.id);
        }
      } catch (error) {
        failed(error);
      }
    }
  };
  const mover = async () => {
    while (performance.now() < deadline) {
      const open = workload.takeOpen();
      if (!open) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        continue;
      }
      try {
        if (workload.nextKind() === 'reversal') {
          await target.reverse(open, workload.nextKey());
          reversals += 1;
        } else {
          await target.capture(open, workload.nextKey());
          captures += 1;
        }
      } catch (error) {
        failed(error);
      }
    }
  };
  const moverCount = Math.max(1, Math.round(concurrency * moveShare));
  await Promise.all([
    ...Array.from({ length: concurrency }, authorizer),
    ...Array.from({ length: moverCount }, mover),
  ]);
  const seconds = (performance.now() - started) / 1_000;
  latencies.sort((a, b) => a - b);
  return {
    concurrency,
    seconds,
    authorizations: latencies.length,
    authorizationsPerSecond: latencies.length / seconds,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    captures,
    reversals,
    statuses,
    decidedBy,
    errors,
  };
}
