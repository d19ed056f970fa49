import { checkIntegerOption } from '../../../../errors/integer-options.ts';
import { isMainstayError } from '../../../../errors/mainstay-error.ts';

/** Definite failures in a row of a shard's first advice before it is quarantined, by default. */
export const QUARANTINE_FAILURE_COUNT_DEFAULT = 5;

/**
 * Catalogue codes that say the issuer looked at the advice and refused it: sending it again
 * gets the same answer. Availability codes (`primary_unavailable`, `write_outcome_unknown`,
 * `overloaded`, ...) are not here: those advices wait for the issuer, however long.
 */
const REJECTION_CODES: ReadonlySet<string> = new Set([
  'invalid_request',
  'idempotency_key_reused',
  'invalid_amount',
  'currency_unsupported',
  'state_conflict',
  'resource_not_found',
]);

/** SQLSTATE classes of a refused statement: data exception, integrity violation, PL/pgSQL raise. */
const REJECTION_SQLSTATE_CLASSES = ['22', '23', 'P0'] as const;

/** Why the issuer refused an advice, as kept with its dead letter (never SQL text or hosts). */
export interface Rejection {
  readonly code: string;
  readonly message: string;
}

/**
 * The definite refusal in `error`, or `null` when the error says nothing about the advice
 * itself (the issuer path is down, slow or overloaded: never a reason to quarantine).
 */
export function rejectionOf(error: unknown): Rejection | null {
  if (isMainstayError(error)) {
    return REJECTION_CODES.has(error.code) ? { code: error.code, message: error.message } : null;
  }
  const sqlState = (error as { code?: unknown } | null)?.code;
  if (
    typeof sqlState === 'string' &&
    /^[0-9A-Z]{5}$/.test(sqlState) &&
    REJECTION_SQLSTATE_CLASSES.some((prefix) => sqlState.startsWith(prefix))
  ) {
    return {
      code: `sqlstate_${sqlState}`,
      message: `the database refused the advice (${sqlState})`,
    };
  }
  return null;
}

/** What the forwarder does after a failed pass. */
export type FailureVerdict =
  /** Send the advices of the failed batch one at a time, now, to find the one refused. */
  | { readonly action: 'isolate' }
  /** Wait for the next round (an availability problem, or a refusal not yet repeated enough). */
  | { readonly action: 'wait' }
  /** Move the shard's first advice out of the way. */
  | { readonly action: 'quarantine'; readonly rejection: Rejection; readonly failureCount: number };

/**
 * Decides when one advice that the issuer keeps refusing is moved out of its shard's way. A
 * batch refused as a whole is first split: its advices go one at a time, so the refusal lands
 * on the advice that causes it; a single advice refused `failureCountMax` times in a row (one
 * strike per forwarding round, so a passing fault has time to clear) is quarantined. Any
 * success clears the strikes; the split ends once the failed batch's advices have gone.
 */
export class QuarantineTracker {
  readonly #failureCountMax: number;
  /** Per shard: advices still to send one at a time. */
  readonly #isolating = new Map<number, number>();
  /** Per shard: the first advice's consecutive definite refusals. */
  readonly #strikes = new Map<number, { adviceId: string; count: number }>();

  constructor(failureCountMax: number = QUARANTINE_FAILURE_COUNT_DEFAULT) {
    checkIntegerOption('quarantine failureCountMax', failureCountMax, 1);
    this.#failureCountMax = failureCountMax;
  }

  /** Advices to send in the shard's next batch. */
  batchSize(shardId: number, batchSizeMax: number): number {
    return this.#isolating.has(shardId) ? 1 : batchSizeMax;
  }

  /** `count` advices of the shard went through. */
  succeeded(shardId: number, count: number): void {
    this.#strikes.delete(shardId);
    const left = (this.#isolating.get(shardId) ?? 0) - count;
    if (left > 0) this.#isolating.set(shardId, left);
    else this.#isolating.delete(shardId);
  }

  /** A batch of `sent` advices starting with `firstAdviceId` failed with `error`. */
  failed(shardId: number, firstAdviceId: string, sent: number, error: unknown): FailureVerdict {
    const rejection = rejectionOf(error);
    if (rejection === null) return { action: 'wait' };
    if (sent > 1) {
      this.#isolating.set(shardId, sent);
      return { action: 'isolate' };
    }
    const previous = this.#strikes.get(shardId);
    const count = previous?.adviceId === firstAdviceId ? previous.count + 1 : 1;
    this.#strikes.set(shardId, { adviceId: firstAdviceId, count });
    if (count < this.#failureCountMax) return { action: 'wait' };
    return { action: 'quarantine', rejection, failureCount: count };
  }

  /** The shard's first advice was quarantined: it counts as gone from the failed batch. */
  quarantined(shardId: number): void {
    this.succeeded(shardId, 1);
  }
}
