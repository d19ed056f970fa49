import {
  type CategoryLimits,
  STAND_IN_LIMITS_DEFAULT,
  type StandInLimits,
} from '../core/stand-in/stand-in-limits.ts';
import type { StandInOptions } from '../core/stand-in/stand-in-options.ts';
import type { CardsConfig } from './cards-config.ts';

type StandInConfig = NonNullable<CardsConfig['standIn']>;
type LimitsConfig = NonNullable<StandInConfig['limits']>;

/**
 * The stand-in options the config file's `cards.standIn` section asks for: amounts become
 * bigint minor units, the window's seconds milliseconds, and every field left out keeps the
 * built-in default (`STAND_IN_OPTIONS_DEFAULT`, `STAND_IN_LIMITS_DEFAULT`).
 *
 * @example
 * standInSettings({ limits: { perTransactionMax: 20000, blockedCategories: ['7995'] } });
 */
export function standInSettings(config: StandInConfig = {}): Partial<StandInOptions> {
  // The schema admits only these fields, named as the options are; only limits need mapping.
  const { limits, ...thresholds } = config;
  return limits === undefined ? thresholds : { ...thresholds, limits: standInLimits(limits) };
}

function standInLimits(config: LimitsConfig): StandInLimits {
  const base = STAND_IN_LIMITS_DEFAULT;
  const amount = (value: number | undefined, fallback: bigint) =>
    value === undefined ? fallback : BigInt(value);
  const overrides = config.categoryOverrides
    ? mapValues(config.categoryOverrides, categoryLimits)
    : base.categoryOverrides;
  const currencies = config.currencyAmounts
    ? mapValues(config.currencyAmounts, (limits) => ({
        perTransactionMax: BigInt(limits.perTransactionMax),
        cardAmountMax: BigInt(limits.cardAmountMax),
        categoryAmountMax: BigInt(limits.categoryAmountMax),
        ...(limits.accountExposureMax === undefined
          ? {}
          : { accountExposureMax: BigInt(limits.accountExposureMax) }),
        ...(limits.cardExposureMax === undefined
          ? {}
          : { cardExposureMax: BigInt(limits.cardExposureMax) }),
      }))
    : base.currencyAmounts;
  return {
    windowMs: config.windowSeconds === undefined ? base.windowMs : config.windowSeconds * 1_000,
    perTransactionMax: amount(config.perTransactionMax, base.perTransactionMax),
    cardCountMax: config.cardCountMax ?? base.cardCountMax,
    cardAmountMax: amount(config.cardAmountMax, base.cardAmountMax),
    categoryCountMax: config.categoryCountMax ?? base.categoryCountMax,
    categoryAmountMax: amount(config.categoryAmountMax, base.categoryAmountMax),
    accountExposureMax: amount(config.accountExposureMax, base.accountExposureMax),
    cardExposureMax: amount(config.cardExposureMax, base.cardExposureMax),
    blockedCategories: config.blockedCategories ?? base.blockedCategories,
    ...(overrides === undefined ? {} : { categoryOverrides: overrides }),
    ...(currencies === undefined ? {} : { currencyAmounts: currencies }),
  };
}

function categoryLimits(limits: {
  perTransactionMax?: number;
  countMax?: number;
  amountMax?: number;
}): CategoryLimits {
  return {
    ...(limits.perTransactionMax === undefined
      ? {}
      : { perTransactionMax: BigInt(limits.perTransactionMax) }),
    ...(limits.countMax === undefined ? {} : { countMax: limits.countMax }),
    ...(limits.amountMax === undefined ? {} : { amountMax: BigInt(limits.amountMax) }),
  };
}

function mapValues<A, B>(record: Readonly<Record<string, A>>, map: (value: A) => B) {
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [key, map(value)]));
}
