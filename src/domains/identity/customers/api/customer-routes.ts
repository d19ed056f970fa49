/**
 * Customers over HTTP: registration, the phone code, login (public, rate-limited per address
 * and per phone number), logout and the KYC steps of a customer's own session (scope
 * `customers:self`), the staff review queue (scope `identity:review`) and, in development, the
 * message outbox. Writes take an `Idempotency-Key`; login does not (like the staff login, a
 * retry opens another session and the token is never stored for a replay).
 *
 * The three public routes are in the audit trail on every call (`audit: 'always'`), with the
 * phone masked: a success under the customer, a failure under `anonymous@<address>` with the
 * customer's id when the phone is known (see staff-routes.ts for why not under the customer).
 */
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { MainstayError } from '../../../../errors/mainstay-error.ts';
import { PUBLIC, requires } from '../../../../http/access-control.ts';
import { problemResponses } from '../../../../http/routes/problem-responses.ts';
import {
  answered,
  IDEMPOTENCY_HEADER,
  json,
  ref,
  writeContextOf,
} from '../../../../http/routes/route-helpers.ts';
import { ACCOUNT_WINDOW_MS, accountLimiter } from '../../api/account-limits.ts';
import type { AccountTrace } from '../../core/login-trace.ts';
import { type IdType, PHONE_PATTERN } from '../core/customer-input.ts';
import type { CustomerService } from '../core/customer-service.ts';
import { CUSTOMER_SELF_SCOPE } from '../core/kyc-levels.ts';
import type { KycReviewService } from '../core/kyc-review.ts';
import type { KycService } from '../core/kyc-service.ts';
import { maskPhone } from '../core/masking.ts';
import type { OutboxMessageProvider } from '../store/outbox-store.ts';
import {
  BankCardBody,
  CUSTOMER_SHARED_SCHEMAS,
  CustomerLoginBody,
  CustomerSchema,
  CustomerSessionSchema,
  DocumentAnswerSchema,
  DocumentBody,
  PhoneVerifiedSchema,
  RealNameBody,
  RegisterCustomerBody,
  RegistrationSchema,
  VerifyPhoneBody,
} from './customer-schemas.ts';
import { registerReviewRoutes } from './review-routes.ts';

/** Attempts one address may make per minute on each public customer route. */
export const CUSTOMER_ATTEMPTS_PER_MINUTE = 30;
/** Registrations (each sends a code or a notice) naming one phone number, per window. */
export const CODES_SENT_PER_PHONE = 5;
/** Code checks naming one phone number, from any address, per window. */
export const CODE_CHECKS_PER_PHONE = 10;
/** Logins naming one phone number, from any address, per window ({@link ACCOUNT_WINDOW_MS}). */
export const LOGINS_PER_PHONE = 10;

/** What the customer routes call; `outbox` only with the development message provider. */
export interface CustomerServices {
  readonly customers: CustomerService;
  readonly kyc: KycService;
  readonly reviews: KycReviewService;
  readonly outbox: OutboxMessageProvider | null;
}

const TAGS = ['customers'];
const SELF = requires(CUSTOMER_SELF_SCOPE);
const LIMITED = {
  audit: 'always',
  rateLimit: { max: CUSTOMER_ATTEMPTS_PER_MINUTE, timeWindow: 60_000 },
} as const;
const WINDOW_MINUTES = ACCOUNT_WINDOW_MS / 60_000;

/** Registers the customer routes in a scope of their own (with the rate limiter if absent). */
export async function registerCustomerRoutes(
  app: FastifyInstance,
  services: CustomerServices,
): Promise<void> {
  await app.register(async (scope) => {
    for (const schema of CUSTOMER_SHARED_SCHEMAS) scope.addSchema(schema);
    if (!scope.hasDecorator('rateLimit')) {
      await scope.register(rateLimit, {
        global: false,
        errorResponseBuilder: (_request, context) =>
          new MainstayError(
            'rate_limited',
            `at most ${context.max} attempts a minute from one address; retry after ${context.after}`,
          ),
      });
    }
    registerPublicRoutes(scope, services.customers);
    registerSelfRoutes(scope, services);
    registerReviewRoutes(scope, services.reviews, services.outbox);
  });
}

/** The customer id of a customer's session; other credentials are refused. */
function customerOf(request: FastifyRequest): string {
  const principal = request.principal;
  if (principal?.kind !== 'customer') {
    throw new MainstayError(
      'insufficient_scope',
      'This route acts for a customer: log in with POST /v1/customers/sessions and send its token.',
    );
  }
  return principal.subject;
}

