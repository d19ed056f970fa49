import type { Router } from '../../../../data/router.ts';
import type { WriteAnswer } from '../../../../data/write-contract.ts';
import type { ShardBatchOptions } from '../../../../engine/batch-client.ts';
import type { EngineStatsSnapshot } from '../../../../engine/engine-stats.ts';
import { type Committed, ListBatchClient } from '../../../../engine/list-batch-client.ts';
import { ShardBatchEngine } from '../../../../engine/shard-batch-engine.ts';
import { isMainstayError, MainstayError } from '../../../../errors/mainstay-error.ts';
import { CROSS_SHARD_DEFAULTS, stripeIndexOf } from '../../core/cross-shard/cross-shard-types.ts';
import type { LedgerAccountService } from '../../core/ledger-account-service.ts';
import type { LedgerEngine } from '../../core/ledger-engine.ts';
import { twoAccountMoveErrors } from '../../core/ledger-request-validation.ts';
import type { LedgerOutcome, LedgerRequest, LedgerStatus } from '../../core/ledger-types.ts';
import type { CrossShardStarted } from '../../store/cross-shard-store.ts';
import { type PaymentStart, readAccountBrief, startPayments } from '../store/payment-fees-store.ts';
import type { Fee, FeeBearer, FeeRules, PaymentKind } from './fee-rules.ts';
import { paymentError } from './payment-errors.ts';

/** A payment's id: its transfer's client id; the derived ids of its legs add up to 12 characters. */
export const PAYMENT_ID_LENGTH_MAX = 180;
const STRIPE_SPREAD = 1 << 16;

/** One payment from a payer's account to a payee's. */
export interface PaymentInput {
  /** The payment's transfer id, derived by the caller from its idempotency key or batch line. */
  readonly id: string;
  readonly kind: PaymentKind;
  readonly payerAccountId: string;
  readonly payeeAccountId: string;
  /** What the payer pays (the payee gets it less a fee the payee bears). */
  readonly amount: bigint;
  readonly currency: string;
  readonly reference?: string;
}

/** Where a payment's transfer ran: one engine transfer, or a cross-shard transfer. */
export type PaymentRoute = 'same_shard' | 'cross_shard';

/**
 * How a payment came out. `posted`: done (same shard); `pending`: accepted across shards, the
 * coordinator completes it (posted or voided on both sides, the fee with it); any other status
 * is the ledger's refusal (`insufficient_funds`, `currency_mismatch`...), nothing moved.
 */
export interface PaymentOutcome {
  readonly id: string;
  readonly kind: PaymentKind;
  readonly status: LedgerStatus;
  readonly route: PaymentRoute;
  readonly replayed: boolean;
  readonly payerAccountId: string;
  readonly payeeAccountId: string;
  readonly amount: bigint;
  /** What the payee is credited: `amount`, less the fee when the payee bears it. */
  readonly credited: bigint;
  readonly fee: bigint;
  readonly feeChargedTo: FeeBearer;
  readonly currency: string;
  readonly reference: string | null;
}

/** The derived id of a payment's fee leg. */
export function feeIdOf(paymentId: string): string {
  return `${paymentId}:fee`;
}

/**
 * Payments between ledger accounts (decision 50): the fee by rule, then on one shard ONE linked
 * chain through the engine (the payment, then the fee to a stripe of the fees account beside the
 * payer: both or neither), or across shards the fee reserved (pending) in one linked chain with
 * the cross-shard transfer's first leg (`startPayments`), posted or voided with the transfer by
 * `PaymentJobs.settleEndedFees`. Cross-shard starts made at once share one transaction and one
 * synchronous commit, batched per payer's shard on the engine of `src/engine/`; a refusal is
 * stored with its id, as on one shard. A retry with the same id answers the
 * first outcome, `replayed`, never a second payment.
 */
export class PaymentTransfers {
  readonly #router: Router;
  readonly #engine: LedgerEngine;
  readonly #accounts: LedgerAccountService;
  readonly #fees: FeeRules;
  readonly #feesCode: string;
  readonly #starts: ShardBatchEngine<PaymentStart, Committed<CrossShardStarted>, unknown>;

