import { createHash } from 'node:crypto';
import type { CrossShardRow, CrossShardState, LegRecord } from '../../store/cross-shard-store.ts';
import type { LedgerStatus } from '../ledger-types.ts';

export {
  CROSS_SHARD_STATES,
  type CrossShardRow,
  type CrossShardState,
  type LegRecord,
} from '../../store/cross-shard-store.ts';

/** What the legs are made with, shared by the starting side and the driver. */
export interface CrossShardSettings {
  /**
   * The code of the institution `in_transit` account the legs pass through; it must be open in
   * the transfer's currency (`openInstitutionAccount({ code, kind: 'in_transit', currency })`).
   */
  readonly transitCode: string;
  /**
   * Seconds before a pending leg voids itself: longer than the worst recovery, since the driver
   * posts or voids the legs long before.
   */
  readonly timeoutSeconds: number;
}

export const CROSS_SHARD_DEFAULTS: CrossShardSettings = {
  transitCode: 'in-transit',
  timeoutSeconds: 3_600,
};

/** A cross-shard transfer's id: the derived ids of its steps take up to 12 characters more. */
export const CROSS_SHARD_ID_LENGTH_MAX = 200;

/** The steps of a transfer, each an idempotent ledger request with a derived id. */
export const CROSS_SHARD_LEGS = {
  /** Leg 1, on the debtor's shard: pending, debtor -> in_transit. */
  debit: 'debit',
  /** Leg 2, on the creditor's shard: pending, in_transit -> creditor. */
  credit: 'credit',
  postDebit: 'post-debit',
  postCredit: 'post-credit',
  voidDebit: 'void-debit',
  voidCredit: 'void-credit',
  /** Leg 2 expired before it was posted: the credit made as a plain transfer instead. */
  lateCredit: 'late-credit',
} as const;
export type CrossShardLeg = (typeof CROSS_SHARD_LEGS)[keyof typeof CROSS_SHARD_LEGS];

/** The derived id of a step of transfer `id` (`<id>:credit`, `<id>:post-debit`...). */
export function legId(id: string, leg: CrossShardLeg): string {
  return `${id}:${leg}`;
}

/** The steps stored on the debtor's shard and on the creditor's. */
export const DEBIT_SIDE_LEGS: readonly CrossShardLeg[] = ['debit', 'post-debit', 'void-debit'];
export const CREDIT_SIDE_LEGS: readonly CrossShardLeg[] = [
  'credit',
  'post-credit',
  'void-credit',
  'late-credit',
];

/** A stable pick among `count` stripes for transfer `id` (the same in every process). */
export function stripeIndexOf(id: string, count: number): number {
  return createHash('sha256').update(id).digest().readUInt32BE(0) % count;
}

/** What starts a cross-shard transfer. */
export interface CrossShardInput {
  /** The client's id: a retry with the same id and fields answers the same, never twice. */
  readonly id: string;
  readonly debitAccountId: string;
  readonly creditAccountId: string;
  readonly amount: bigint;
  readonly currency: string;
  readonly reference?: string;
}

/**
 * How a start came out: `pending` when leg 1 is in and the coordinator row written (the
 * transfer completes in the background; `state` says how far it is), else leg 1's refusal
 * (`insufficient_funds`, `account_closed`, `exists_with_different_fields`...), nothing written
 * but the refusal stored under leg 1's id.
 */
export interface CrossShardAnswer {
  readonly id: string;
  readonly status: 'pending' | LedgerStatus;
  readonly replayed: boolean;
  readonly state: CrossShardState | null;
}

/** A transfer as read: its coordinator row and every step stored on either shard. */
export interface CrossShardView extends CrossShardRow {
  readonly legs: readonly LegRecord[];
}

/** Whether `state` is final. */
export function isFinal(state: CrossShardState): boolean {
  return state === 'posted' || state === 'voided';
}
