import type { CardsConfig } from './cards-config.ts';

/**
 * Above which new credit limit a change waits for a second person (maker-checker, decision 47),
 * per currency: the config file's `cards.creditLimitApprovalAbove` and
 * `cards.creditLimitApprovalAboveByCurrency`, as bigint minor units.
 */
export interface CreditLimitApproval {
  /** The threshold of a currency without its own. */
  readonly above: bigint;
  /** Thresholds of single currencies, replacing `above` for them. */
  readonly aboveByCurrency: Readonly<Record<string, bigint>>;
}

/** 5,000,000 minor units: 50,000.00 of a currency with two decimals. */
export const CREDIT_LIMIT_APPROVAL_ABOVE_DEFAULT = 5_000_000n;

export const CREDIT_LIMIT_APPROVAL_DEFAULT: CreditLimitApproval = {
  above: CREDIT_LIMIT_APPROVAL_ABOVE_DEFAULT,
  aboveByCurrency: {},
};

/** The thresholds the `cards` section asks for; a field left out keeps its default. */
export function creditLimitApproval(config: CardsConfig = {}): CreditLimitApproval {
  const byCurrency = config.creditLimitApprovalAboveByCurrency ?? {};
  return {
    above:
      config.creditLimitApprovalAbove === undefined
        ? CREDIT_LIMIT_APPROVAL_ABOVE_DEFAULT
        : BigInt(config.creditLimitApprovalAbove),
    aboveByCurrency: Object.fromEntries(
      Object.entries(byCurrency).map(([currency, above]) => [currency, BigInt(above)]),
    ),
  };
}

/** Whether setting a limit of `creditLimit` minor units of `currency` needs a second person. */
export function creditLimitNeedsApproval(
  policy: CreditLimitApproval,
  currency: string,
  creditLimit: bigint,
): boolean {
  const own = Object.hasOwn(policy.aboveByCurrency, currency)
    ? policy.aboveByCurrency[currency]
    : undefined;
  return creditLimit > (own ?? policy.above);
}