function registerPublicRoutes(app: FastifyInstance, customers: CustomerService): void {
  registerRegistration(app, customers);
  registerVerifyPhone(app, customers);
  registerLogin(app, customers);
}

/** The phone number a public call names, as counted per phone; `null` when it is not E.164. */
function phoneOf(request: FastifyRequest): string | null {
  const phone = (request.body as { phone?: unknown } | undefined)?.phone;
  return typeof phone === 'string' && PHONE_PATTERN.test(phone) ? `phone:${phone}` : null;
}

/** A per-phone limit of `max` calls in the window. */
const perPhone = (app: FastifyInstance, max: number) =>
  accountLimiter(app, { max, windowMs: ACCOUNT_WINDOW_MS, per: 'phone number' }, phoneOf);

/**
 * Runs a public call and names it for the audit trail, the phone masked: on success under the
 * customer the trace found; on failure under the hook's `anonymous@<address>`, with the
 * customer's id (when the phone is known) and the reason in the detail.
 */
async function audited<T>(
  request: FastifyRequest,
  phone: string,
  call: (trace: AccountTrace) => Promise<T>,
): Promise<T> {
  const trace: AccountTrace = {};
  try {
    const answer = await call(trace);
    const { account, ...facts } = trace;
    if (account !== undefined) request.auditActor = { kind: 'customer', subject: account };
    request.auditDetail = factsOf(phone, facts);
    return answer;
  } catch (error) {
    request.auditDetail = factsOf(phone, trace);
    throw error;
  }
}

/**
 * The text facts of an audit entry: never the phone in full (nor text that is not a phone
 * number), a password or a code.
 */
function factsOf(phone: string, trace: AccountTrace): Record<string, string> {
  const facts: Record<string, string> = PHONE_PATTERN.test(phone)
    ? { phone: maskPhone(phone) }
    : {};
  if (trace.account !== undefined) facts.account = trace.account;
  if (trace.reason !== undefined) facts.reason = trace.reason;
  if (trace.sent !== undefined) facts.sent = trace.sent;
  return facts;
}

function registerRegistration(app: FastifyInstance, customers: CustomerService): void {
  app.post<{ Body: { phone: string; password: string } }>(
    '/v1/customers',
    {
      config: LIMITED,
      preHandler: perPhone(app, CODES_SENT_PER_PHONE),
      schema: {
        security: PUBLIC,
        summary: 'Register a customer (phone and password); a code is sent by text message',
        description: `Always \`202\` with the same answer, whether the phone is new or registered: a registered phone gets a notice instead of a code. Codes have 6 digits and last 5 minutes. At most ${CODES_SENT_PER_PHONE} registrations of one phone number in ${WINDOW_MINUTES} minutes, and ${CUSTOMER_ATTEMPTS_PER_MINUTE} a minute from one address (\`429 rate_limited\`).`,
        tags: TAGS,
        headers: IDEMPOTENCY_HEADER,
        body: ref(RegisterCustomerBody),
        response: { 202: json(RegistrationSchema, 'A code was sent.'), ...problemResponses },
      },
    },
    async (request, reply) => {
      const answer = await audited(request, request.body.phone, (trace) =>
        customers.register(request.body, writeContextOf(request), trace),
      );
      return answered(reply, answer, 202);
    },
  );
}

