/**
 * What cards need of a book of accounts, as ports (decision 52): cards write an event row in the
 * transaction of every change of a hold or a capture, and a job hands the rows to a
 * {@link CardPostingSink}; the end-of-day check reads a {@link CardReceivableReader}. Cards name
 * no ledger: the entry point supplies both, backed by whatever ledger it hosts.
 */

/**
 * One change of what an authorization holds or has captured, numbered per authorization by
 * `generation` (0, 1, 2 ...). Events of one authorization are handed over in generation order,
 * each only after the one before it was posted, so a sink may settle the reservation of
 * generation `g - 1` when it posts generation `g`.
 */
export interface CardLedgerEvent {
  readonly authorizationId: string;
  readonly generation: number;
  readonly cardAccountId: string;
  readonly merchantId: string;
  readonly currency: string;
  /** What the authorization held before the event (0 when its hold was not open). */
  readonly heldBefore: bigint;
  /** What it holds after the event. */
  readonly heldAfter: bigint;
  /** What the event captured (moved from held to the account's posted amount). */
  readonly captured: bigint;
}

/** How one event fared at the sink: posted (or found posted before), or refused with a reason. */
export type CardPostingResult =
  | { readonly posted: true }
  | { readonly posted: false; readonly reason: string };

/**
 * Where card events are posted. `post` answers one result per event, in order, and must be
 * idempotent by (authorizationId, generation): the drain hands an event again when it cannot
 * tell whether it was posted (a crash between posting and marking), and the repeat must change
 * nothing. It throws only on a fault that leaves the whole call's fate unknown.
 */
export interface CardPostingSink {
  post(events: readonly CardLedgerEvent[]): Promise<CardPostingResult[]>;
}

/** A card account's receivable as the book has it: reserved (pending) and posted. */
export interface CardReceivable {
  readonly pending: bigint;
  readonly posted: bigint;
}

/**
 * Reads the book's receivables of card accounts, for the end-of-day check. An account the book
 * has never heard of is absent from the answer (and counts as zero).
 */
export interface CardReceivableReader {
  receivables(
    accounts: readonly { readonly id: string; readonly currency: string }[],
  ): Promise<Map<string, CardReceivable>>;
}
