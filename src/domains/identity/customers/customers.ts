/**
 * Customers as the identity module runs them: the services built from the module's context and
 * its session service, with the development providers unless a deployment passes real ones.
 */
import type { Router } from '../../../data/router.ts';
import type { SecretsPort } from '../../../secrets/secrets-port.ts';
import type { SessionService } from '../core/sessions/session-service.ts';
import type { CustomerServices } from './api/customer-routes.ts';
import { CustomerService } from './core/customer-service.ts';
import { KycReviewService, type PaymentUserPort } from './core/kyc-review.ts';
import { KycService } from './core/kyc-service.ts';
import {
  type CardCheckProvider,
  DevelopmentCardCheck,
  type MessageProvider,
} from './core/providers.ts';
import { OutboxMessageProvider } from './store/outbox-store.ts';

export type { CustomerServices } from './api/customer-routes.ts';
export { registerCustomerRoutes } from './api/customer-routes.ts';
export { customerAccess, scopesOfKycLevel } from './core/kyc-levels.ts';
export type { PaymentUserPort } from './core/kyc-review.ts';

/** The scopes customers' routes add to the identity module's. */
export const CUSTOMER_SCOPES: Readonly<Record<string, string>> = {
  'customers:self':
    "A customer's own record and KYC steps (a customer's session from KYC level 1).",
  'identity:review': 'Read the KYC review queue and approve or reject reviews (compliance, admin).',
  'identity:outbox:read':
    'Read the text messages of the development outbox, one-time codes included (development and tests only).',
};

/**
 * Builds the customer services. Without `messages`, text messages go to the development outbox
 * (and its route is registered); without `cardCheck`, the development bank confirms cards. A
 * `paymentUsers` port gives each approved customer a payment user of their own.
 */
export function startCustomers(options: {
  readonly router: Router;
  readonly secrets: SecretsPort;
  readonly sessions: SessionService;
  readonly paymentUsers?: PaymentUserPort | null;
  readonly messages?: MessageProvider;
  readonly cardCheck?: CardCheckProvider;
}): CustomerServices {
  const { router, secrets, sessions } = options;
  const outbox = options.messages ? null : new OutboxMessageProvider(router, secrets);
  const messages = options.messages ?? (outbox as OutboxMessageProvider);
  const customers = new CustomerService(router, secrets, sessions, messages);
  let kyc: KycService;
  const cardCheck =
    options.cardCheck ?? new DevelopmentCardCheck((phone) => kyc.verifiedElementsOf(phone));
  kyc = new KycService(router, secrets, cardCheck);
  const reviews = new KycReviewService(router, secrets, options.paymentUsers ?? null);
  return { customers, kyc, reviews, outbox };
}
