import type { BypassSpool } from '../../../../data/bypass/bypass-spool.ts';
import type { AdviceOutcome } from '../authorization/authorization-types.ts';
import { ADVICE_KIND, decodeAdvice, encodeAdvice, type StandInAdvice } from './stand-in-advice.ts';

/** Forwarded advices remembered in memory (for retries and the advice list), by default. */
export const FORWARDED_KEPT_MAX_DEFAULT = 10_000;

/**
 * An advice this process knows of: waiting in the spool, forwarded with its result, or
 * quarantined (moved to the issuer's dead letters because the issuer kept refusing it).
 */
export type KnownAdvice =
  | { readonly state: 'pending'; readonly advice: StandInAdvice }
  | { readonly state: 'forwarded'; readonly advice: StandInAdvice; readonly result: AdviceOutcome }
  | { readonly state: 'quarantined'; readonly advice: StandInAdvice };

/** What `record` did. `advice` is the first one recorded for the id, when still known here. */
export interface RecordResult {
  readonly duplicate: boolean;
  readonly known: KnownAdvice | undefined;
}

/** What one forwarding pass of a shard did. */
export interface ForwardPass {
  readonly forwarded: readonly { advice: StandInAdvice; result: AdviceOutcome }[];
  readonly remaining: number;
}

/** Marks the end of a forwarded batch inside a spool replay pass. */
const BATCH_END = new Error('end of the forwarded batch');

/**
 * The store-and-forward queue of stand-in advices, on the data layer's bypass spool: an advice
 * is appended (fsync'd) before its outcome is returned to the network, so no stand-in answer is
 * ever given that a crash could forget; the spool deduplicates by `<cardId>:<requestId>`, so a
 * retry gets the first decision. Forwarding is at-least-once from the spool and exactly-once
 * in effect because the issuer applies advices idempotently by card and request id.
 */
export class AdviceQueue {
  readonly spool: BypassSpool;
  readonly #pending = new Map<string, StandInAdvice>();
  /** Pending advice ids by the stand-in authorization id they answered with. */
  readonly #pendingByAuthorization = new Map<string, string>();
  readonly #forwarded = new Map<string, KnownAdvice & { state: 'forwarded' }>();
  readonly #quarantined = new Map<string, KnownAdvice & { state: 'quarantined' }>();
  readonly #forwardedKeptMax: number;

  constructor(spool: BypassSpool, options: { forwardedKeptMax?: number } = {}) {
    this.spool = spool;
    this.#forwardedKeptMax = options.forwardedKeptMax ?? FORWARDED_KEPT_MAX_DEFAULT;
    for (const entry of spool.pending()) {
      if (entry.kind === ADVICE_KIND) this.#addPending(decodeAdvice(entry));
    }
  }

  /** The advice recorded for `adviceId`, if this process knows it. */
  find(adviceId: string): KnownAdvice | undefined {
    const pending = this.#pending.get(adviceId);
    if (pending) return { state: 'pending', advice: pending };
    return this.#forwarded.get(adviceId) ?? this.#quarantined.get(adviceId);
  }

  /** The pending advice that answered with stand-in authorization `authorizationId`, if any. */
  pendingByAuthorizationId(authorizationId: string): StandInAdvice | undefined {
    const adviceId = this.#pendingByAuthorization.get(authorizationId);
    return adviceId === undefined ? undefined : this.#pending.get(adviceId);
  }

