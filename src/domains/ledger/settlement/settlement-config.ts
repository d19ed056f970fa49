import { type Static, Type } from '@sinclair/typebox';

const Code = Type.String({ pattern: '^[a-z0-9][a-z0-9_.:-]{0,127}$' });

/**
 * The `ledger.settlement` config section (decision 51). Every field is optional; what is left
 * out keeps its default (docs/operating/settlement.md).
 */
export const SettlementConfigSchema = Type.Object(
  {
    /** The risk reserve's share of a window's volume, in basis points (0: no reserve). */
    reserveBasisPoints: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000 })),
    /** The institution account (kind `risk_reserve`) the reserve goes to (`risk-reserve`). */
    reserveAccountCode: Type.Optional(Code),
    /** The institution account settled nets go to and come from (`settlement-bank`). */
    bankAccountCode: Type.Optional(Code),
    /** How long past its timeout a pending transfer may stay open before it is a break, ms. */
    pendingGraceMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400_000 })),
  },
  { additionalProperties: false },
);
export type SettlementConfig = Static<typeof SettlementConfigSchema>;

/** The defaults of {@link SettlementConfigSchema}. */
export const SETTLEMENT_DEFAULTS = {
  reserveBasisPoints: 0,
  reserveAccountCode: 'risk-reserve',
  bankAccountCode: 'settlement-bank',
  pendingGraceMs: 60_000,
} as const;
