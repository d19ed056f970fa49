/**
 * The `ledger.payments` config section (decision 50): fee rules, the fees account, and the
 * bounds of QR codes and batches. Every field is optional; docs/operating/payments.md lists them.
 */
import { type Static, Type } from '@sinclair/typebox';
import { FEE_RULE_COUNT_MAX, FeeRuleSchema } from './fee-rules.ts';

export const PaymentsConfigSchema = Type.Object(
  {
    /** Fee rules, one per payment kind and currency (none: payments are free). */
    fees: Type.Optional(Type.Array(FeeRuleSchema, { maxItems: FEE_RULE_COUNT_MAX })),
    /** The code of the institution `fees` account fees are credited to ("fees"). */
    feesAccountCode: Type.Optional(Type.String({ pattern: '^[a-z0-9][a-z0-9_.:-]{0,127}$' })),
    /** How often batches left behind by a stopped process are resumed, in ms (5,000). */
    batchResumeIntervalMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 3_600_000 })),
  },
  { additionalProperties: false },
);
export type PaymentsConfig = Static<typeof PaymentsConfigSchema>;

/** The fees account's code unless configured. */
export const FEES_ACCOUNT_CODE_DEFAULT = 'fees';
/** How often stale batches are looked for unless configured. */
export const BATCH_RESUME_INTERVAL_MS_DEFAULT = 5_000;
