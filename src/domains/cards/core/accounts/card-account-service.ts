import { isEntityId, newEntityId, taggedBucket } from '../../../../data/entity-id.ts';
import { fingerprintOf, onceInTransaction } from '../../../../data/idempotency.ts';
import type { Queryable, Router } from '../../../../data/router.ts';
import type { ConsistencyLevel } from '../../../../data/router-options.ts';
import type { TokenText, WriteAnswer, WriteContext } from '../../../../data/write-contract.ts';
import { MainstayError } from '../../../../errors/mainstay-error.ts';
import { cardError } from '../../errors.ts';
import {
  ISSUED_CARD_BRANDS as CARD_BRANDS,
  type IssuedCardBrand as CardBrand,
  generateCardNumber,
} from '../card-number.ts';
import {
  CARD_CURRENCIES,
  type Card,
  type CardAccount,
  type CardAccountStatus,
  type CardStanding,
} from './card-account-types.ts';

/** The largest credit limit: 2^53 - 1 minor units, so it survives JSON. */
const CREDIT_LIMIT_MAX = BigInt(Number.MAX_SAFE_INTEGER);
/** Bounds of a card's velocity rule. */
const VELOCITY_COUNT_MAX = 1_000_000;
const VELOCITY_WINDOW_SECONDS_MAX = 31 * 24 * 60 * 60;
/** A new card is valid through this many months from now unless told otherwise. */
const CARD_VALIDITY_MONTHS_DEFAULT = 36;

/** Options of {@link CardAccountService.issueCard}; defaults in parentheses. */
export interface IssueCardOptions {
  /** (`visa`) */
  readonly brand?: CardBrand;
  /** Expiry month 1-12 and year; (36 months from now). */
  readonly expiryMonth?: number;
  readonly expiryYear?: number;
  /** Approved authorizations allowed per window (100 per 3600 s). */
  readonly velocityCountMax?: number;
  readonly velocityWindowSeconds?: number;
}

/**
 * A new credit limit for an account: minor units of the account's own currency, which the
 * caller names so that a limit meant in fen is never set on a yen account.
 */
export interface CreditLimitChange {
  readonly currency: string;
  readonly creditLimit: bigint;
}

type AccountRow = {
  id: string;
  currency: string;
  credit_limit: string;
  held: string;
  posted: string;
  status: string;
  created_at: Date | string;
};
type CardRow = {
  id: string;
  account_id: string;
  status: string;
  brand: string;
  last4: string;
  expiry_month: number;
  expiry_year: number;
  velocity_count_max: number;
  velocity_window_seconds: number;
  created_at: Date | string;
};
const ACCOUNT_COLUMNS = 'id, currency, credit_limit, held, posted, status, created_at';
const CARD_COLUMNS =
  'id, account_id, status, brand, last4, expiry_month, expiry_year, velocity_count_max, ' +
  'velocity_window_seconds, created_at';

/**
 * Card accounts and their cards. Writes run in one shard transaction with their idempotency
 * record (`onceInTransaction`), so a retry with the same key gets the first answer, and return
 * the router's consistency token; reads take a token to see those writes.
 *
 * An account's bucket is derived from the hash of its creation key rather than drawn at
 * random: uniform all the same, but a retry lands on the shard that holds the first attempt's
 * idempotency record. Cards are minted in their account's bucket, so card, account and the
 * card's authorizations share a shard and one transaction can lock them all.
 */
export class CardAccountService {
  readonly #router: Router;

  constructor(router: Router) {
    this.#router = router;
  }

