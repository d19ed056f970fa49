import type { FastifyInstance } from 'fastify';
import type { CreditLimitApproval } from '../config/credit-limit-approval.ts';
import type { CardAccountService } from '../core/accounts/card-account-service.ts';
import type { AuthorizationService } from '../core/authorization/authorization-service.ts';
import type { CardBindingService } from '../core/binding/binding-service.ts';
import type { StandInProcessor } from '../core/stand-in/stand-in-processor.ts';
import { registerAuthorizationRoutes } from './authorization-routes.ts';
import { registerBindingRoutes } from './binding-routes.ts';
import { registerCardAccountRoutes } from './card-account-routes.ts';
import { registerStandInRoutes } from './stand-in-routes.ts';

/** The services behind the card routes. */
export interface CardRouteServices {
  readonly binding: CardBindingService;
  readonly accounts: CardAccountService;
  readonly authorizations: AuthorizationService;
  readonly standIn: StandInProcessor;
}

/**
 * Registers every card route on `app` (also used to build the OpenAPI document, with the default
 * credit limit approval threshold).
 */
export function registerCardRoutes(
  app: FastifyInstance,
  services: CardRouteServices,
  creditLimitApproval?: CreditLimitApproval,
): void {
  const { binding, accounts, authorizations, standIn } = services;
  registerBindingRoutes(app, binding);
  registerCardAccountRoutes(app, accounts, creditLimitApproval);
  registerAuthorizationRoutes(app, {
    authorize: (request, callerToken) => standIn.authorizeWithToken(request, callerToken),
    getAuthorization: (id, token) => authorizations.getAuthorization(id, token),
    capture: (id, amount, context) => authorizations.capture(id, amount, context),
    reverse: (id, amount, context) => authorizations.reverse(id, amount, context),
  });
  registerStandInRoutes(app, standIn);
}
