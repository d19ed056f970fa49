/**
 * Cards on the ledger (decision 52): the ledger side of the cards' ports, wired by the entry
 * point, the one place that knows both vocabularies. Cards hand over events; this turns each
 * into a chain of ledger requests with ids derived from (authorization, generation).
 */
import { createHash } from 'node:crypto';
import type {
  CardLedgerEvent,
  CardPostingResult,
  CardPostingSink,
  CardReceivable,
  CardReceivableReader,
} from '../domains/cards/core/ledger/card-ledger-port.ts';
import type { DerivedAccounts } from '../domains/ledger/core/derived-accounts.ts';
import type { LedgerAccountService } from '../domains/ledger/core/ledger-account-service.ts';
import type { LedgerEngine } from '../domains/ledger/core/ledger-engine.ts';
import { LEDGER_TIMEOUT_SECONDS_MAX } from '../domains/ledger/core/ledger-request-validation.ts';
import { isApplied, type LedgerRequest } from '../domains/ledger/core/ledger-types.ts';

/**
 * The ledger timeout of a card hold's reservation: the longest there is. The hold's lifetime is
 * the cards' rule (the hold sweeper); its lapse reaches the ledger as an event like any other,
 * so the ledger must never expire the reservation first.
 */
export const CARD_HOLD_TIMEOUT_SECONDS = LEDGER_TIMEOUT_SECONDS_MAX;

/** The ledger accounts one event posts between. */
export interface CardEventAccounts {
  /** The card account's receivable (an asset: what the cardholder owes). */
  readonly receivable: string;
  /** A stripe, on the receivable's shard, of the merchant's settlement account. */
  readonly merchant: string;
}

/** The id of the pending transfer that mirrors an authorization's hold after `generation`. */
export function cardHoldIdOf(authorizationId: string, generation: number): string {
  return `card:${authorizationId}:${generation}:hold`;
}

/**
 * The ledger requests of one card event, as one linked chain (empty when it moves nothing):
 * the hold of the generation before is posted in the part captured (the rest released) or
 * voided; a capture without a hold is a plain transfer; what is still held is reserved again
 * as this generation's pending transfer. Every id derives from the event, so a repeat is
 * answered from the first outcome and posts nothing twice.
 */
export function ledgerRequestsOf(event: CardLedgerEvent, accounts: CardEventAccounts) {
  const base = `card:${event.authorizationId}:${event.generation}`;
  const move = { debitAccountId: accounts.receivable, creditAccountId: accounts.merchant };
  const requests: LedgerRequest[] = [];
  if (event.heldBefore > 0n) {
    const pendingId = cardHoldIdOf(event.authorizationId, event.generation - 1);
    requests.push(
      event.captured > 0n
        ? { kind: 'post', id: `${base}:capture`, pendingId, amount: event.captured }
        : { kind: 'void', id: `${base}:release`, pendingId },
    );
  } else if (event.captured > 0n) {
    const id = `${base}:capture`;
    requests.push({
      kind: 'transfer',
      id,
      ...move,
      amount: event.captured,
      currency: event.currency,
    });
  }
  if (event.heldAfter > 0n) {
    const id = cardHoldIdOf(event.authorizationId, event.generation);
    requests.push({
      kind: 'pending',
      id,
      ...move,
      amount: event.heldAfter,
      currency: event.currency,
      timeoutSeconds: CARD_HOLD_TIMEOUT_SECONDS,
    });
  }
  return requests.map((request, index) =>
    index < requests.length - 1 ? { ...request, linked: true } : request,
  );
}

/** The settlement account code of a merchant: its id when it fits a code, else a digest. */
export function merchantSettlementCodeOf(merchantId: string): string {
  const prefix = 'card-merchant:';
  if (/^[a-z0-9][a-z0-9_.:-]{0,113}$/.test(merchantId)) return `${prefix}${merchantId}`;
  return `${prefix}sha256-${createHash('sha256').update(merchantId).digest('hex').slice(0, 40)}`;
}

/**
 * Posts card events through the ledger engine and reads card receivables, for the cards'
 * drain job and end-of-day check. Each card account has a receivable of its own, computed from
 * its id and opened on its shard on first use; each merchant a settlement account striped on
 * every shard, opened on first use; an event posts between the receivable and the merchant's
 * stripe on the same shard, so every chain is one shard's transaction.
 */
export class LedgerCardPostings implements CardPostingSink, CardReceivableReader {
  readonly #engine: LedgerEngine;
  readonly #accounts: LedgerAccountService;
  readonly #derived: DerivedAccounts;
  readonly #merchants = new Set<string>();

