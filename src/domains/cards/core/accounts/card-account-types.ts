import type { IssuedCardBrand as CardBrand } from '../card-number.ts';

/** An account's life: closed accounts decline every authorization (`account_closed`). */
export const CARD_ACCOUNT_STATUSES = ['open', 'closed'] as const;
export type CardAccountStatus = (typeof CARD_ACCOUNT_STATUSES)[number];

/**
 * What a card shows: `blocked` by the issuer or holder, `expired` once its expiry month has
 * passed (derived from the date, never stored), else `active`.
 */
export const CARD_STATUSES = ['active', 'blocked', 'expired'] as const;
export type CardStatus = (typeof CARD_STATUSES)[number];

/** Currencies an account may be held in (ISO 4217); others are `currency_unsupported`. */
export const CARD_CURRENCIES = ['CNY', 'USD', 'EUR', 'GBP', 'JPY', 'HKD', 'SGD'] as const;
export type CardCurrency = (typeof CARD_CURRENCIES)[number];

/** A credit account cards draw on. Amounts in minor units of `currency`. */
export interface CardAccount {
  /** `acct_…` */
  readonly id: string;
  readonly currency: string;
  readonly creditLimit: bigint;
  /** Open holds of approved authorizations. */
  readonly heldAmount: bigint;
  /** Captured (posted) amounts. */
  readonly postedAmount: bigint;
  /**
   * `creditLimit - heldAmount - postedAmount`; negative only after stand-in exposure or after
   * the limit was lowered below what the account uses (`setCreditLimit`).
   */
  readonly availableCredit: bigint;
  readonly status: CardAccountStatus;
  readonly createdAt: string;
}

/** A card, as stored: only its brand and last four digits, never the number. */
export interface Card {
  /** `card_…`, in its account's bucket. */
  readonly id: string;
  readonly accountId: string;
  readonly status: CardStatus;
  readonly brand: CardBrand;
  readonly last4: string;
  readonly expiryMonth: number;
  readonly expiryYear: number;
  /** Approved authorizations allowed per velocity window. */
  readonly velocityCountMax: number;
  readonly velocityWindowSeconds: number;
  readonly createdAt: string;
}

/** A card with what an authorization needs of its account (see `findCardStanding`). */
export interface CardStanding {
  readonly card: Card;
  /** The account's currency (ISO 4217). */
  readonly currency: string;
  readonly accountStatus: CardAccountStatus;
}
