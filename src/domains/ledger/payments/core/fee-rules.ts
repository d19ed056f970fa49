/**
 * Fees by rule (decision 50): a rule per payment kind and currency, basis points plus a fixed
 * part, kept between a minimum and a maximum, in integer minor units. The rules come from the
 * `ledger.payments.fees` config section; a payment with no rule pays no fee.
 */
import { type Static, Type } from '@sinclair/typebox';

/** What a payment is, for its fee rule and its transfer ids. */
export const PAYMENT_KINDS = ['p2p', 'qr', 'batch'] as const;
export type PaymentKind = (typeof PAYMENT_KINDS)[number];

/** Who bears a fee: the payer on top of the amount, or the payee out of it. */
export const FEE_BEARERS = ['payer', 'payee'] as const;
export type FeeBearer = (typeof FEE_BEARERS)[number];

/** Basis points per whole: 10,000 bp = 100 %. */
export const BASIS_POINTS_PER_WHOLE = 10_000n;
const FEE_FIGURE_MAX = Number.MAX_SAFE_INTEGER;

/** One fee rule as the config file writes it (amounts in the currency's minor units). */
export const FeeRuleSchema = Type.Object(
  {
    kind: Type.Union(PAYMENT_KINDS.map((kind) => Type.Literal(kind))),
    currency: Type.String({ pattern: '^[A-Z]{3}$' }),
    /** The share of the amount, in basis points (0-10,000). */
    basisPoints: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000 })),
    /** Added to the share. */
    fixed: Type.Optional(Type.Integer({ minimum: 0, maximum: FEE_FIGURE_MAX })),
    min: Type.Optional(Type.Integer({ minimum: 0, maximum: FEE_FIGURE_MAX })),
    max: Type.Optional(Type.Integer({ minimum: 0, maximum: FEE_FIGURE_MAX })),
    /** `payer` (default): debited on top of the amount; `payee`: taken out of what is credited. */
    chargedTo: Type.Optional(Type.Union(FEE_BEARERS.map((bearer) => Type.Literal(bearer)))),
  },
  { additionalProperties: false },
);
export type FeeRuleConfig = Static<typeof FeeRuleSchema>;

/** Bound on the rules of one config file. */
export const FEE_RULE_COUNT_MAX = 256;

/** A rule checked and in bigint, ready to price payments. */
export interface FeeRule {
  readonly kind: PaymentKind;
  readonly currency: string;
  readonly basisPoints: bigint;
  readonly fixed: bigint;
  readonly min: bigint;
  readonly max: bigint | null;
  readonly chargedTo: FeeBearer;
}

/** What a payment costs and who bears it. */
export interface Fee {
  readonly amount: bigint;
  readonly chargedTo: FeeBearer;
}

const NO_FEE: Fee = { amount: 0n, chargedTo: 'payer' };

/**
 * The rules of a config file, checked: one rule per kind and currency, `min` not above `max`.
 * Throws a `RangeError` naming the rule otherwise, so a bad file stops the process at start.
 */
export function feeRulesOf(configs: readonly FeeRuleConfig[] = []): FeeRules {
  if (configs.length > FEE_RULE_COUNT_MAX)
    throw new RangeError(`at most ${FEE_RULE_COUNT_MAX} fee rules`);
  const rules = new Map<string, FeeRule>();
  for (const config of configs) {
    const key = `${config.kind} ${config.currency}`;
    if (rules.has(key)) throw new RangeError(`two fee rules for ${key}`);
    const rule: FeeRule = {
      kind: config.kind,
      currency: config.currency,
      basisPoints: BigInt(config.basisPoints ?? 0),
      fixed: BigInt(config.fixed ?? 0),
      min: BigInt(config.min ?? 0),
      max: config.max === undefined ? null : BigInt(config.max),
      chargedTo: config.chargedTo ?? 'payer',
    };
    if (rule.max !== null && rule.min > rule.max)
      throw new RangeError(`fee rule ${key}: min ${rule.min} is above max ${rule.max}`);
    rules.set(key, rule);
  }
  return new FeeRules(rules);
}

/**
 * The fee rules in force. The rounding rule: the share is `amount × basisPoints / 10,000`
 * rounded half up to a whole minor unit (`(amount × bp + 5,000) div 10,000`, all integers),
 * then `fixed` is added, then the sum is raised to `min` and lowered to `max`.
 *
 * @example
 * // 0.3 % + 1, at least 2, at most 500: 1,250 fen pays 3.75 -> 4, plus 1 = 5.
 * feeRulesOf([{ kind: 'p2p', currency: 'CNY', basisPoints: 30, fixed: 1, min: 2, max: 500 }])
 *   .feeFor('p2p', 'CNY', 1_250n); // { amount: 5n, chargedTo: 'payer' }
 */
export class FeeRules {
  readonly #rules: ReadonlyMap<string, FeeRule>;

  constructor(rules: ReadonlyMap<string, FeeRule>) {
    this.#rules = rules;
  }

  /** The rule for `kind` in `currency`, or `null`. */
  ruleFor(kind: PaymentKind, currency: string): FeeRule | null {
    return this.#rules.get(`${kind} ${currency}`) ?? null;
  }

  /** The fee of a payment of `amount` (positive minor units); zero when no rule applies. */
  feeFor(kind: PaymentKind, currency: string, amount: bigint): Fee {
    const rule = this.ruleFor(kind, currency);
    if (rule === null) return NO_FEE;
    return { amount: feeOfRule(rule, amount), chargedTo: rule.chargedTo };
  }
}

/** The fee `rule` sets on `amount` (see {@link FeeRules} for the rounding). */
export function feeOfRule(rule: FeeRule, amount: bigint): bigint {
  const half = BASIS_POINTS_PER_WHOLE / 2n;
  let fee = (amount * rule.basisPoints + half) / BASIS_POINTS_PER_WHOLE + rule.fixed;
  if (fee < rule.min) fee = rule.min;
  if (rule.max !== null && fee > rule.max) fee = rule.max;
  return fee;
}
