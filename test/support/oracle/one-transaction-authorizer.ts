/**
 * The test oracle of the authorization engine: the same money rules written the plain way, one
 * transaction per request (BEGIN; SELECT ... FOR UPDATE; INSERT; UPDATE; COMMIT through
 * `router.write`), on the same tables. It is not shipped: production has one source for each
 * rule, the engine's batch function. The differential test runs one random stream through both
 * and compares every decision and every balance; Double-11 measures the engine against it.
 */
import { isEntityId } from '../../../src/data/entity-id.ts';
import { fingerprintOf, onceInTransaction } from '../../../src/data/idempotency.ts';
import type { Queryable, Router } from '../../../src/data/router.ts';
import type { WriteAnswer, WriteContext } from '../../../src/data/write-contract.ts';
import { authorizationIdOf } from '../../../src/domains/cards/core/authorization/authorization-id.ts';
import type {
  AuthorizationOutcome,
  AuthorizationRequest,
  AuthorizationStatus,
} from '../../../src/domains/cards/core/authorization/authorization-types.ts';
import {
  assertWellFormed,
  isValidAmount,
  rejectionOf,
  requestFingerprintFields,
  unwrittenOutcome,
} from '../../../src/domains/cards/core/authorization/request-validation.ts';
import {
  AUTHORIZATION_COLUMNS,
  type AuthorizationRow,
  outcomeOfRow,
  rowOfStored,
  storedOfRow,
} from '../../../src/domains/cards/store/authorization-row.ts';
import { MainstayError } from '../../../src/errors/mainstay-error.ts';

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

/** Authorizations, captures and reversals, each in one transaction of its own. */
export class OneTransactionAuthorizer {
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

  /** Posts `amount` of the hold (all that is held when `amount` is `null`). */
  capture(id: string, amount: bigint | null, context: WriteContext) {
    return this.#move('capture', id, amount, context);
  }

  /** Releases `amount` of the hold (all that is held when `amount` is `null`). */
  reverse(id: string, amount: bigint | null, context: WriteContext) {
    return this.#move('reverse', id, amount, context);
  }

  async #move(
    kind: 'capture' | 'reverse',
    id: string,
    amount: bigint | null,
    context: WriteContext,
  ): Promise<WriteAnswer<AuthorizationOutcome>> {
    if (!isEntityId(id, 'auth')) throw notFound(id);
    if (amount !== null && !isValidAmount(amount))
      throw new MainstayError('invalid_amount', 'amount must be 1 to 2^53 - 1 minor units');
    const claim = {
      scope: `authorization_${kind}`,
      key: context.idempotencyKey,
      fingerprint: fingerprintOf({ id, amount }),
    };
    const { value, token } = await this.#router.write(
      id,
      async (tx) => {
        // Account first, then the key, then the authorization: the engine's lock order.
        const accountId = await lockAccountOf(tx, id);
        return onceInTransaction(tx, claim, async () => ({
          statusCode: 200,
          body: storedOfRow(await applyChange(tx, kind, id, amount, accountId)),
        }));
      },
      { token: context.token ?? null },
    );
    return { value: outcomeOfRow(rowOfStored(value.body)), token, replayed: value.replayed };
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

/** Locks the account of authorization `id`; `undefined` when there is no such authorization. */
async function lockAccountOf(tx: Queryable, id: string): Promise<string | null | undefined> {
  const found = await tx.query<{ account_id: string | null }>(
    'SELECT account_id FROM public.authorizations WHERE id = $1',
    [id],
  );
  const row = found.rows[0];
  if (row?.account_id)
    await tx.query('SELECT 1 FROM public.card_accounts WHERE id = $1 FOR NO KEY UPDATE', [
      row.account_id,
    ]);
  return row === undefined ? undefined : row.account_id;
}

async function applyChange(
  tx: Queryable,
  kind: 'capture' | 'reverse',
  id: string,
  amount: bigint | null,
  accountId: string | null | undefined,
): Promise<AuthorizationRow> {
  if (accountId === undefined) throw notFound(id);
  const { rows } = await tx.query<{ hold_state: string; held_amount: string; status: string }>(
    'SELECT hold_state, held_amount, status FROM public.authorizations WHERE id = $1 FOR UPDATE',
    [id],
  );
  const current = rows[0];
  if (current?.hold_state !== 'open' || !accountId) {
    throw new MainstayError(
      'state_conflict',
      `authorization ${id} has no open hold (status ${current?.status}, hold ${current?.hold_state})`,
    );
  }
  const held = BigInt(current.held_amount);
  const moved = amount ?? held;
  if (moved > held)
    throw new MainstayError('invalid_amount', `amount ${moved} exceeds the ${held} still held`);
  const column = kind === 'capture' ? 'captured_amount' : 'reversed_amount';
  const updated = await tx.query<AuthorizationRow>(
    `UPDATE public.authorizations
        SET held_amount = held_amount - $2, ${column} = ${column} + $2,
            hold_state = CASE WHEN held_amount = $2 THEN 'closed' ELSE 'open' END,
            updated_at = now()
      WHERE id = $1 RETURNING ${AUTHORIZATION_COLUMNS}`,
    [id, moved.toString()],
  );
  await tx.query(
    `UPDATE public.card_accounts
        SET held = held - $2, posted = posted + $3, updated_at = now() WHERE id = $1`,
    [accountId, moved.toString(), kind === 'capture' ? moved.toString() : '0'],
  );
  return updated.rows[0] as AuthorizationRow;
}

function notFound(id: string): MainstayError {
  return new MainstayError('resource_not_found', `no authorization ${id}`);
}
