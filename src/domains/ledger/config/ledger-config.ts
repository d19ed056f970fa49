import { type Static, Type } from '@sinclair/typebox';
import { PaymentsConfigSchema } from '../payments/core/payments-config.ts';
import { SettlementConfigSchema } from '../settlement/settlement-config.ts';

/**
 * The `ledger` section of the config file (decision 49). Every field is optional; what is left
 * out keeps its default (docs/operating/configuration.md lists them).
 */
export const LedgerConfigSchema = Type.Object(
  {
    /** Stripes of each institution account on every shard (4). */
    stripesPerShard: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
    /** How often timed-out pending transfers are voided, in ms (1,000). */
    pendingSweepIntervalMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 3_600_000 })),
    /** Payments: fee rules, the fees account, batch resumption (docs/operating/payments.md). */
    payments: Type.Optional(PaymentsConfigSchema),
    /** Settlement: the risk reserve's share, its account, the settlement bank account, the
     * end-of-day grace of pending transfers (docs/operating/settlement.md). */
    settlement: Type.Optional(SettlementConfigSchema),
  },
  { additionalProperties: false },
);
export type LedgerConfig = Static<typeof LedgerConfigSchema>;
