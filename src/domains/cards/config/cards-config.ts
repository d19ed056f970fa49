import { type Static, Type } from '@sinclair/typebox';

/**
 * The `cards` section of the config file: how stand-in processing decides when to stand in, the
 * risk limits it keeps while the issuer cannot be asked, and above which credit limit a change
 * needs a second person. Amounts are integers in minor units
 * of the card's currency (JSON numbers, so at most 2^53 - 1). Every field is optional; what is
 * left out keeps the built-in default (docs/operating/configuration.md lists them).
 */
const MinorUnits = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const Count = Type.Integer({ minimum: 0, maximum: 1_000_000 });
const MerchantCategory = Type.String({ pattern: '^[0-9]{4}$' });

const CategoryLimitsConfig = Type.Object(
  {
    perTransactionMax: Type.Optional(MinorUnits),
    countMax: Type.Optional(Count),
    amountMax: Type.Optional(MinorUnits),
  },
  { additionalProperties: false },
);

const CurrencyAmountsConfig = Type.Object(
  {
    perTransactionMax: MinorUnits,
    cardAmountMax: MinorUnits,
    categoryAmountMax: MinorUnits,
    accountExposureMax: Type.Optional(MinorUnits),
    cardExposureMax: Type.Optional(MinorUnits),
  },
  { additionalProperties: false },
);

const StandInLimitsConfig = Type.Object(
  {
    windowSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 31 * 24 * 3600 })),
    perTransactionMax: Type.Optional(MinorUnits),
    cardCountMax: Type.Optional(Count),
    cardAmountMax: Type.Optional(MinorUnits),
    categoryCountMax: Type.Optional(Count),
    categoryAmountMax: Type.Optional(MinorUnits),
    accountExposureMax: Type.Optional(MinorUnits),
    cardExposureMax: Type.Optional(MinorUnits),
    blockedCategories: Type.Optional(Type.Array(MerchantCategory, { uniqueItems: true })),
    categoryOverrides: Type.Optional(
      Type.Record(Type.String({ pattern: '^[0-9]{4}$' }), CategoryLimitsConfig),
    ),
    currencyAmounts: Type.Optional(
      Type.Record(Type.String({ pattern: '^[A-Z]{3}$' }), CurrencyAmountsConfig),
    ),
  },
  { additionalProperties: false },
);

const Millis = (maximum: number) => Type.Integer({ minimum: 1, maximum });

export const CardsConfigSchema = Type.Object(
  {
    /**
     * A credit limit set above this (minor units) waits for a second person (maker-checker,
     * decision 47); at or below it the change applies at once. Default in credit-limit-approval.ts.
     */
    creditLimitApprovalAbove: Type.Optional(MinorUnits),
    /** The same threshold for one currency (yen has no minor unit), replacing the general one. */
    creditLimitApprovalAboveByCurrency: Type.Optional(
      Type.Record(Type.String({ pattern: '^[A-Z]{3}$' }), MinorUnits, {
        additionalProperties: false,
      }),
    ),
    standIn: Type.Optional(
      Type.Object(
        {
          issuerTimeoutMs: Type.Optional(Millis(60_000)),
          probeIntervalMs: Type.Optional(Millis(600_000)),
          queueDepthStandInMin: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
          latencyStandInMs: Type.Optional(Millis(60_000)),
          recoveryStepMs: Type.Optional(Millis(60_000)),
          recoverySharePercentMin: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
          limits: Type.Optional(StandInLimitsConfig),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

/** The `cards` section as written (and as resolved: the platform applies the defaults). */
export type CardsConfig = Static<typeof CardsConfigSchema>;
