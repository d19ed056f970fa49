import { fingerprintOf } from '../../../../data/idempotency.ts';
import type { Queryable, Router } from '../../../../data/router.ts';
import { MainstayError } from '../../../../errors/mainstay-error.ts';
import {
  AUTHORIZATION_COLUMNS,
  type AuthorizationRow,
  outcomeOfRow,
} from '../../store/authorization-row.ts';
import { authorizationIdOf } from './authorization-id.ts';
import type {
  AuthorizationOutcome,
  AuthorizationRequest,
  AuthorizationStatus,
} from './authorization-types.ts';
import {
  assertWellFormed,
  rejectionOf,
  requestFingerprintFields,
  unwrittenOutcome,
} from './request-validation.ts';

type CardState = {
  account_id: string;
  card_status: string;
  expiry: number;
  velocity_count_max: number;
  velocity_count: number;
  window_open: boolean;
  currency: string;
  account_status: string;
  available: string;
};

/**
 * The baseline the engine is measured against: one transaction per request (BEGIN; SELECT ...
 * FOR UPDATE; INSERT; UPDATE; COMMIT through `router.write`), with the same decisions and the
 * same tables as {@link AuthorizationEngine}. Correct but slow under load: every request pays a
 * commit, and requests on one account queue on its row lock one at a time. Kept for benchmarks
 * (Double-11), not for production.
 */
export class NaiveAuthorizer {
  readonly #router: Router;
  readonly #holdTtlSeconds: number;

  constructor(router: Router, options: { holdTtlSeconds?: number } = {}) {
    this.#router = router;
    this.#holdTtlSeconds = options.holdTtlSeconds ?? 7 * 24 * 60 * 60;
  }

  async authorize(request: AuthorizationRequest): Promise<AuthorizationOutcome> {
    assertWellFormed(request);
    const bucketCount = this.#router.map.snapshot.bucketCount;
    const rejection = rejectionOf(request, bucketCount);
    if (rejection !== null) return unwrittenOutcome(request, rejection, bucketCount);
    const fingerprint = fingerprintOf(requestFingerprintFields(request));
    const { value } = await this.#router.write(request.cardId, (tx) =>
      this.#decide(tx, request, fingerprint),
    );
    return outcomeOfRow(value);
  }

  async #decide(
    tx: Queryable,
    request: AuthorizationRequest,
    fingerprint: string,
  ): Promise<AuthorizationRow> {
    const { rows } = await tx.query<CardState>(
      `SELECT c.account_id, c.status AS card_status, c.expiry_year * 12 + c.expiry_month AS expiry,
              c.velocity_count_max,
              CASE WHEN c.velocity_window_started_at IS NOT NULL AND c.velocity_window_started_at
                   + make_interval(secs => c.velocity_window_seconds) > now()
                   THEN c.velocity_count ELSE 0 END AS velocity_count,
              c.velocity_window_started_at IS NOT NULL AND c.velocity_window_started_at
                   + make_interval(secs => c.velocity_window_seconds) > now() AS window_open,
              a.currency, a.status AS account_status,
              (a.credit_limit - a.held - a.posted)::text AS available
         FROM public.cards c JOIN public.card_accounts a ON a.id = c.account_id
        WHERE c.id = $1 FOR NO KEY UPDATE OF a`,
      [request.cardId],
    );
    const existing = await tx.query<AuthorizationRow & { fingerprint: string }>(
      `SELECT ${AUTHORIZATION_COLUMNS}, fingerprint FROM public.authorizations
        WHERE card_id = $1 AND request_id = $2`,
      [request.cardId, request.requestId],
    );
    const stored = existing.rows[0];
    if (stored) {
      if (stored.fingerprint !== fingerprint)
        throw new MainstayError('idempotency_key_reused', `request id ${request.requestId} reused`);
      return stored;
    }
    const state = rows[0];
    const status = await statusOf(tx, request, state);
    const approved = status === 'approved';
    const inserted = await tx.query<AuthorizationRow>(
      `INSERT INTO public.authorizations (id, request_id, card_id, account_id, status, decided_by,
         amount, currency, merchant_id, merchant_category, merchant_reference, held_amount,
         hold_state, hold_expires_at, fingerprint, created_at)
       VALUES ($1, $2, $3, $4, $5, 'issuer', $6, $7, $8, $9, $10, $11, $12,
         CASE WHEN $12 = 'open' THEN now() + make_interval(secs => $13) END, $14, now())
       RETURNING ${AUTHORIZATION_COLUMNS}`,
      [
        authorizationIdOf(
          request.cardId,
          request.requestId,
          this.#router.map.bucketOf(request.cardId),
        ),
        request.requestId,
        request.cardId,
        state?.account_id ?? null,
        status,
        request.amount.toString(),
        request.currency,
        request.merchantId,
        request.merchantCategory,
        request.merchantReference ?? null,
        approved ? request.amount.toString() : '0',
        approved ? 'open' : 'none',
        this.#holdTtlSeconds,
        fingerprint,
      ],
    );
    if (approved && state) {
      await tx.query('UPDATE public.card_accounts SET held = held + $2 WHERE id = $1', [
        state.account_id,
        request.amount.toString(),
      ]);
      await tx.query(
        `UPDATE public.cards SET velocity_count = $2,
           velocity_window_started_at = CASE WHEN $3 THEN velocity_window_started_at ELSE now() END
         WHERE id = $1`,
        [request.cardId, state.velocity_count + 1, state.window_open],
      );
    }
    return inserted.rows[0] as AuthorizationRow;
  }
}

async function statusOf(
  tx: Queryable,
  request: AuthorizationRequest,
  state: CardState | undefined,
): Promise<AuthorizationStatus> {
  if (!state) return 'unknown_card';
  const now = new Date();
  if (state.account_status !== 'open') return 'account_closed';
  if (state.card_status === 'blocked') return 'card_blocked';
  if (state.expiry < now.getUTCFullYear() * 12 + now.getUTCMonth() + 1) return 'card_expired';
  if (request.currency !== state.currency) return 'currency_mismatch';
  if (request.merchantReference) {
    const { rowCount } = await tx.query(
      `SELECT 1 FROM public.authorizations WHERE card_id = $1 AND merchant_id = $2
          AND merchant_reference = $3 AND status = 'approved' LIMIT 1`,
      [request.cardId, request.merchantId, request.merchantReference],
    );
    if (rowCount) return 'duplicate';
  }
  if (state.velocity_count >= state.velocity_count_max) return 'velocity_exceeded';
  if (request.amount > BigInt(state.available)) return 'insufficient_credit';
  return 'approved';
}