  constructor(deps: {
    readonly router: Router;
    readonly engine: LedgerEngine;
    readonly accounts: LedgerAccountService;
    readonly fees: FeeRules;
    readonly feesAccountCode: string;
    /** The batching of cross-shard starts (the engine's defaults when left out). */
    readonly startBatching?: ShardBatchOptions;
  }) {
    this.#router = deps.router;
    this.#engine = deps.engine;
    this.#accounts = deps.accounts;
    this.#fees = deps.fees;
    this.#feesCode = deps.feesAccountCode;
    this.#starts = new ShardBatchEngine(
      deps.router,
      'payment starts',
      new ListBatchClient((item: PaymentStart) => item.start.debitAccountId, startPayments),
      deps.startBatching ?? {},
    );
  }

  /** The batching of cross-shard starts: batches and requests since this service started. */
  get startStats(): EngineStatsSnapshot {
    return this.#starts.stats;
  }

  /** Refuses new cross-shard payments and waits for the starts in flight. */
  close(): Promise<void> {
    return this.#starts.close();
  }

  /** The fee rules in force. */
  get fees(): FeeRules {
    return this.#fees;
  }

  /**
   * Makes payment `input`. Throws `invalid_request` for a malformed one,
   * `payment_fee_exceeds_amount` when the payee would bear a fee as large as the amount,
   * `resource_not_found` when the fees or in-transit account is not open in the currency, and
   * the router's faults (retry with the same id). Business refusals are outcomes.
   */
  async pay(
    input: PaymentInput,
    callerToken?: string | null,
  ): Promise<WriteAnswer<PaymentOutcome>> {
    checkPayment(input);
    const fee = this.#fees.feeFor(input.kind, input.currency, input.amount);
    const credited = fee.chargedTo === 'payee' ? input.amount - fee.amount : input.amount;
    if (credited <= 0n)
      throw paymentError(
        'payment_fee_exceeds_amount',
        `the fee ${fee.amount} the payee bears leaves nothing of ${input.amount}`,
        { errors: [{ pointer: '/amount', detail: 'is not above its fee' }] },
      );
    const payerShard = this.#shardOf(input.payerAccountId);
    const payeeShard = this.#shardOf(input.payeeAccountId);
    const outcome = (status: LedgerStatus, replayed: boolean, route: PaymentRoute) =>
      outcomeOf(input, fee, credited, status, replayed, route);
    const untouched = () => (callerToken ? this.#router.mergeTokens(callerToken) : null);
    if (payerShard === null)
      return {
        value: outcome('debit_account_not_found', false, 'same_shard'),
        token: untouched(),
        replayed: false,
      };
    if (payeeShard === null)
      return {
        value: outcome('credit_account_not_found', false, 'same_shard'),
        token: untouched(),
        replayed: false,
      };
    if (payerShard === payeeShard) return this.#sameShard(input, fee, credited, callerToken);
    const payee = await this.#checkPayee(input, payeeShard);
    if (payee !== null)
      return { value: outcome(payee, false, 'cross_shard'), token: untouched(), replayed: false };
    return this.#crossShard(input, fee, credited, callerToken);
  }

  async #sameShard(
    input: PaymentInput,
    fee: Fee,
    credited: bigint,
    callerToken: string | null | undefined,
  ): Promise<WriteAnswer<PaymentOutcome>> {
    const reference = input.reference === undefined ? {} : { reference: input.reference };
    const legs: LedgerRequest[] = [
      {
        kind: 'transfer',
        id: input.id,
        debitAccountId: input.payerAccountId,
        creditAccountId: input.payeeAccountId,
        amount: credited,
        currency: input.currency,
        linked: fee.amount > 0n,
        ...reference,
      },
    ];
    if (fee.amount > 0n)
      legs.push({
        kind: 'transfer',
        id: feeIdOf(input.id),
        debitAccountId: input.payerAccountId,
        creditAccountId: await this.#feeStripe(input),
        amount: fee.amount,
        currency: input.currency,
        ...reference,
      });
    const written = await this.#engine.submitWithToken(legs, input.payerAccountId, callerToken);
    const status = chainStatus(written.value);
    return {
      value: outcomeOf(input, fee, credited, status, written.replayed, 'same_shard'),
      token: written.token,
      replayed: written.replayed,
    };
  }

  async #crossShard(
    input: PaymentInput,
    fee: Fee,
    credited: bigint,
    callerToken: string | null | undefined,
  ): Promise<WriteAnswer<PaymentOutcome>> {
    const feeStripe = fee.amount > 0n ? await this.#feeStripe(input) : null;
    const { timeoutSeconds, transitCode } = CROSS_SHARD_DEFAULTS;
    const reference = input.reference === undefined ? {} : { reference: input.reference };
    const { value: started, token } = await this.#starts.submit({
      start: {
        id: input.id,
        debitAccountId: input.payerAccountId,
        creditAccountId: input.payeeAccountId,
        amount: credited,
        currency: input.currency,
        reference: input.reference ?? null,
        transitCode,
        timeoutSeconds,
        ...(feeStripe === null
          ? {}
          : {
              linkedBefore: {
                kind: 'pending',
                id: feeIdOf(input.id),
                debitAccountId: input.payerAccountId,
                creditAccountId: feeStripe,
                amount: fee.amount,
                currency: input.currency,
                timeoutSeconds,
                ...reference,
              },
            }),
      },
      feeId: feeStripe === null ? null : feeIdOf(input.id),
    });
    if (started.status === 'in_transit_account_not_found')
      throw new MainstayError(
        'resource_not_found',
        `no ${transitCode} in_transit account in ${input.currency} on the payer's shard`,
      );
    // `pending`, or the refusal of the fee's reserve or of leg 1: a ledger status either way.
    const status = started.status as LedgerStatus;
    return {
      value: outcomeOf(input, fee, credited, status, started.replayed, 'cross_shard'),
      token: this.#router.mergeTokens(...(callerToken ? [callerToken] : []), token),
      replayed: started.replayed,
    };
  }

  /** Why the payee on another shard cannot be paid, or `null` when it can. */
  async #checkPayee(input: PaymentInput, shardId: number): Promise<LedgerStatus | null> {
    const { value } = await this.#router.readShard(
      shardId,
      (db) => readAccountBrief(db, input.payeeAccountId),
      { consistency: 'primary' },
    );
    if (value === null) return 'credit_account_not_found';
    if (value.currency !== input.currency) return 'currency_mismatch';
    if (value.closed) return 'account_closed';
    return null;
  }

  async #feeStripe(input: PaymentInput): Promise<string> {
    return this.#accounts.stripeNear(
      this.#feesCode,
      input.currency,
      input.payerAccountId,
      stripeIndexOf(input.id, STRIPE_SPREAD),
    );
  }

  #shardOf(key: string): number | null {
    try {
      return this.#router.map.shardOf(key);
    } catch (error) {
      if (isMainstayError(error, 'invalid_shard_key')) return null;
      throw error;
    }
  }
}

