import { checkIntegerOptions } from '../../../../errors/integer-options.ts';
/**
 * The limits stand-in processing keeps while it decides without the issuer. Without the
 * issuer nobody knows the card's available credit, so stand-in bounds the risk instead: a
 * per-transaction maximum, count and amount limits per card and per merchant category over a
 * sliding window, and categories that are never approved in stand-in (gambling, quasi-cash,
 * money transfer: where fraud concentrates when the issuer cannot see). Amounts are minor units
 * of the card's currency; a currency can have its own amount limits (1 USD is 100 minor units,
 * 1 JPY is one).
 */
export interface StandInLimits {
  /** Length of the sliding window the count and amount limits apply to. */
  readonly windowMs: number;
  /** Largest single stand-in approval. */
  readonly perTransactionMax: bigint;
  /** Stand-in approvals per card per window. */
  readonly cardCountMax: number;
  /** Sum of stand-in approvals per card per window. */
  readonly cardAmountMax: bigint;
  /** Stand-in approvals per card and merchant category per window. */
  readonly categoryCountMax: number;
  /** Sum of stand-in approvals per card and merchant category per window. */
  readonly categoryAmountMax: bigint;
  /**
   * Stand-in approvals an account may have outstanding across ALL API processes together,
   * plus how far its books already stand above its credit limit (decision 38): the bound that
   * keeps held plus posted within credit limit plus this cap, however many processes stand in.
   * Kept on the witness, so it holds when processes are added.
   */
  readonly accountExposureMax: bigint;
  /** Stand-in approvals a card may have outstanding across all API processes together. */
  readonly cardExposureMax: bigint;
  /** Merchant categories (ISO 18245) never approved in stand-in. */
  readonly blockedCategories: readonly string[];
  /** Tighter (or looser) limits for one merchant category. */
  readonly categoryOverrides?: Readonly<Record<string, CategoryLimits>>;
  /** Amount limits for one currency (ISO 4217), replacing the defaults above for it. */
  readonly currencyAmounts?: Readonly<Record<string, CurrencyAmountLimits>>;
}

/** Limits of one merchant category; a missing field keeps the general limit. */
export interface CategoryLimits {
  readonly perTransactionMax?: bigint;
  readonly countMax?: number;
  readonly amountMax?: bigint;
}

/** Amount limits of one currency, in its minor units. */
export interface CurrencyAmountLimits {
  readonly perTransactionMax: bigint;
  readonly cardAmountMax: bigint;
  readonly categoryAmountMax: bigint;
  readonly accountExposureMax?: bigint;
  readonly cardExposureMax?: bigint;
}

/** The limits that apply to one request: general, then currency, then category overrides. */
export interface EffectiveLimits {
  readonly perTransactionMax: bigint;
  readonly cardCountMax: number;
  readonly cardAmountMax: bigint;
  readonly categoryCountMax: number;
  readonly categoryAmountMax: bigint;
  readonly accountExposureMax: bigint;
  readonly cardExposureMax: bigint;
}

/**
 * Defaults in the spirit of network stand-in parameters: small amounts only, a handful of
 * approvals a day, and the three categories card schemes flag as high risk.
 */
export const STAND_IN_LIMITS_DEFAULT: StandInLimits = {
  windowMs: 24 * 60 * 60 * 1000,
  perTransactionMax: 50_000n,
  cardCountMax: 10,
  cardAmountMax: 200_000n,
  categoryCountMax: 5,
  categoryAmountMax: 100_000n,
  accountExposureMax: 200_000n,
  cardExposureMax: 200_000n,
  blockedCategories: ['7995', '6051', '4829'],
};

/** The limits for a request in `currency` at merchant category `category`. */
export function effectiveLimits(
  limits: StandInLimits,
  currency: string,
  category: string,
): EffectiveLimits {
  const amounts = limits.currencyAmounts?.[currency];
  const override = limits.categoryOverrides?.[category];
  const perTransactionMax = amounts?.perTransactionMax ?? limits.perTransactionMax;
  return {
    perTransactionMax: minBigint(perTransactionMax, override?.perTransactionMax),
    cardCountMax: limits.cardCountMax,
    cardAmountMax: amounts?.cardAmountMax ?? limits.cardAmountMax,
    categoryCountMax: override?.countMax ?? limits.categoryCountMax,
    categoryAmountMax:
      override?.amountMax ?? amounts?.categoryAmountMax ?? limits.categoryAmountMax,
    accountExposureMax: amounts?.accountExposureMax ?? limits.accountExposureMax,
    cardExposureMax: amounts?.cardExposureMax ?? limits.cardExposureMax,
  };
}

function minBigint(value: bigint, other: bigint | undefined): bigint {
  return other !== undefined && other < value ? other : value;
}

/**
 * Checks limits from code or config: a bad limit is a programmer error, so it throws a
 * `RangeError` rather than a catalogue error.
 */
export function checkStandInLimits(limits: StandInLimits): StandInLimits {
  const counts = { cardCountMax: limits.cardCountMax, categoryCountMax: limits.categoryCountMax };
  checkIntegerOptions('stand-in limit', { ...counts, windowMs: limits.windowMs }, 0);
  const amounts = [
    limits.perTransactionMax,
    limits.cardAmountMax,
    limits.categoryAmountMax,
    limits.accountExposureMax,
    limits.cardExposureMax,
    ...Object.values(limits.currencyAmounts ?? {}).flatMap((a) => Object.values(a)),
  ];
  if (amounts.some((amount) => typeof amount !== 'bigint' || amount < 0n)) {
    throw new RangeError('stand-in amount limits must be non-negative bigint minor units');
  }
  for (const category of [
    ...limits.blockedCategories,
    ...Object.keys(limits.categoryOverrides ?? {}),
  ]) {
    if (!/^\d{4}$/.test(category)) {
      throw new RangeError(`stand-in merchant category ${category} is not four digits`);
    }
  }
  return limits;
}
