/**
 * The staff review queue over HTTP (scope `identity:review`: the compliance and admin roles) and
 * the development outbox (scope `identity:outbox:read`), registered only when the process sends
 * messages through the outbox.
 */
import type { FastifyInstance } from 'fastify';
import { MainstayError } from '../../../../errors/mainstay-error.ts';
import { requires } from '../../../../http/access-control.ts';
import { problemResponses } from '../../../../http/routes/problem-responses.ts';
import {
  answered,
  IDEMPOTENCY_HEADER,
  json,
  ref,
  writeContextOf,
} from '../../../../http/routes/route-helpers.ts';
import { checkPhone } from '../core/customer-input.ts';
import type { KycReviewService, ReviewStatus } from '../core/kyc-review.ts';
import type { OutboxMessageProvider } from '../store/outbox-store.ts';
import {
  CustomerIdParams,
  CustomerPageSchema,
  CustomerSchema,
  OutboxQuery,
  OutboxSchema,
  RejectBody,
  ReviewDocumentsSchema,
  ReviewQuery,
} from './customer-schemas.ts';

const TAGS = ['customers'];
const REVIEW = requires('identity:review');

type Query = { status?: ReviewStatus; limit?: number; startingAfter?: string };
type Params = { customerId: string };

/** Registers the review queue, and the outbox when `outbox` is given. */
export function registerReviewRoutes(
  app: FastifyInstance,
  reviews: KycReviewService,
  outbox: OutboxMessageProvider | null,
): void {
  app.get<{ Querystring: Query }>(
    '/v1/kyc/reviews',
    {
      schema: {
        security: REVIEW,
        summary: 'The KYC review queue (pending by default), personal data masked',
        tags: TAGS,
        querystring: ReviewQuery,
        response: { 200: json(CustomerPageSchema, 'A page of customers.'), ...problemResponses },
      },
    },
    async (request) =>
      reviews.list(
        request.query.status ?? 'pending',
        request.query.limit ?? 20,
        request.query.startingAfter ?? null,
      ),
  );
  app.get<{ Params: Params }>(
    '/v1/kyc/reviews/:customerId/documents',
    {
      schema: {
        security: REVIEW,
        summary:
          'The documents a customer sent for review: kind, media type, size, time; never the content',
        tags: TAGS,
        params: CustomerIdParams,
        response: {
          200: json(ReviewDocumentsSchema, 'The documents, oldest first.'),
          ...problemResponses,
        },
      },
    },
    async (request) => reviews.documents(request.params.customerId),
  );
  registerDecisions(app, reviews);
  if (outbox) registerOutbox(app, outbox);
}

function registerDecisions(app: FastifyInstance, reviews: KycReviewService): void {
  app.post<{ Params: Params }>(
    '/v1/kyc/reviews/:customerId/approve',
    {
      schema: {
        security: REVIEW,
        summary: 'Approve a pending KYC review: level 3, and a payment user of their own',
        tags: TAGS,
        headers: IDEMPOTENCY_HEADER,
        params: CustomerIdParams,
        response: { 200: json(CustomerSchema, 'The customer.'), ...problemResponses },
      },
    },
    async (request, reply) =>
      answered(
        reply,
        await reviews.approve(
          request.params.customerId,
          reviewerOf(request.principal),
          writeContextOf(request),
        ),
        200,
      ),
  );
  app.post<{ Params: Params; Body: { reason: string } }>(
    '/v1/kyc/reviews/:customerId/reject',
    {
      schema: {
        security: REVIEW,
        summary: 'Reject a pending KYC review with a reason; the customer may send documents again',
        tags: TAGS,
        headers: IDEMPOTENCY_HEADER,
        params: CustomerIdParams,
        body: ref(RejectBody),
        response: { 200: json(CustomerSchema, 'The customer.'), ...problemResponses },
      },
    },
    async (request, reply) =>
      answered(
        reply,
        await reviews.reject(
          request.params.customerId,
          request.body.reason,
          reviewerOf(request.principal),
          writeContextOf(request),
        ),
        200,
      ),
  );
}

function registerOutbox(app: FastifyInstance, outbox: OutboxMessageProvider): void {
  app.get<{ Querystring: { phone: string } }>(
    '/v1/identity/outbox',
    {
      schema: {
        security: requires('identity:outbox:read'),
        summary: 'Text messages the development provider "sent" to a phone (development only)',
        description:
          'Newest first, one-time codes included. Registered only when the process sends messages through the development outbox.',
        tags: TAGS,
        querystring: OutboxQuery,
        response: { 200: json(OutboxSchema, 'The messages.'), ...problemResponses },
      },
    },
    async (request) => ({ data: await outbox.read(checkPhone(request.query.phone)) }),
  );
}

/** Who decided: the principal's subject (a staff id for a staff session). */
function reviewerOf(principal: { readonly subject: string } | null): string {
  if (!principal) throw new MainstayError('unauthenticated', 'no principal');
  return principal.subject;
}
