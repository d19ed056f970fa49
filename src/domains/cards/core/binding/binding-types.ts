import type { Page } from '../../../../data/write-contract.ts';
/**
 * The vocabulary of card binding: payment users, their bound cards, and what a binding write
 * returns. Shared by the service, the HTTP routes (whose schemas are checked against these
 * types) and the demo data.
 */
import type { CardBrand } from '../card-number.ts';

/** Id prefixes: users get a fresh bucket; cards, and vault tokens, take their user's. */
export const USER_ID_PREFIX = 'usr';
export const BOUND_CARD_ID_PREFIX = 'bcard';

/** A bound card is `active` until unbound; an unbound card stays, for audit, and is not listed. */
export const BOUND_CARD_STATUSES = ['active', 'unbound'] as const;
export type BoundCardStatus = (typeof BOUND_CARD_STATUSES)[number];

/** Active bound cards a user may hold at once. */
export const BOUND_CARDS_PER_USER_MAX = 20;

/** A list page holds 1 to 100 cards, 20 unless asked. */
export const CARD_PAGE_SIZE_MAX = 100;
export const CARD_PAGE_SIZE_DEFAULT = 20;

/** Bounds of the user's text fields (the schema and the table say the same). */
export const FULL_NAME_LENGTH_MAX = 200;
export const EMAIL_LENGTH_MAX = 254;
export const HOLDER_NAME_LENGTH_MAX = 100;

/** How far ahead an expiry may be: issuers print at most about 10 years; 20 leaves slack. */
export const EXPIRY_YEARS_AHEAD_MAX = 20;

/** A payment user: the owner of bound cards. */
export interface PaymentUser {
  readonly id: string;
  readonly fullName: string;
  readonly email: string | null;
  /** RFC 3339, UTC. */
  readonly createdAt: string;
}

/** A bound card as clients see it: never the number, only its brand and last four digits. */
export interface BoundCard {
  readonly id: string;
  readonly userId: string;
  readonly brand: CardBrand;
  readonly last4: string;
  readonly expiryMonth: number;
  readonly expiryYear: number;
  readonly isDefault: boolean;
  readonly status: BoundCardStatus;
  /** RFC 3339, UTC. */
  readonly createdAt: string;
}

/** What a client sends to create a user. */
export interface NewPaymentUser {
  readonly fullName: string;
  readonly email?: string;
}

/** What a client sends to bind a card. The number exists only in this object, in memory. */
export interface CardToBind {
  readonly cardNumber: string;
  readonly expiryMonth: number;
  readonly expiryYear: number;
  readonly holderName?: string;
}

/** A page of bound cards, newest first. */
export type BoundCardPage = Page<BoundCard>;

/** Where and how a list is read. */
export interface ListOptions {
  readonly limit?: number;
  /** A card id from an earlier page: the page starts after it. */
  readonly startingAfter?: string;
  readonly token?: string | null;
}