  /** Pending advices in append order, of one shard or all. */
  pending(shardId?: number): StandInAdvice[] {
    return this.spool
      .pending(shardId)
      .filter((entry) => entry.kind === ADVICE_KIND)
      .map((entry) => this.#pending.get(entry.id) ?? decodeAdvice(entry));
  }

  pendingCount(shardId?: number): number {
    return shardId === undefined ? this.#pending.size : this.spool.pending(shardId).length;
  }

  /** Forwarded advices this process still remembers, oldest first. */
  forwarded(): (KnownAdvice & { state: 'forwarded' })[] {
    return [...this.#forwarded.values()];
  }

  /**
   * Records an advice durably (resolves after the fsync). For an id already recorded nothing is
   * written and the first advice is returned when known (`known` is undefined only if it was
   * forwarded and then forgotten by this process: the issuer has it).
   */
  async record(advice: StandInAdvice): Promise<RecordResult> {
    const appended = await this.spool.append({
      id: advice.adviceId,
      shardId: advice.shardId,
      kind: ADVICE_KIND,
      payload: encodeAdvice(advice),
    });
    if (!appended.duplicate) {
      this.#addPending(advice);
      return { duplicate: false, known: { state: 'pending', advice } };
    }
    if (appended.entry) {
      return { duplicate: true, known: { state: 'pending', advice: decodeAdvice(appended.entry) } };
    }
    const known = this.#forwarded.get(advice.adviceId) ?? this.#quarantined.get(advice.adviceId);
    return { duplicate: true, known };
  }

  /**
   * Forwards up to `batchSizeMax` of a shard's oldest advices through `apply` (one issuer
   * transaction), then acknowledges exactly those in the spool, in append order. If `apply`
   * throws, nothing is acknowledged and the error propagates: the next pass sends the same
   * batch again, which the issuer's idempotency turns into no change.
   */
  async forward(
    shardId: number,
    batchSizeMax: number,
    apply: (advices: readonly StandInAdvice[]) => Promise<readonly AdviceOutcome[]>,
  ): Promise<ForwardPass> {
    const batch = this.pending(shardId).slice(0, batchSizeMax);
    if (batch.length === 0) return { forwarded: [], remaining: 0 };
    const results = new Map((await apply(batch)).map((r) => [r.authorizationId, r]));
    const missing = batch.find((advice) => !results.has(advice.outcome.id));
    if (missing) throw new Error(`the issuer did not answer advice ${missing.adviceId}`);
    const ids = new Set(batch.map((advice) => advice.adviceId));
    const { remaining } = await this.spool.replay(shardId, async (entry) => {
      if (!ids.has(entry.id)) throw BATCH_END;
    });
    const forwarded = batch.map((advice) => ({
      advice,
      result: results.get(advice.outcome.id) as AdviceOutcome,
    }));
    for (const item of forwarded) this.#remember(item.advice, item.result);
    return { forwarded, remaining };
  }

  /**
   * Acknowledges the shard's first pending advice, `advice`, without forwarding it: the caller
   * has kept it elsewhere (the issuer's dead letters) first. Throws if it is not the first.
   */
  async dropFirst(advice: StandInAdvice): Promise<void> {
    if (this.pending(advice.shardId)[0]?.adviceId !== advice.adviceId)
      throw new Error(`advice ${advice.adviceId} is not the first of shard ${advice.shardId}`);
    await this.spool.replay(advice.shardId, async (entry) => {
      if (entry.id !== advice.adviceId) throw BATCH_END;
    });
    this.#removePending(advice);
    this.#quarantined.set(advice.adviceId, { state: 'quarantined', advice });
    trim(this.#quarantined, this.#forwardedKeptMax);
  }

  #addPending(advice: StandInAdvice): void {
    this.#pending.set(advice.adviceId, advice);
    this.#pendingByAuthorization.set(advice.outcome.id, advice.adviceId);
  }

  #removePending(advice: StandInAdvice): void {
    this.#pending.delete(advice.adviceId);
    this.#pendingByAuthorization.delete(advice.outcome.id);
  }

  #remember(advice: StandInAdvice, result: AdviceOutcome): void {
    this.#removePending(advice);
    this.#forwarded.delete(advice.adviceId);
    this.#forwarded.set(advice.adviceId, { state: 'forwarded', advice, result });
    trim(this.#forwarded, this.#forwardedKeptMax);
  }
}

/** Drops the oldest entries of `map` beyond `sizeMax`. */
function trim(map: Map<string, unknown>, sizeMax: number): void {
  while (map.size > sizeMax) {
    const oldest = map.keys().next();
    if (oldest.done) break;
    map.delete(oldest.value);
  }
}
