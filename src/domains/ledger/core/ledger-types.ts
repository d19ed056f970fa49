/**
 * The ledger's vocabulary (decision 49): requests, their outcomes, accounts and balances. Money
 * is an integer count of the currency's minor unit, a `bigint` in TypeScript and a decimal
 * string on the wire.
 */

/** What a request asks: post at once, reserve, or settle a reservation. */
export const LEDGER_REQUEST_KINDS = ['transfer', 'pending', 'post', 'void', 'expire'] as const;
export type LedgerRequestKind = (typeof LEDGER_REQUEST_KINDS)[number];

/** A request that moves `amount` from `debitAccountId` to `creditAccountId`. */
export interface MoveRequest {
  readonly kind: 'transfer' | 'pending';
  /** The client's id for the request: a retry with the same id is answered the same. */
  readonly id: string;
  readonly debitAccountId: string;
  readonly creditAccountId: string;
  readonly amount: bigint;
  readonly currency: string;
  /** `pending` only: seconds until the reservation voids itself. */
  readonly timeoutSeconds?: number;
  readonly reference?: string;
  /** Links this request to the next of the same call: the chain is applied whole or not at all. */
  readonly linked?: boolean;
}

/** A request that settles a pending transfer: post it (in full, or `amount` of it) or void it. */
export interface SettleRequest {
  readonly kind: 'post' | 'void' | 'expire';
  readonly id: string;
  readonly pendingId: string;
  /** `post` only: the part to post (the rest is released); the whole when omitted. */
  readonly amount?: bigint;
  readonly reference?: string;
  readonly linked?: boolean;
}

export type LedgerRequest = MoveRequest | SettleRequest;

/** Outcomes that applied the request. */
export const APPLIED_STATUSES = ['posted', 'pending', 'voided', 'expired'] as const;

/**
 * Every outcome a request can have. Business refusals are outcomes, never errors; a retry of a
 * stored request answers its first outcome with `replayed`.
 */
export const LEDGER_STATUSES = [
  ...APPLIED_STATUSES,
  'insufficient_funds',
  'exceeds_debits',
  'account_closed',
  'currency_mismatch',
  'debit_account_not_found',
  'credit_account_not_found',
  'overflows',
  'exists_with_different_fields',
  'pending_transfer_not_found',
  'pending_transfer_already_posted',
  'pending_transfer_already_voided',
  'pending_transfer_already_expired',
  'pending_transfer_expired',
  'pending_transfer_not_expired',
  'exceeds_pending_amount',
  'linked_event_failed',
  'linked_chain_open',
  'invalid_request',
] as const;
export type LedgerStatus = (typeof LEDGER_STATUSES)[number];

/** How one request came out. */
export interface LedgerOutcome {
  readonly id: string;
  readonly status: LedgerStatus;
  /** True when answered from the stored first outcome of the same id. */
  readonly replayed: boolean;
  /** The amount moved (for `post`, the part posted; for `void`, the amount released). */
  readonly amount: bigint;
  readonly createdAt: Date;
}

/** True when `status` applied the request. */
export function isApplied(status: LedgerStatus): boolean {
  return (APPLIED_STATUSES as readonly string[]).includes(status);
}

/** An account's four running totals; balances are read from them. */
export interface LedgerTotals {
  readonly debitsPosted: bigint;
  readonly creditsPosted: bigint;
  readonly debitsPending: bigint;
  readonly creditsPending: bigint;
}

/** One line of a statement: a posting and the account's totals after it. */
export interface StatementLine extends LedgerTotals {
  readonly seq: bigint;
  readonly transferId: string;
  readonly postedAt: Date;
  readonly debit: bigint;
  readonly credit: bigint;
  readonly debitPending: bigint;
  readonly creditPending: bigint;
  readonly balance: bigint;
}