  /**
   * Whether `id` is an id of type `prefix` that this fleet could hold: one carrying a bucket
   * past the shard map names nothing, and is not found like any other unknown id.
   */
  #canExist(id: string, prefix: 'acct' | 'card'): boolean {
    const bucket = isEntityId(id, prefix) ? taggedBucket(id) : null;
    return bucket !== null && bucket < this.#router.map.snapshot.bucketCount;
  }

  /** Opens an account with a credit limit (minor units, 0 .. 2^53 - 1) in `currency`. */
  async createAccount(
    input: { readonly currency: string; readonly creditLimit: bigint },
    context: WriteContext,
  ): Promise<WriteAnswer<CardAccount>> {
    const { idempotencyKey } = context;
    if (!(CARD_CURRENCIES as readonly string[]).includes(input.currency))
      throw new MainstayError('currency_unsupported', `currency ${input.currency} is not offered`);
    const limit = input.creditLimit;
    assertCreditLimit(limit);
    const bucket = this.#router.map.bucketOf(`card_account_create:${idempotencyKey}`);
    const id = newEntityId('acct', bucket);
    const claim = {
      scope: 'card_account_create',
      key: idempotencyKey,
      fingerprint: fingerprintOf(input),
    };
    const result = await this.#router.write(
      id,
      (tx) =>
        onceInTransaction(tx, claim, async () => {
          const { rows } = await tx.query<AccountRow>(
            `INSERT INTO public.card_accounts (id, currency, credit_limit) VALUES ($1, $2, $3)
           RETURNING ${ACCOUNT_COLUMNS}`,
            [id, input.currency, limit.toString()],
          );
          return { statusCode: 201, body: rows[0] as AccountRow };
        }),
      { token: context.token ?? null },
    );
    return answer(result, accountOf);
  }

  /** One account (`resource_not_found` when there is none). */
  async getAccount(id: string, token?: string | null): Promise<CardAccount> {
    if (!this.#canExist(id, 'acct')) throw notFound('account', id);
    const { value } = await this.#router.read(
      id,
      (db) =>
        db.query<AccountRow>(`SELECT ${ACCOUNT_COLUMNS} FROM public.card_accounts WHERE id = $1`, [
          id,
        ]),
      { token: token ?? null },
    );
    const row = value.rows[0];
    if (!row) throw notFound('account', id);
    return accountOf(row);
  }

  /** Closes an account: its cards are declined with `account_closed` from then on. */
  async closeAccount(id: string, context: WriteContext): Promise<WriteAnswer<CardAccount>> {
    if (!this.#canExist(id, 'acct')) throw notFound('account', id);
    const claim = {
      scope: 'card_account_close',
      key: context.idempotencyKey,
      fingerprint: fingerprintOf({ id }),
    };
    const result = await this.#router.write(
      id,
      (tx) =>
        onceInTransaction(tx, claim, async () => {
          const { rows } = await tx.query<AccountRow>(
            `UPDATE public.card_accounts SET status = 'closed', updated_at = now() WHERE id = $1
           RETURNING ${ACCOUNT_COLUMNS}`,
            [id],
          );
          if (!rows[0]) throw notFound('account', id);
          return { statusCode: 200, body: rows[0] };
        }),
      { token: context.token ?? null },
    );
    return answer(result, accountOf);
  }

  /**
   * Sets an open account's credit limit, idempotent by the context's key: one transaction on
   * the account's shard that locks the account row (`FOR NO KEY UPDATE`, the lock the
   * authorization engine's batch function takes when it loads its accounts) and updates it. A
   * batch that loads the account before this commits decides on the old limit and holds the row
   * until it commits, so this waits for it; a batch that loads it after decides on the new one:
   * each batch reads limit, held and posted from one row version, never a mix.
   *
   * Lowering the limit below what the account uses (held plus posted) is allowed, as a bank
   * cuts a line for risk whether or not the customer has repaid: available credit is then
   * negative, every new authorization is declined (`insufficient_credit`, 51) until repayments
   * or released holds bring the use under the limit, and holds already approved can still be
   * captured. Nothing else changes (holds, posted amounts, cards).
   *
   * `invalid_amount` outside 0 .. 2^53 - 1; `currency_unsupported` when `currency` is not the
   * account's; `resource_not_found`; `state_conflict` on a closed account. Whether the change
   * needs a second person is the route's business (maker-checker), not this method's.
   */
  async setCreditLimit(
    id: string,
    change: CreditLimitChange,
    context: WriteContext,
  ): Promise<WriteAnswer<CardAccount>> {
    assertCreditLimit(change.creditLimit);
    if (!this.#canExist(id, 'acct')) throw notFound('account', id);
    const claim = {
      scope: 'card_account_credit_limit',
      key: context.idempotencyKey,
      fingerprint: fingerprintOf({ id, ...change }),
    };
    const result = await this.#router.write(
      id,
      (tx) =>
        onceInTransaction(tx, claim, async () => {
          const { rows: locked } = await tx.query<AccountRow>(
            `SELECT ${ACCOUNT_COLUMNS} FROM public.card_accounts WHERE id = $1 FOR NO KEY UPDATE`,
            [id],
          );
          assertLimitSettable(id, locked[0], change);
          const { rows } = await tx.query<AccountRow>(
            `UPDATE public.card_accounts SET credit_limit = $2, updated_at = now() WHERE id = $1
           RETURNING ${ACCOUNT_COLUMNS}`,
            [id, change.creditLimit.toString()],
          );
          return { statusCode: 200, body: rows[0] as AccountRow };
        }),
      { token: context.token ?? null },
    );
    return answer(result, accountOf);
  }

  /**
   * Refuses, on the account's primary and without writing, a change {@link setCreditLimit}
   * would refuse, so a change that waits for a second person is refused at once rather than
   * after the approval. The write checks again: the account may change in between.
   */
  async checkCreditLimitChange(id: string, change: CreditLimitChange): Promise<void> {
    assertCreditLimit(change.creditLimit);
    if (!this.#canExist(id, 'acct')) throw notFound('account', id);
    const { value } = await this.#router.read(
      id,
      (db) =>
        db.query<AccountRow>(`SELECT ${ACCOUNT_COLUMNS} FROM public.card_accounts WHERE id = $1`, [
          id,
        ]),
      { consistency: 'primary' },
    );
    assertLimitSettable(id, value.rows[0], change);
  }

  /**
   * Issues a card on an open account: a fresh Luhn-valid number of which only the brand and
   * last four digits are kept. `state_conflict` on a closed account.
   */
  async issueCard(
    accountId: string,
    options: IssueCardOptions,
    context: WriteContext,
  ): Promise<WriteAnswer<Card>> {
    if (!this.#canExist(accountId, 'acct')) throw notFound('account', accountId);
    const card = cardSettings(options);
    const id = newEntityId('card', this.#router.map.bucketOf(accountId));
    const claim = {
      scope: 'card_issue',
      key: context.idempotencyKey,
      fingerprint: fingerprintOf({ accountId, ...options }),
    };
    const result = await this.#router.write(
      accountId,
      (tx) =>
        onceInTransaction(tx, claim, async () => {
          await assertAccountOpen(tx, accountId);
          const last4 = generateCardNumber(card.brand).slice(-4);
          const { rows } = await tx.query<CardRow>(
            `INSERT INTO public.cards (id, account_id, brand, last4, expiry_month, expiry_year,
             velocity_count_max, velocity_window_seconds)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${CARD_COLUMNS}`,
            [
              id,
              accountId,
              card.brand,
              last4,
              card.expiryMonth,
              card.expiryYear,
              card.velocityCountMax,
              card.velocityWindowSeconds,
            ],
          );
          return { statusCode: 201, body: rows[0] as CardRow };
        }),
      { token: context.token ?? null },
    );
    return answer(result, cardOf);
  }

  /** One card (`resource_not_found` when there is none). */
  async getCard(id: string, token?: string | null): Promise<Card> {
    if (!this.#canExist(id, 'card')) throw notFound('card', id);
    const { value } = await this.#router.read(
      id,
      (db) => db.query<CardRow>(`SELECT ${CARD_COLUMNS} FROM public.cards WHERE id = $1`, [id]),
      { token: token ?? null },
    );
    const row = value.rows[0];
    if (!row) throw notFound('card', id);
    return cardOf(row);
  }

  /**
   * A card with what an authorization needs of its account (currency, status), in one read;
   * `null` when there is no such card. Stand-in reads it at `any` consistency: however far
   * behind, a replica's card state beats none when the primary is down.
   */
  async findCardStanding(
    id: string,
    consistency: ConsistencyLevel = 'session',
  ): Promise<CardStanding | null> {
    if (!this.#canExist(id, 'card')) return null;
    const { value } = await this.#router.read(
      id,
      (db) =>
        db.query<CardRow & { currency: string; account_status: string }>(
          `SELECT ${prefixed('c', CARD_COLUMNS)}, a.currency, a.status AS account_status
             FROM public.cards c JOIN public.card_accounts a ON a.id = c.account_id
            WHERE c.id = $1`,
          [id],
        ),
      { consistency },
    );
    const row = value.rows[0];
    if (!row) return null;
    return {
      card: cardOf(row),
      currency: row.currency,
      accountStatus: row.account_status as CardAccountStatus,
    };
  }

  /** Blocks a card: its authorizations are declined with `card_blocked`. Blocking twice is fine. */
  blockCard(id: string, context: WriteContext): Promise<WriteAnswer<Card>> {
    return this.#setCardStatus(id, 'blocked', context);
  }

  /** Lifts a block (an expired card stays expired). */
  unblockCard(id: string, context: WriteContext): Promise<WriteAnswer<Card>> {
    return this.#setCardStatus(id, 'active', context);
  }

  async #setCardStatus(
    id: string,
    status: 'active' | 'blocked',
    context: WriteContext,
  ): Promise<WriteAnswer<Card>> {
    if (!this.#canExist(id, 'card')) throw notFound('card', id);
    const scope = status === 'blocked' ? 'card_block' : 'card_unblock';
    const claim = { scope, key: context.idempotencyKey, fingerprint: fingerprintOf({ id }) };
    const result = await this.#router.write(
      id,
      (tx) =>
        onceInTransaction(tx, claim, async () => {
          const { rows } = await tx.query<CardRow>(
            `UPDATE public.cards SET status = $2, updated_at = now() WHERE id = $1
           RETURNING ${CARD_COLUMNS}`,
            [id, status],
          );
          if (!rows[0]) throw notFound('card', id);
          return { statusCode: 200, body: rows[0] };
        }),
      { token: context.token ?? null },
    );
    return answer(result, cardOf);
  }
}

