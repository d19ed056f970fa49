import type { AuthorizationRequest } from '../../src/domains/cards/core/authorization/authorization-types.ts';
import { ZipfSampler } from '../support/zipf.ts';

/** The Double-11 profile's knobs. */
export const PROFILE = {
  /** Card popularity exponent (1.0: the top card draws about 1/ln(n) of all requests). */
  zipfS: 1.0,
  /** Share of authorizations at the one hot merchant (a flagship store's midnight sale). */
  hotMerchantShare: 0.3,
  /** Settlement clients per authorization client (they capture or reverse approved holds). */
  moveClientShare: 0.125,
  /** Of the holds moved, the share reversed (the rest are captured). */
  reversalShare: 0.3,
  /** Amounts drawn between these (minor units: 1.00 to 500.00 CNY). */
  amountMin: 100,
  amountMax: 50_000,
} as const;

export type OpKind = 'authorize' | 'capture' | 'reversal';

/** Approved authorizations waiting for their capture or reversal, bounded (a random one replaced). */
const OPEN_KEPT_MAX = 20_000;

/**
 * Generates the Double-11 stream: which op comes next, and the authorization requests (a Zipf-
 * popular card, a hot merchant share, amounts spread over a range), with run-unique request ids.
 * Captures and reversals pick an approved authorization that is still open.
 */
export class Double11Workload {
  readonly #cards: readonly string[];
  readonly #zipf: ZipfSampler;
  readonly #runId: string;
  readonly #open: string[] = [];
  #sequence = 0;

  constructor(cardIds: readonly string[], runId: string, seed = 11) {
    this.#cards = cardIds;
    this.#zipf = new ZipfSampler(cardIds.length, PROFILE.zipfS, seed);
    this.#runId = runId;
  }

  /** The share of requests the most popular card gets. */
  get topCardShare(): number {
    return this.#zipf.share(0);
  }

  /** Whether the next hold move is a capture or a reversal. */
  nextKind(): Exclude<OpKind, 'authorize'> {
    return this.#zipf.uniform() < PROFILE.reversalShare ? 'reversal' : 'capture';
  }

  nextRequest(): AuthorizationRequest {
    this.#sequence += 1;
    const n = this.#sequence;
    const hot = this.#zipf.uniform() < PROFILE.hotMerchantShare;
    const span = PROFILE.amountMax - PROFILE.amountMin;
    return {
      requestId: `${this.#runId}-${n}`,
      cardId: this.#cards[this.#zipf.next()] as string,
      amount: BigInt(PROFILE.amountMin + Math.floor(this.#zipf.uniform() * span)),
      currency: 'CNY',
      merchantId: hot ? 'mer_tmall_flagship' : `mer_${n % 997}`,
      merchantCategory: hot ? '5311' : n % 3 === 0 ? '5812' : '5411',
      merchantReference: null,
    };
  }

  /** Remembers an approved authorization for a later capture or reversal (bounded pool). */
  approved(id: string): void {
    if (this.#open.length < OPEN_KEPT_MAX) this.#open.push(id);
    else this.#open[Math.floor(this.#zipf.uniform() * OPEN_KEPT_MAX)] = id;
  }

  /** An open authorization to capture or reverse, taken out of the pool (O(1): swap-remove). */
  takeOpen(): string | undefined {
    if (this.#open.length === 0) return undefined;
    const index = Math.floor(this.#zipf.uniform() * this.#open.length);
    const id = this.#open[index];
    const last = this.#open.pop() as string;
    if (index < this.#open.length) this.#open[index] = last;
    return id;
  }

  get runId(): string {
    return this.#runId;
  }

  nextKey(): string {
    this.#sequence += 1;
    return `${this.#runId}-k${this.#sequence}`;
  }
}