/** The outcome of a chain: its first refusal (not the `linked_event_failed` it caused), else its first status. */
function chainStatus(outcomes: readonly LedgerOutcome[]): LedgerStatus {
  const refusal = outcomes.find(
    (outcome) => outcome.status !== 'posted' && outcome.status !== 'linked_event_failed',
  );
  return refusal?.status ?? outcomes[0]?.status ?? 'invalid_request';
}

function outcomeOf(
  input: PaymentInput,
  fee: Fee,
  credited: bigint,
  status: LedgerStatus,
  replayed: boolean,
  route: PaymentRoute,
): PaymentOutcome {
  return {
    id: input.id,
    kind: input.kind,
    status,
    route,
    replayed,
    payerAccountId: input.payerAccountId,
    payeeAccountId: input.payeeAccountId,
    amount: input.amount,
    credited,
    fee: fee.amount,
    feeChargedTo: fee.chargedTo,
    currency: input.currency,
    reference: input.reference ?? null,
  };
}

/** Refuses a malformed payment with `invalid_request` and a pointer per field. */
export function checkPayment(input: PaymentInput): void {
  const errors = twoAccountMoveErrors(
    input,
    [
      ['/payerAccountId', input.payerAccountId],
      ['/payeeAccountId', input.payeeAccountId],
    ],
    PAYMENT_ID_LENGTH_MAX,
  );
  if (errors.length === 0 && input.payerAccountId === input.payeeAccountId)
    errors.push({
      pointer: '/payeeAccountId',
      detail: 'is the payer: a payment moves between two accounts',
    });
  if (errors.length > 0)
    throw new MainstayError('invalid_request', 'the payment is malformed', { errors });
}
