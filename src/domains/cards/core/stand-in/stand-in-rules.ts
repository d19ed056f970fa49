import type {
  AuthorizationRequest,
  AuthorizationStatus,
} from '../authorization/authorization-types.ts';
import { isValidAmount } from '../authorization/request-validation.ts';
import { type CachedCard, cardExpiredAt } from './card-status-cache.ts';
import {
  checkStandInLimits,
  effectiveLimits,
  STAND_IN_LIMITS_DEFAULT,
  type StandInLimits,
} from './stand-in-limits.ts';
import { StandInUsage } from './stand-in-usage.ts';

/** The statuses stand-in can decide. */
export const STAND_IN_STATUSES = [
  'approved',
  'stand_in_limit_exceeded',
  'category_not_permitted',
  'card_blocked',
  'card_expired',
  'account_closed',
  'issuer_unavailable',
  'currency_mismatch',
  'invalid_amount',
] as const satisfies readonly AuthorizationStatus[];
export type StandInStatus = (typeof STAND_IN_STATUSES)[number];

/** A stand-in decision; an approval has been counted against the window limits already. */
export interface StandInDecision {
  readonly status: StandInStatus;
  /** Why, for logs and the advice list (no card number, ever). */
  readonly reason: string;
}

/**
 * The stand-in rule book: decides one request from the cached card and the window counters,
 * in a fixed order (cheapest and least card-dependent checks first): amount, blocked category,
 * card known, card state, expiry, currency, per-transaction maximum, card and category window
 * limits. The approval is counted in the same synchronous step as the limit check, so
 * concurrent requests on one card never pass a limit together.
 */
export class StandInRules {
  readonly limits: StandInLimits;
  readonly usage: StandInUsage;
  readonly #blocked: ReadonlySet<string>;

  constructor(
    limits: StandInLimits = STAND_IN_LIMITS_DEFAULT,
    options: { cardsTrackedMax?: number } = {},
  ) {
    this.limits = checkStandInLimits(limits);
    this.#blocked = new Set(limits.blockedCategories);
    this.usage = new StandInUsage({ windowMs: limits.windowMs, ...options });
  }

  /** Decides `request` in stand-in; `adviceId` names the approval's reservation. */
  decide(
    request: AuthorizationRequest,
    card: CachedCard | undefined,
    adviceId: string,
    nowMs: number,
  ): StandInDecision {
    if (!isValidAmount(request.amount)) {
      return { status: 'invalid_amount', reason: 'amount must be 1 to 2^53 - 1 minor units' };
    }
    if (this.#blocked.has(request.merchantCategory)) {
      return {
        status: 'category_not_permitted',
        reason: `category ${request.merchantCategory} is never approved in stand-in`,
      };
    }
    const known = this.#cardCheck(request, card, nowMs);
    if (known) return known;
    const limits = effectiveLimits(this.limits, request.currency, request.merchantCategory);
    if (request.amount > limits.perTransactionMax) {
      return {
        status: 'stand_in_limit_exceeded',
        reason: `amount over the stand-in per-transaction maximum ${limits.perTransactionMax}`,
      };
    }
    const used = this.usage.usage(request.cardId, request.merchantCategory, nowMs);
    const over =
      (used.cardCount + 1 > limits.cardCountMax && 'card count') ||
      (used.cardAmount + request.amount > limits.cardAmountMax && 'card amount') ||
      (used.categoryCount + 1 > limits.categoryCountMax && 'category count') ||
      (used.categoryAmount + request.amount > limits.categoryAmountMax && 'category amount');
    if (over) {
      return { status: 'stand_in_limit_exceeded', reason: `stand-in ${over} limit of the window` };
    }
    const counted = this.usage.reserve(request.cardId, {
      adviceId,
      atMs: nowMs,
      amount: request.amount,
      category: request.merchantCategory,
    });
    if (!counted) {
      return { status: 'issuer_unavailable', reason: 'no room to track another card in stand-in' };
    }
    return { status: 'approved', reason: 'within stand-in limits' };
  }

  #cardCheck(
    request: AuthorizationRequest,
    card: CachedCard | undefined,
    nowMs: number,
  ): StandInDecision | null {
    if (!card) return { status: 'issuer_unavailable', reason: 'card state unknown to stand-in' };
    if (card.state === 'blocked') return { status: 'card_blocked', reason: 'cached card blocked' };
    if (card.state === 'account_closed') {
      return { status: 'account_closed', reason: 'cached account closed' };
    }
    const expired = cardExpiredAt(card, nowMs);
    if (expired === null) {
      return { status: 'issuer_unavailable', reason: 'card expiry unknown to stand-in' };
    }
    if (expired) return { status: 'card_expired', reason: 'cached card expired' };
    if (card.currency === null) {
      return { status: 'issuer_unavailable', reason: 'account currency unknown to stand-in' };
    }
    if (card.currency !== request.currency) {
      return { status: 'currency_mismatch', reason: `the account is in ${card.currency}` };
    }
    return null;
  }
}
