import { checkIntegerOption } from '../../../../errors/integer-options.ts';
import type { AuthorizationOutcome } from '../authorization/authorization-types.ts';

/** What stand-in needs to know of a card's state. */
export const CACHED_CARD_STATES = ['active', 'blocked', 'expired', 'account_closed'] as const;
export type CachedCardState = (typeof CACHED_CARD_STATES)[number];

/**
 * A card as stand-in last saw it. Fields the source did not tell are `null`: an issuer outcome
 * says the card was usable but not its expiry date; a card read from a replica says all.
 */
export interface CachedCard {
  readonly cardId: string;
  readonly state: CachedCardState;
  readonly accountId: string | null;
  /** The account's currency (ISO 4217); `null` when not known yet. */
  readonly currency: string | null;
  /** Expiry month (1-12) and year; `null` when not known. */
  readonly expiry: { readonly month: number; readonly year: number } | null;
  /** When the source said so: a usable card seen by the issuer is valid to the month's end. */
  readonly observedAtMs: number;
}

/** Reads a card's state somewhere other than the shard's primary (a replica, at `any`). */
export interface CardStatusSource {
  /** The card, or `null` when the source does not hold it. Throws when it cannot be read. */
  readCard(cardId: string): Promise<CachedCard | null>;
}

/** Cards cached by default. */
export const CARD_CACHE_COUNT_MAX_DEFAULT = 100_000;

/**
 * The card states stand-in decides with: a bounded cache (least recently used out first) of
 * card id -> state, account, currency and expiry. It is filled from every issuer outcome (so
 * the cards in use are warm when the issuer fails) and from replica reads; replicas often
 * survive the primary, so stand-in refreshes a missing or stale card there.
 */
export class CardStatusCache {
  readonly #cards = new Map<string, CachedCard>();
  readonly #countMax: number;

  constructor(options: { countMax?: number } = {}) {
    this.#countMax = options.countMax ?? CARD_CACHE_COUNT_MAX_DEFAULT;
    checkIntegerOption('card cache countMax', this.#countMax, 1);
  }

  get size(): number {
    return this.#cards.size;
  }

  get(cardId: string): CachedCard | undefined {
    const card = this.#cards.get(cardId);
    if (card) {
      this.#cards.delete(cardId);
      this.#cards.set(cardId, card);
    }
    return card;
  }

  /** Stores what a complete source (a card row) said. */
  put(card: CachedCard): void {
    this.#cards.delete(card.cardId);
    this.#cards.set(card.cardId, card);
    while (this.#cards.size > this.#countMax) {
      const oldest = this.#cards.keys().next();
      if (oldest.done) break;
      this.#cards.delete(oldest.value);
    }
  }

  forget(cardId: string): void {
    this.#cards.delete(cardId);
  }

  /**
   * Learns from an issuer outcome. An approval proves the card active, its account and its
   * currency; a decline for a blocked or expired card or a closed account says so; an unknown
   * card is forgotten. Other declines say the card was usable and keep what was known.
   */
  learn(outcome: AuthorizationOutcome, nowMs: number): void {
    if (outcome.decidedBy !== 'issuer' || outcome.status === 'invalid_amount') return;
    if (outcome.status === 'unknown_card') {
      this.forget(outcome.cardId);
      return;
    }
    const known = this.#cards.get(outcome.cardId);
    const state = stateOf(outcome.status);
    let currency = known?.currency ?? null;
    if (outcome.status === 'approved') currency = outcome.currency;
    else if (outcome.status === 'currency_mismatch' && currency === outcome.currency) {
      currency = null;
    }
    this.put({
      cardId: outcome.cardId,
      state,
      accountId: outcome.accountId ?? known?.accountId ?? null,
      currency,
      expiry: known?.expiry ?? null,
      observedAtMs: nowMs,
    });
  }

  /**
   * The card's state: from the cache while fresh and complete, else re-read from `source` (a
   * replica) within `cardReadTimeoutMs`; on a failed or slow read, what the cache has.
   */
  async fresh(
    source: CardStatusSource,
    options: { readonly cardRefreshAgeMs: number; readonly cardReadTimeoutMs: number },
    cardId: string,
  ): Promise<CachedCard | undefined> {
    const cached = this.get(cardId);
    const age = cached ? Date.now() - cached.observedAtMs : Number.POSITIVE_INFINITY;
    const complete = cached?.currency != null && cached.expiry !== null;
    if (cached && complete && age < options.cardRefreshAgeMs) return cached;
    let timer: NodeJS.Timeout | undefined;
    try {
      const read = await Promise.race([
        source.readCard(cardId),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error('card read timed out')),
            options.cardReadTimeoutMs,
          );
        }),
      ]);
      if (read) this.put(read);
      return read ?? cached;
    } catch {
      return cached;
    } finally {
      clearTimeout(timer);
    }
  }
}

function stateOf(status: AuthorizationOutcome['status']): CachedCardState {
  if (status === 'card_blocked') return 'blocked';
  if (status === 'card_expired') return 'expired';
  if (status === 'account_closed') return 'account_closed';
  return 'active';
}

/**
 * Whether the card is expired at `nowMs`. A card is valid to the end of its expiry month
 * (UTC). With no expiry known, a card the issuer saw usable this month is still valid, so
 * the answer is `false`; for one seen in an earlier month the answer is `null` (not known):
 * stand-in then cannot decide and answers `issuer_unavailable`.
 */
export function cardExpiredAt(card: CachedCard, nowMs: number): boolean | null {
  if (card.state === 'expired') return true;
  const now = new Date(nowMs);
  if (card.expiry) {
    const { month, year } = card.expiry;
    return now.getUTCFullYear() * 12 + now.getUTCMonth() > year * 12 + (month - 1);
  }
  const seen = new Date(card.observedAtMs);
  const sameMonth =
    seen.getUTCFullYear() === now.getUTCFullYear() && seen.getUTCMonth() === now.getUTCMonth();
  return sameMonth ? false : null;
}