/** The bounds of a credit limit, at creation and at every change: 0 .. 2^53 - 1 minor units. */
function assertCreditLimit(limit: bigint): void {
  if (typeof limit !== 'bigint' || limit < 0n || limit > CREDIT_LIMIT_MAX)
    throw new MainstayError('invalid_amount', 'creditLimit must be 0 to 2^53 - 1 minor units', {
      errors: [{ pointer: '/creditLimit', detail: 'must be 0 to 2^53 - 1 minor units' }],
    });
}

/** Why `row` (the account `id`, or none) cannot take `change`, thrown; else nothing. */
function assertLimitSettable(
  id: string,
  row: AccountRow | undefined,
  change: CreditLimitChange,
): void {
  if (!row) throw notFound('account', id);
  if (row.currency !== change.currency)
    throw new MainstayError(
      'currency_unsupported',
      `account ${id} is held in ${row.currency}, not ${change.currency}`,
      { errors: [{ pointer: '/currency', detail: `must be the account's currency` }] },
    );
  if (row.status !== 'open')
    throw new MainstayError('state_conflict', `account ${id} is ${row.status}`);
}

async function assertAccountOpen(tx: Queryable, accountId: string): Promise<void> {
  const { rows } = await tx.query<{ status: CardAccountStatus }>(
    'SELECT status FROM public.card_accounts WHERE id = $1 FOR KEY SHARE',
    [accountId],
  );
  const status = rows[0]?.status;
  if (!status) throw notFound('account', accountId);
  if (status !== 'open')
    throw new MainstayError('state_conflict', `account ${accountId} is ${status}`);
}

