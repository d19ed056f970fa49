/**
 * The outside parties customers' KYC talks to, as ports: a text message gateway for one-time
 * codes and a bank's four-element check of a card (name, identity number, phone, card number).
 * A deployment passes real ones; development and tests use the ones here and in
 * `store/outbox-store.ts` (messages written to the `identity_outbox` table).
 */
import { luhnValid } from './customer-input.ts';

/** Sends a text message to a phone (E.164). Rejects when the gateway refuses it. */
export interface MessageProvider {
  send(phone: string, text: string): Promise<void>;
}

/** The four elements a bank checks a card against, as the customer's verified record has them. */
export interface CardElements {
  readonly name: string;
  readonly idNumber: string;
  readonly phone: string;
  readonly cardNumber: string;
}

/** A bank's answer: whether the card belongs to the person the other three elements name. */
export interface CardCheckVerdict {
  readonly confirmed: boolean;
}

export interface CardCheckProvider {
  check(elements: CardElements): Promise<CardCheckVerdict>;
}

/** The verified name and identity number of the customer with a phone, or `null`. */
export type VerifiedElementsOf = (
  phone: string,
) => Promise<{ readonly name: string; readonly idNumber: string } | null>;

/**
 * A development bank: it confirms a card whose Luhn digit is valid when the name and identity
 * number match what the customer with that phone verified. A real bank answers from its own
 * records; this one's records are the platform's verified customers.
 */
export class DevelopmentCardCheck implements CardCheckProvider {
  readonly #verified: VerifiedElementsOf;

  constructor(verified: VerifiedElementsOf) {
    this.#verified = verified;
  }

  async check(elements: CardElements): Promise<CardCheckVerdict> {
    if (!/^[0-9]{12,19}$/.test(elements.cardNumber) || !luhnValid(elements.cardNumber))
      return { confirmed: false };
    const holder = await this.#verified(elements.phone);
    const confirmed =
      holder !== null && holder.name === elements.name && holder.idNumber === elements.idNumber;
    return { confirmed };
  }
}
