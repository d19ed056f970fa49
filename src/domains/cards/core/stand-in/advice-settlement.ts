import { MainstayError } from '../../../../errors/mainstay-error.ts';
import { JobRunner } from '../../../../jobs/job-runner.ts';
import type { StandInRegistry } from '../../store/stand-in-registry.ts';
import type { AdviceQueue } from './advice-queue.ts';
import type { IssuerCircuit } from './issuer-circuit.ts';
import type { IssuerPath } from './issuer-path.ts';
import { type StandInAdvice, toAuthorizationAdvice } from './stand-in-advice.ts';
import type { StandInCounters } from './stand-in-stats.ts';

/** How often decisions left unapplied by any process (one that stopped or died) are applied. */
const ORPHAN_SWEEP_INTERVAL_MS = 5_000;
/** A sweep applies at most a few hundred decisions; one slower than this is counted timed out. */
const ORPHAN_SWEEP_TIMEOUT_MS = 60_000;
/**
 * A decision unapplied for this long is applied by whichever process sweeps first: long past
 * the few seconds in which its own process forwards it once the shard is back.
 */
const ORPHAN_AGE_MS_MIN = 60_000;
/** Decisions applied per sweep. */
const ORPHAN_SWEEP_COUNT_MAX = 512;
/** Applied decisions are kept on the witness this long (their answers live on the issuer). */
const APPLIED_KEPT_MS = 24 * 60 * 60 * 1_000;

/** What settlement works with: the processor's own parts. */
export interface SettlementParts {
  readonly registry: StandInRegistry;
  readonly issuer: IssuerPath;
  readonly queue: AdviceQueue;
  readonly circuit: IssuerCircuit;
  readonly counters: StandInCounters;
  /** Forwards a shard's pending advices now (the forwarder's drain). */
  readonly drain: (shardId: number) => Promise<unknown>;
}

/**
 * The registry's side of forwarding (decision 37): marks advices applied once the issuer has
 * them, with their accounts' overshoot, and sweeps up decisions another process left unapplied.
 */
export class AdviceSettlement {
  readonly #parts: SettlementParts;
  /** The orphan sweep's loop, for metrics. */
  readonly jobs = new JobRunner();

  constructor(parts: SettlementParts) {
    this.#parts = parts;
    this.jobs.add({
      name: 'stand-in-orphan-sweep',
      intervalMs: ORPHAN_SWEEP_INTERVAL_MS,
      runTimeoutMs: ORPHAN_SWEEP_TIMEOUT_MS,
      run: () => this.sweepOrphans(),
    });
  }

  /** Starts the orphan sweep. */
  start(): void {
    this.jobs.start();
  }

  /** Stops the sweep, waiting for one in flight. */
  stop(): Promise<void> {
    return this.jobs.stop();
  }

  /**
   * Tells the registry that advices are on the issuer's books, with the overshoot of their
   * accounts measured after the application. A failure is left to the orphan sweep, which
   * applies such decisions again (a duplicate then) and marks them.
   */
  async markApplied(shardId: number, advices: readonly StandInAdvice[]): Promise<void> {
    if (advices.length === 0) return;
    const { issuer, registry, counters } = this.#parts;
    try {
      const accounts = [
        ...new Set(advices.flatMap((a) => (a.outcome.accountId ? [a.outcome.accountId] : []))),
      ];
      const measured =
        accounts.length > 0
          ? await issuer.overshoots(shardId, accounts)
          : { overshoots: new Map<string, bigint>(), measuredAt: new Date() };
      await registry.markApplied(
        advices.map((a) => a.outcome.id),
        measured.overshoots,
        measured.measuredAt,
      );
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      counters.lastForwardError = { shardId, message, at: new Date().toISOString() };
    }
  }

  /**
   * Puts the stand-in decision under `authorizationId` on the issuer's books now if it is not
   * there yet: from this process's spool (forwarding its shard), else from the shared record.
   * Application is idempotent, so a decision another process forwards at the same time is
   * applied once. Throws when the issuer cannot take it.
   */
  async settle(authorizationId: string): Promise<void> {
    const { queue, registry, issuer, drain } = this.#parts;
    const own = queue.pendingByAuthorizationId(authorizationId);
    if (own) {
      await drain(own.shardId);
      if (queue.pendingByAuthorizationId(authorizationId)) {
        throw new MainstayError(
          'state_conflict',
          `authorization ${authorizationId} was decided in stand-in and its advice could not ` +
            'be put on the issuer yet; retry',
        );
      }
      return;
    }
    const shared = await registry.findById(authorizationId).catch(() => undefined);
    if (!shared || shared.applied) return;
    const { advice } = shared;
    await issuer.applyAdvices(advice.shardId, [toAuthorizationAdvice(advice)]);
    await this.markApplied(advice.shardId, [advice]);
  }

  /**
   * Applies decisions that sat unapplied on the witness (their process stopped or died before
   * forwarding them), shard by shard, skipping shards whose circuit is open; prunes old applied
   * ones. Any process may apply any decision: application is idempotent.
   */
  async sweepOrphans(): Promise<void> {
    const { issuer, registry, queue, circuit } = this.#parts;
    try {
      const orphans = await registry.unapplied(ORPHAN_AGE_MS_MIN, ORPHAN_SWEEP_COUNT_MAX);
      const byShard = new Map<number, StandInAdvice[]>();
      for (const advice of orphans) {
        if (queue.find(advice.adviceId)) continue; // this process's own: its forwarder's
        const list = byShard.get(advice.shardId) ?? [];
        list.push(advice);
        byShard.set(advice.shardId, list);
      }
      for (const [shardId, advices] of byShard) {
        if (circuit.state(shardId) === 'open') continue;
        await issuer.applyAdvices(shardId, advices.map(toAuthorizationAdvice));
        await this.markApplied(shardId, advices);
      }
      await registry.prune(APPLIED_KEPT_MS, ORPHAN_SWEEP_COUNT_MAX);
    } catch {
      // The witness or a shard is away: the next sweep tries again.
    }
  }
}