function cardSettings(options: IssueCardOptions): Required<IssueCardOptions> {
  const now = new Date();
  const months = now.getUTCFullYear() * 12 + now.getUTCMonth() + CARD_VALIDITY_MONTHS_DEFAULT;
  const settings = {
    brand: options.brand ?? 'visa',
    expiryMonth: options.expiryMonth ?? (months % 12) + 1,
    expiryYear: options.expiryYear ?? Math.floor(months / 12),
    velocityCountMax: options.velocityCountMax ?? 100,
    velocityWindowSeconds: options.velocityWindowSeconds ?? 3_600,
  };
  const errors: { pointer: string; detail: string }[] = [];
  const within = (value: number, low: number, high: number) =>
    Number.isInteger(value) && value >= low && value <= high;
  if (!CARD_BRANDS.includes(settings.brand))
    errors.push({ pointer: '/brand', detail: `must be one of ${CARD_BRANDS.join(', ')}` });
  if (!within(settings.expiryMonth, 1, 12))
    errors.push({ pointer: '/expiryMonth', detail: 'must be 1 to 12' });
  if (!within(settings.expiryYear, 2000, 2999))
    errors.push({ pointer: '/expiryYear', detail: 'must be a four-digit year' });
  if (!within(settings.velocityCountMax, 0, VELOCITY_COUNT_MAX))
    errors.push({ pointer: '/velocityCountMax', detail: `must be 0 to ${VELOCITY_COUNT_MAX}` });
  if (!within(settings.velocityWindowSeconds, 1, VELOCITY_WINDOW_SECONDS_MAX))
    errors.push({
      pointer: '/velocityWindowSeconds',
      detail: `must be 1 to ${VELOCITY_WINDOW_SECONDS_MAX}`,
    });
  if (errors.length > 0)
    throw new MainstayError('invalid_request', 'the card settings are invalid', { errors });
  if (
    settings.expiryYear * 12 + settings.expiryMonth <
    now.getUTCFullYear() * 12 + now.getUTCMonth() + 1
  )
    throw cardError(
      'card_expiry_invalid',
      `a card expiring ${settings.expiryYear}-${String(settings.expiryMonth).padStart(2, '0')} would be issued expired`,
      { errors: [{ pointer: '/expiryYear', detail: 'with expiryMonth, is in the past' }] },
    );
  return settings;
}

