/**
 * The load's shape for every fault run: a few accounts with tight limits (so that stand-in
 * exposure shows), clients per operation, and the bounds that make every loop end by itself.
 */
export const CHAOS_RUN_DEFAULTS = {
  accountCount: 12,
  /** 30,000 minor units against 500-6,000 per authorization: limits are reached. */
  creditLimit: 30_000,
  clients: { authorize: 6, hold: 2, bind: 2, ledger: 2 },
  /** Operations per client at most, whatever the time left. */
  opCountMax: 20_000,
  lookupCountMax: 3_000,
} as const;
