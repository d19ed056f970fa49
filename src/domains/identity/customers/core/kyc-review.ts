/**
 * The staff review queue: customers whose bank card is verified and who sent documents wait as
 * `pending`; a reviewer (scope `identity:review`) approves them, which makes them level 3, or
 * rejects them with a reason, which they see and may answer by sending documents again.
 *
 * An approved customer gets a payment user of their own through {@link PaymentUserPort} (the
 * cards domain's, wired by the module), created under an idempotency key derived from the
 * customer, so a retried approval finds the same user. Its id is kept on the customer and is the
 * one payment user a customer's session may act on.
 */
import { isEntityId, taggedBucket } from '../../../../data/entity-id.ts';
import { fingerprintOf, onceInTransaction } from '../../../../data/idempotency.ts';
import type { Queryable, Router } from '../../../../data/router.ts';
import type { Page, WriteAnswer, WriteContext } from '../../../../data/write-contract.ts';
import { MainstayError } from '../../../../errors/mainstay-error.ts';
import type { SecretsPort } from '../../../../secrets/secrets-port.ts';
import { identityError } from '../../errors.ts';
import {
  CUSTOMER_COLUMNS,
  type CustomerRow,
  selectCustomer,
  updateCustomer,
} from '../store/customer-store.ts';
import { CustomerKeys } from './customer-keys.ts';
import { type CustomerRecord, recordOf } from './customer-record.ts';

/** Creates a payment user (the cards domain's `POST /v1/users`), idempotent by key. */
export interface PaymentUserPort {
  create(input: { readonly fullName: string }, context: WriteContext): Promise<{ id: string }>;
}

export type ReviewStatus = 'pending' | 'approved' | 'rejected';

/** A document a customer sent, as a reviewer sees it: what it is, not what it holds. */
export interface ReviewDocument {
  readonly id: string;
  readonly kind: string;
  readonly mediaType: string;
  readonly sizeBytes: number;
  readonly createdAt: string;
}

export class KycReviewService {
  readonly #router: Router;
  readonly #secrets: SecretsPort;
  readonly #paymentUsers: PaymentUserPort | null;

  constructor(router: Router, secrets: SecretsPort, paymentUsers: PaymentUserPort | null) {
    this.#router = router;
    this.#secrets = secrets;
    this.#paymentUsers = paymentUsers;
  }

