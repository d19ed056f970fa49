/**
 * KYC levels and what each allows. A customer's session holds the scopes of its level, so the
 * HTTP layer's scope check is the level check: 0 registered (no session), 1 phone verified,
 * 2 real name verified, 3 bank card verified and the KYC review approved by staff.
 */
import type { MainstayError } from '../../../../errors/mainstay-error.ts';
import { identityError } from '../../errors.ts';

export const KYC_LEVEL = {
  registered: 0,
  phoneVerified: 1,
  realNameVerified: 2,
  approved: 3,
} as const;

/** The scope of a customer's own routes (`/v1/customers/me/...`). */
export const CUSTOMER_SELF_SCOPE = 'customers:self';

/** The smallest level that grants each scope a customer can hold. */
const LEVEL_OF_SCOPE: Readonly<Record<string, number>> = {
  [CUSTOMER_SELF_SCOPE]: KYC_LEVEL.phoneVerified,
  'cards:users:read': KYC_LEVEL.approved,
  'cards:users:write': KYC_LEVEL.approved,
};

const WHAT_LEVEL_MEANS = [
  'registered',
  'phone verified',
  'real name verified',
  'bank card verified and KYC review approved',
];

/** The scopes a customer at `level` holds. */
export function scopesOfKycLevel(level: number): Set<string> {
  return new Set(
    Object.entries(LEVEL_OF_SCOPE)
      .filter(([, needed]) => level >= needed)
      .map(([scope]) => scope),
  );
}

/** `kyc_level_insufficient` for a customer below `needed`, naming what the step needs. */
export function requireKycLevel(level: number, needed: number, step: string): void {
  if (level >= needed) return;
  throw identityError(
    'kyc_level_insufficient',
    `${step} needs KYC level ${needed} (${WHAT_LEVEL_MEANS[needed]}); this customer is at level ${level} (${WHAT_LEVEL_MEANS[level]})`,
  );
}

/** What a customer's session carries for the access check, beyond its scopes. */
export interface CustomerAccess {
  readonly scopes: Set<string>;
  /** The customer's own id and its payment user's: the only ids its paths may name. */
  readonly owns: ReadonlySet<string>;
  /** `kyc_level_insufficient` when a higher level would grant every missing scope. */
  readonly refusal: (missing: readonly string[]) => MainstayError | null;
}

/** The access of a customer at `level`, limited to the scopes the process knows. */
export function customerAccess(
  customerId: string,
  level: number,
  paymentUserId: string | null,
  known: ReadonlySet<string>,
): CustomerAccess {
  const scopes = new Set([...scopesOfKycLevel(level)].filter((scope) => known.has(scope)));
  const owns = new Set(paymentUserId === null ? [customerId] : [customerId, paymentUserId]);
  const refusal = (missing: readonly string[]): MainstayError | null => {
    const needed = missing.map((scope) => LEVEL_OF_SCOPE[scope]);
    if (needed.some((value) => value === undefined)) return null;
    try {
      requireKycLevel(
        level,
        Math.max(...(needed as number[])),
        `this route (${missing.join(', ')})`,
      );
    } catch (error) {
      return error as MainstayError;
    }
    return null;
  };
  return { scopes, owns, refusal };
}