function answer<R, T>(
  result: { value: { body: R; replayed: boolean }; token: TokenText },
  map: (row: R) => T,
): WriteAnswer<T> {
  return { value: map(result.value.body), token: result.token, replayed: result.value.replayed };
}

function accountOf(row: AccountRow): CardAccount {
  const creditLimit = BigInt(row.credit_limit);
  const heldAmount = BigInt(row.held);
  const postedAmount = BigInt(row.posted);
  return {
    id: row.id,
    currency: row.currency,
    creditLimit,
    heldAmount,
    postedAmount,
    availableCredit: creditLimit - heldAmount - postedAmount,
    status: row.status as CardAccountStatus,
    createdAt: new Date(row.created_at).toISOString(),
  };
}

function cardOf(row: CardRow): Card {
  const now = new Date();
  const expired =
    row.expiry_year * 12 + row.expiry_month < now.getUTCFullYear() * 12 + now.getUTCMonth() + 1;
  return {
    id: row.id,
    accountId: row.account_id,
    status: row.status === 'blocked' ? 'blocked' : expired ? 'expired' : 'active',
    brand: row.brand as CardBrand,
    last4: row.last4,
    expiryMonth: row.expiry_month,
    expiryYear: row.expiry_year,
    velocityCountMax: row.velocity_count_max,
    velocityWindowSeconds: row.velocity_window_seconds,
    createdAt: new Date(row.created_at).toISOString(),
  };
}

/** `c.id, c.account_id, ...` from a column list. */
function prefixed(alias: string, columns: string): string {
  return columns
    .split(',')
    .map((column) => `${alias}.${column.trim()}`)
    .join(', ');
}

function notFound(kind: 'account' | 'card', id: string): MainstayError {
  return new MainstayError('resource_not_found', `no ${kind} ${id}`);
}