  /** One page of customers in a review state, by id, across every shard; masked. */
  async list(
    status: ReviewStatus,
    limit: number,
    startingAfter: string | null,
  ): Promise<Page<CustomerRecord>> {
    const keys = await CustomerKeys.of(this.#secrets);
    const perShard = await Promise.all(
      [...this.#router.map.shardIds].map(async (shardId) => {
        const { value } = await this.#router.readShard(
          shardId,
          (db) =>
            db.query<CustomerRow>(
              `SELECT ${CUSTOMER_COLUMNS} FROM public.identity_customers
               WHERE review_status = $1 AND ($2::text IS NULL OR customer_id > $2)
               ORDER BY customer_id LIMIT $3`,
              [status, startingAfter, limit + 1],
            ),
          { consistency: 'primary' },
        );
        return value.rows;
      }),
    );
    const rows = perShard.flat().sort((a, b) => (a.customer_id < b.customer_id ? -1 : 1));
    const data = rows.slice(0, limit).map((row) => recordOf(row, keys));
    const hasMore = rows.length > limit;
    return { data, hasMore, nextCursor: hasMore ? (data.at(-1)?.id ?? null) : null };
  }

  /**
   * The queue in figures, across every shard: how many customers are in each review state and
   * when the newest review was asked for (a live view reads the queue again when they change).
   */
  async summary(): Promise<{
    pending: number;
    approved: number;
    rejected: number;
    latestRequestedAt: string | null;
  }> {
    const perShard = await Promise.all(
      [...this.#router.map.shardIds].map(async (shardId) => {
        const { value } = await this.#router.readShard(
          shardId,
          (db) =>
            db.query<{ review_status: ReviewStatus; n: number; latest: Date | null }>(
              `SELECT review_status, count(*)::int AS n, max(review_requested_at) AS latest
               FROM public.identity_customers WHERE review_status <> 'none'
               GROUP BY review_status`,
            ),
          { consistency: 'primary' },
        );
        return value.rows;
      }),
    );
    const totals = {
      pending: 0,
      approved: 0,
      rejected: 0,
      latestRequestedAt: null as string | null,
    };
    for (const row of perShard.flat()) {
      totals[row.review_status] += row.n;
      const latest = row.latest === null ? null : new Date(row.latest).toISOString();
      if (latest !== null && (totals.latestRequestedAt ?? '') < latest)
        totals.latestRequestedAt = latest;
    }
    return totals;
  }

  /** Approves a pending review: level 3, and the customer's own payment user. */
  async approve(
    customerId: string,
    reviewer: string,
    context: WriteContext,
  ): Promise<WriteAnswer<CustomerRecord>> {
    const keys = await CustomerKeys.of(this.#secrets);
    const before = await this.#row(customerId);
    let paymentUserId = before.payment_user_id;
    if (before.review_status === 'pending' && paymentUserId === null && this.#paymentUsers) {
      const fullName = keys.open(customerId, 'fullName', before.full_name_sealed ?? '');
      const user = await this.#paymentUsers.create(
        { fullName },
        { idempotencyKey: `customer-payment-user:${customerId}`, token: context.token ?? null },
      );
      paymentUserId = user.id;
    }
    return this.#decide(customerId, context, { decision: 'approve' }, (tx) =>
      updateCustomer(
        tx,
        customerId,
        `review_status = 'approved', kyc_level = 3, reviewed_at = now(), reviewed_by = $2,
         review_reason = NULL, payment_user_id = coalesce(payment_user_id, $3)`,
        [reviewer, paymentUserId],
        `review_status = 'pending' AND card_verified_at IS NOT NULL`,
      ),
    );
  }

  /** Rejects a pending review with a reason the customer sees; they may send documents again. */
  async reject(
    customerId: string,
    reason: string,
    reviewer: string,
    context: WriteContext,
  ): Promise<WriteAnswer<CustomerRecord>> {
    const text = reason.trim();
    if (text.length === 0 || text.length > 1000) {
      throw new MainstayError('invalid_request', 'invalid reason', {
        errors: [{ pointer: '/reason', detail: 'must be 1 to 1000 characters' }],
      });
    }
    return this.#decide(customerId, context, { decision: 'reject', reason: text }, (tx) =>
      updateCustomer(
        tx,
        customerId,
        `review_status = 'rejected', reviewed_at = now(), reviewed_by = $2, review_reason = $3`,
        [reviewer, text],
        `review_status = 'pending'`,
      ),
    );
  }

  async #decide(
    customerId: string,
    context: WriteContext,
    request: Record<string, string>,
    update: (tx: Queryable) => Promise<CustomerRow | null>,
  ): Promise<WriteAnswer<CustomerRecord>> {
    this.#checkId(customerId);
    const keys = await CustomerKeys.of(this.#secrets);
    const claim = {
      scope: `kyc_review:${customerId}`,
      key: context.idempotencyKey,
      fingerprint: fingerprintOf(request),
    };
    const result = await this.#router.write(
      customerId,
      (tx) =>
        onceInTransaction(tx, claim, async () => {
          const row = await update(tx);
          if (!row) {
            throw identityError(
              'kyc_state_conflict',
              `the review of ${customerId} is not pending; only a pending review is decided`,
            );
          }
          return { statusCode: 200, body: recordOf(row, keys) };
        }),
      { token: context.token ?? null },
    );
    return { value: result.value.body, token: result.token, replayed: result.value.replayed };
  }

  /**
   * What a customer sent for review: each document's kind, media type, size and time, oldest
   * first; never its content (`resource_not_found` for an unknown customer).
   */
  async documents(customerId: string): Promise<{ data: ReviewDocument[] }> {
    await this.#row(customerId);
    const { value } = await this.#router.read(
      customerId,
      (db) =>
        db.query<{
          document_id: string;
          kind: string;
          media_type: string;
          size_bytes: number;
          created_at: Date;
        }>(
          `SELECT document_id, kind, media_type, size_bytes, created_at
           FROM public.identity_customer_documents WHERE customer_id = $1
           ORDER BY created_at, document_id`,
          [customerId],
        ),
      { consistency: 'primary' },
    );
    return {
      data: value.rows.map((row) => ({
        id: row.document_id,
        kind: row.kind,
        mediaType: row.media_type,
        sizeBytes: row.size_bytes,
        createdAt: new Date(row.created_at).toISOString(),
      })),
    };
  }

  /** `resource_not_found` for an id no customer of this fleet can have. */
  #checkId(customerId: string): void {
    const bucket = taggedBucket(customerId);
    if (
      !isEntityId(customerId, 'cus') ||
      bucket === null ||
      bucket >= this.#router.map.snapshot.bucketCount
    )
      throw new MainstayError('resource_not_found', `no customer ${customerId}`);
  }

  async #row(customerId: string): Promise<CustomerRow> {
    this.#checkId(customerId);
    const { value } = await this.#router.read(customerId, (db) => selectCustomer(db, customerId), {
      consistency: 'primary',
    });
    if (!value) throw new MainstayError('resource_not_found', `no customer ${customerId}`);
    return value;
  }
}
