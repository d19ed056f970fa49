import { checkIntegerOption } from '../../../../errors/integer-options.ts';
/** One stand-in approval counted against a card's window limits. */
export interface CountedApproval {
  /** The advice id (`<cardId>:<requestId>`), so a reservation can be taken back. */
  readonly adviceId: string;
  readonly atMs: number;
  readonly amount: bigint;
  readonly category: string;
}

/** A card's stand-in approvals inside the window, overall and for one merchant category. */
export interface WindowUsage {
  readonly cardCount: number;
  readonly cardAmount: bigint;
  readonly categoryCount: number;
  readonly categoryAmount: bigint;
}

/** Cards whose stand-in approvals are tracked by default. */
export const CARDS_TRACKED_MAX_DEFAULT = 100_000;

/**
 * Sliding-window counters of stand-in approvals per card (and, within a card, per merchant
 * category). Only approvals count: a decline promises nothing. Bounded twice: at most
 * `cardsTrackedMax` cards, and per card at most as many approvals as the count limit lets
 * through. When every tracked card still has approvals inside the window, a new card cannot be
 * tracked and `reserve` says so: stand-in must then refuse rather than approve blind.
 *
 * Cards are kept in the order of their latest approval (a touched card moves to the end), so
 * the first card is the stalest and pruning stops at the first card still inside the window.
 */
export class StandInUsage {
  readonly #cards = new Map<string, CountedApproval[]>();
  readonly #cardsTrackedMax: number;
  readonly #windowMs: number;

  constructor(options: { windowMs: number; cardsTrackedMax?: number }) {
    this.#windowMs = options.windowMs;
    this.#cardsTrackedMax = options.cardsTrackedMax ?? CARDS_TRACKED_MAX_DEFAULT;
    checkIntegerOption('stand-in cardsTrackedMax', this.#cardsTrackedMax, 1);
  }

  /** Cards tracked now. */
  get cardCount(): number {
    return this.#cards.size;
  }

  /** What `cardId` has used inside the window ending at `nowMs`. */
  usage(cardId: string, category: string, nowMs: number): WindowUsage {
    const approvals = this.#live(cardId, nowMs);
    let cardAmount = 0n;
    let categoryCount = 0;
    let categoryAmount = 0n;
    for (const approval of approvals) {
      cardAmount += approval.amount;
      if (approval.category === category) {
        categoryCount += 1;
        categoryAmount += approval.amount;
      }
    }
    return { cardCount: approvals.length, cardAmount, categoryCount, categoryAmount };
  }

  /**
   * Counts an approval. Returns `false` (and counts nothing) when the card is not tracked yet
   * and no tracked card can be dropped. Call it in the same synchronous step as the `usage`
   * check it follows, so two concurrent requests cannot both pass the limit.
   */
  reserve(cardId: string, approval: CountedApproval): boolean {
    const approvals = this.#cards.get(cardId);
    if (approvals) {
      this.#cards.delete(cardId);
      this.#cards.set(cardId, [...approvals, approval]);
      return true;
    }
    this.#prune(approval.atMs);
    if (this.#cards.size >= this.#cardsTrackedMax) return false;
    this.#cards.set(cardId, [approval]);
    return true;
  }

  /**
   * Takes back one reservation (the advice was a duplicate, or could not be recorded): the
   * latest under `adviceId`, since two concurrent attempts of one request may both have
   * reserved before the spool told the second it was a duplicate.
   */
  release(cardId: string, adviceId: string): void {
    const approvals = this.#cards.get(cardId);
    if (!approvals) return;
    const index = approvals.findLastIndex((approval) => approval.adviceId === adviceId);
    if (index < 0) return;
    const rest = approvals.toSpliced(index, 1);
    if (rest.length === 0) this.#cards.delete(cardId);
    else this.#cards.set(cardId, rest);
  }

  #live(cardId: string, nowMs: number): readonly CountedApproval[] {
    const approvals = this.#cards.get(cardId);
    if (!approvals) return [];
    const since = nowMs - this.#windowMs;
    const live = approvals.filter((approval) => approval.atMs > since);
    if (live.length !== approvals.length) {
      if (live.length === 0) this.#cards.delete(cardId);
      else this.#cards.set(cardId, live);
    }
    return live;
  }

  #prune(nowMs: number): void {
    const since = nowMs - this.#windowMs;
    for (const [cardId, approvals] of this.#cards) {
      const latest = approvals.at(-1);
      if (latest && latest.atMs > since) return;
      this.#cards.delete(cardId);
    }
  }
}