  constructor(engine: LedgerEngine, accounts: LedgerAccountService, derived: DerivedAccounts) {
    this.#engine = engine;
    this.#accounts = accounts;
    this.#derived = derived;
  }

  /**
   * Posts `events`, one engine call per receivable shard; one result per event, in order. An
   * event whose accounts cannot be opened, or whose shard's call fails, is answered refused with
   * the reason (its drain tries it again later); the others are posted.
   */
  async post(events: readonly CardLedgerEvent[]): Promise<CardPostingResult[]> {
    const results: CardPostingResult[] = events.map(() => ({ posted: true }));
    const byShard = new Map<number, Chain[]>();
    for (const [index, event] of events.entries()) {
      try {
        const accounts = await this.accountsOf(event);
        const requests = ledgerRequestsOf(event, accounts);
        if (requests.length === 0) continue;
        const shardId = this.#derived.shardOf(accounts.receivable);
        const chain = { index, key: accounts.receivable, requests };
        byShard.set(shardId, [...(byShard.get(shardId) ?? []), chain]);
      } catch (error) {
        results[index] = { posted: false, reason: messageOf(error) };
      }
    }
    for (const chains of byShard.values()) {
      for (const [index, result] of await this.#submitShard(chains)) results[index] = result;
    }
    return results;
  }

  /** One engine call for `chains` (all on one shard): each chain's result by event index. */
  async #submitShard(chains: readonly Chain[]): Promise<Map<number, CardPostingResult>> {
    const answered = new Map<number, CardPostingResult>();
    try {
      // Any account of the shard names it for the engine: the first chain's receivable.
      const outcomes = await this.#engine.submit(
        chains.flatMap((chain) => chain.requests),
        chains[0]?.key,
      );
      let at = 0;
      for (const chain of chains) {
        const mine = outcomes.slice(at, at + chain.requests.length);
        at += chain.requests.length;
        const refused = mine.find((outcome) => !isApplied(outcome.status));
        answered.set(
          chain.index,
          refused === undefined
            ? { posted: true }
            : { posted: false, reason: `${refused.id}: ${refused.status}` },
        );
      }
    } catch (error) {
      // Some chains may have been applied: their retry is answered from the first outcome.
      for (const chain of chains)
        answered.set(chain.index, { posted: false, reason: messageOf(error) });
    }
    return answered;
  }

  /** The receivable and the merchant stripe of `event`, opened if they are not yet. */
  async accountsOf(event: CardLedgerEvent): Promise<CardEventAccounts> {
    const receivable = await this.#derived.open(
      this.#receivableKey(event.cardAccountId, event.currency),
    );
    const code = merchantSettlementCodeOf(event.merchantId);
    const opened = `${code} ${event.currency}`;
    if (!this.#merchants.has(opened)) {
      await this.#accounts.openInstitutionAccount({
        code,
        kind: 'settlement',
        currency: event.currency,
        counterparty: event.merchantId,
      });
      this.#merchants.add(opened);
    }
    const merchant = await this.#accounts.stripeNear(
      code,
      event.currency,
      receivable,
      spreadOf(event.authorizationId),
    );
    return { receivable, merchant };
  }

  /** Each card account's receivable: reserved (debits less credits pending) and posted. */
  async receivables(
    accounts: readonly { readonly id: string; readonly currency: string }[],
  ): Promise<Map<string, CardReceivable>> {
    const keys = accounts.map((account) => this.#receivableKey(account.id, account.currency));
    const totals = await this.#derived.totals(keys);
    const answer = new Map<string, CardReceivable>();
    for (const [key, total] of totals) {
      answer.set(key.ownerId, {
        pending: total.debitsPending - total.creditsPending,
        posted: total.debitsPosted - total.creditsPosted,
      });
    }
    return answer;
  }

  /** The ledger account id of a card account's receivable (open or not). */
  receivableIdOf(cardAccountId: string, currency: string): string {
    return this.#derived.idOf(this.#receivableKey(cardAccountId, currency));
  }

  #receivableKey(cardAccountId: string, currency: string) {
    return { kind: 'card_receivable', ownerId: cardAccountId, currency } as const;
  }
}

/** One event's chain of ledger requests, and the account that names its shard. */
type Chain = { readonly index: number; readonly key: string; readonly requests: LedgerRequest[] };

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A small stable number from an id (FNV-1a), to spread events over the merchant's stripes. */
function spreadOf(id: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < id.length; index += 1) {
    hash ^= id.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}