function registerVerifyPhone(app: FastifyInstance, customers: CustomerService): void {
  app.post<{ Body: { phone: string; code: string } }>(
    '/v1/customers/verify-phone',
    {
      config: LIMITED,
      preHandler: perPhone(app, CODE_CHECKS_PER_PHONE),
      schema: {
        security: PUBLIC,
        summary: 'Confirm the phone with its code: KYC level 1',
        description: `A wrong code is \`phone_code_invalid\` (5 wrong tries void the code); the right code used before, expired or voided is \`phone_code_used\`, \`phone_code_expired\`, \`phone_code_attempts_exceeded\`. At most ${CODE_CHECKS_PER_PHONE} checks for one phone number in ${WINDOW_MINUTES} minutes (\`429 rate_limited\`).`,
        tags: TAGS,
        headers: IDEMPOTENCY_HEADER,
        body: ref(VerifyPhoneBody),
        response: {
          200: json(PhoneVerifiedSchema, 'The phone is confirmed.'),
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      const answer = await audited(request, request.body.phone, (trace) =>
        customers.verifyPhone(request.body, writeContextOf(request), trace),
      );
      return answered(reply, answer, 200);
    },
  );
}

function registerLogin(app: FastifyInstance, customers: CustomerService): void {
  app.post<{ Body: { phone: string; password: string } }>(
    '/v1/customers/sessions',
    {
      config: LIMITED,
      preHandler: perPhone(app, LOGINS_PER_PHONE),
      schema: {
        security: PUBLIC,
        summary: 'Log in as a customer (phone and password)',
        description: `Every failure is \`401 login_failed\`. Five failures in a row lock the account for 15 minutes; a phone not yet confirmed cannot log in. At most ${LOGINS_PER_PHONE} logins naming one phone number (registered or not) in ${WINDOW_MINUTES} minutes (\`429 rate_limited\`).`,
        tags: TAGS,
        body: ref(CustomerLoginBody),
        response: { 201: json(CustomerSessionSchema, 'The session.'), ...problemResponses },
      },
    },
    async (request, reply) => {
      const { sessionId, ...session } = await audited(request, request.body.phone, (trace) =>
        customers.login(request.body, request.ip, trace),
      );
      request.auditDetail = { ...request.auditDetail, session: sessionId };
      reply.code(201);
      return session;
    },
  );
}

function registerLogout(app: FastifyInstance, customers: CustomerService): void {
  app.delete(
    '/v1/customers/me/sessions/current',
    {
      schema: {
        security: SELF,
        summary: "Log out: end the customer's session",
        description:
          'The token is refused (`401 invalid_token`) from this answer on by the process that answered, and by every other within 5 seconds.',
        tags: TAGS,
        response: { 204: { description: 'Ended.', type: 'null' }, ...problemResponses },
      },
    },
    async (request, reply) => {
      customerOf(request);
      const sessionId = request.principal?.sessionId;
      if (sessionId) {
        await customers.logout(sessionId);
        request.auditDetail = { session: sessionId };
      }
      reply.code(204);
    },
  );
}

function registerSelfRoutes(app: FastifyInstance, services: CustomerServices): void {
  app.get(
    '/v1/customers/me',
    {
      schema: {
        security: SELF,
        summary: "The customer's own record, personal data masked",
        tags: TAGS,
        response: { 200: json(CustomerSchema, 'The customer.'), ...problemResponses },
      },
    },
    async (request) => services.customers.me(customerOf(request)),
  );
  registerLogout(app, services.customers);
  app.post<{ Body: { fullName: string; idNumber: string; idType: IdType } }>(
    '/v1/customers/me/real-name',
    {
      schema: {
        security: SELF,
        summary: 'Verify the real name: KYC level 2',
        description:
          'cn_resident: the 18-character resident identity number (check digit and birth date checked); generic: 5 to 32 letters and digits. Sealed at rest; answered masked. A number another customer holds is `409 id_number_in_use`.',
        tags: TAGS,
        headers: IDEMPOTENCY_HEADER,
        body: ref(RealNameBody),
        response: { 200: json(CustomerSchema, 'The customer.'), ...problemResponses },
      },
    },
    async (request, reply) =>
      answered(
        reply,
        await services.kyc.realName(customerOf(request), request.body, writeContextOf(request)),
        200,
      ),
  );
  app.post<{ Body: { cardNumber: string } }>(
    '/v1/customers/me/bank-card',
    {
      schema: {
        security: SELF,
        summary: 'Verify a bank card (four elements) at KYC level 2',
        description:
          "The bank checks the card against the customer's verified name, identity number and phone. Only the last four digits and a keyed hash are kept.",
        tags: TAGS,
        headers: IDEMPOTENCY_HEADER,
        body: ref(BankCardBody),
        response: { 200: json(CustomerSchema, 'The customer.'), ...problemResponses },
      },
    },
    async (request, reply) =>
      answered(
        reply,
        await services.kyc.bankCard(customerOf(request), request.body, writeContextOf(request)),
        200,
      ),
  );
  registerDocumentRoute(app, services.kyc);
}

function registerDocumentRoute(app: FastifyInstance, kyc: KycService): void {
  app.post<{
    Body: {
      kind: 'id_front' | 'id_back' | 'selfie' | 'proof_of_address';
      mediaType: string;
      contentBase64: string;
    };
  }>(
    '/v1/customers/me/documents',
    {
      schema: {
        security: SELF,
        summary: 'Send a KYC document (sealed at rest)',
        description:
          'At most 512 KiB decoded; JPEG, PNG or PDF. Once the bank card is verified, a document puts the customer in the staff review queue (again after a rejection).',
        tags: TAGS,
        headers: IDEMPOTENCY_HEADER,
        body: ref(DocumentBody),
        response: { 201: json(DocumentAnswerSchema, 'The document.'), ...problemResponses },
      },
    },
    async (request, reply) =>
      answered(
        reply,
        await kyc.document(customerOf(request), request.body, writeContextOf(request)),
        201,
      ),
  );
}
