/**
 * Clearing and settlement as the ledger module runs it (decision 51): the settlement service
 * and the end-of-day checks on the module's router, configured by `ledger.settlement`.
 */
import type { Router } from '../../../data/router.ts';
import { type EndOfDayCheck, EndOfDayService } from './core/end-of-day.ts';
import { SettlementService } from './core/settlement-service.ts';
import { SETTLEMENT_DEFAULTS, type SettlementConfig } from './settlement-config.ts';

/** The running settlement services. */
export interface SettlementServices {
  readonly settlement: SettlementService;
  /** Plug in more checks with `endOfDay.addCheck` (only entry points know other domains). */
  readonly endOfDay: EndOfDayService;
}

/** Starts the settlement services on `router` with `section` (defaults where it is silent). */
export function startSettlementServices(
  router: Router,
  section: SettlementConfig = {},
  checks: readonly EndOfDayCheck[] = [],
): SettlementServices {
  const settlement = new SettlementService(router, {
    reserveBasisPoints: section.reserveBasisPoints ?? SETTLEMENT_DEFAULTS.reserveBasisPoints,
    reserveAccountCode: section.reserveAccountCode ?? SETTLEMENT_DEFAULTS.reserveAccountCode,
    bankAccountCode: section.bankAccountCode ?? SETTLEMENT_DEFAULTS.bankAccountCode,
  });
  const endOfDay = new EndOfDayService(router, {
    pendingGraceMs: section.pendingGraceMs ?? SETTLEMENT_DEFAULTS.pendingGraceMs,
    checks,
  });
  return { settlement, endOfDay };
}
