/**
 * Payments as they run in one API process (decision 50): P2P and batch payments with fees by
 * rule, merchant QR codes signed with the `payment-qr-signing` key, batches, and their job.
 * Built on the ledger's own services (the engine, the accounts); started by the ledger module.
 */
import type { Router } from '../../../data/router.ts';
import type { JobLease } from '../../../jobs/job-lease.ts';
import type { SecretsPort } from '../../../secrets/secrets-port.ts';
import type { LedgerAccountService } from '../core/ledger-account-service.ts';
import type { LedgerEngine } from '../core/ledger-engine.ts';
import { feeRulesOf } from './core/fee-rules.ts';
import { PaymentBatches } from './core/payment-batches.ts';
import { PaymentJobs } from './core/payment-jobs.ts';
import { PaymentTransfers } from './core/payment-transfers.ts';
import {
  BATCH_RESUME_INTERVAL_MS_DEFAULT,
  FEES_ACCOUNT_CODE_DEFAULT,
  type PaymentsConfig,
} from './core/payments-config.ts';
import { QrCodes } from './core/qr-codes.ts';

/** The payments' services. */
export interface PaymentServices {
  readonly payments: PaymentTransfers;
  readonly qrCodes: QrCodes;
  readonly batches: PaymentBatches;
  readonly jobs: PaymentJobs;
}

/** What payments are built on. */
export interface PaymentDeps {
  readonly router: Router;
  readonly engine: LedgerEngine;
  readonly accounts: LedgerAccountService;
  readonly secrets: SecretsPort;
  readonly section?: PaymentsConfig;
  /** The job's lease, so one process at a time runs it (none: every process does, harmlessly). */
  readonly lease?: JobLease;
  /** False to leave the job stopped (tests drive it by hand). */
  readonly startJobs?: boolean;
}

/**
 * Starts the payments' services and their job; stop with `services.jobs.stop()`, then
 * `services.payments.close()`.
 */
export async function startPaymentServices(deps: PaymentDeps): Promise<PaymentServices> {
  const section = deps.section ?? {};
  const payments = new PaymentTransfers({
    router: deps.router,
    engine: deps.engine,
    accounts: deps.accounts,
    fees: feeRulesOf(section.fees),
    feesAccountCode: section.feesAccountCode ?? FEES_ACCOUNT_CODE_DEFAULT,
  });
  const qrCodes = new QrCodes(
    deps.router,
    payments,
    await deps.secrets.keysFor('payment-qr-signing'),
  );
  const batches = new PaymentBatches(deps.router, payments);
  const jobs = new PaymentJobs(deps.router, deps.engine, batches);
  if (deps.startJobs !== false)
    jobs.start(section.batchResumeIntervalMs ?? BATCH_RESUME_INTERVAL_MS_DEFAULT, deps.lease);
  return { payments, qrCodes, batches, jobs };
}
