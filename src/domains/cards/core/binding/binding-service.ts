import { isEntityId, newEntityId, taggedBucket } from '../../../../data/entity-id.ts';
import { fingerprintOf, onceInTransaction } from '../../../../data/idempotency.ts';
import type { Queryable, Router } from '../../../../data/router.ts';
import type { WriteAnswer, WriteContext } from '../../../../data/write-contract.ts';
import { MainstayError } from '../../../../errors/mainstay-error.ts';
import { cardError } from '../../errors.ts';
import {
  activeCardHashes,
  insertCard,
  insertUser,
  lockUser,
  makeDefault,
  markUnbound,
  promoteNewest,
  selectCard,
  selectCardPage,
  selectUser,
} from '../../store/binding-store.ts';
import {
  BOUND_CARD_ID_PREFIX,
  BOUND_CARDS_PER_USER_MAX,
  type BoundCard,
  type BoundCardPage,
  CARD_PAGE_SIZE_DEFAULT,
  CARD_PAGE_SIZE_MAX,
  type CardToBind,
  type ListOptions,
  type NewPaymentUser,
  type PaymentUser,
  USER_ID_PREFIX,
} from './binding-types.ts';
import { checkBindInput, checkNewUser } from './binding-validation.ts';
import type { CardKeys } from './card-keys.ts';
import { CardVault } from './card-vault.ts';

/** Tunables of {@link CardBindingService}. */
export interface BindingServiceOptions {
  /** Active bound cards per user (default {@link BOUND_CARDS_PER_USER_MAX}). */
  readonly cardsPerUserMax?: number;
  /** The clock expiry checks use (tests move it). */
  readonly now?: () => Date;
}

/**
 * Card binding: payment users bind bank cards, unbind them, pick a default and list them. Every
 * write runs in one transaction on the user's shard (a user's cards and vault rows carry the
 * user's bucket), guarded by the client's idempotency key stored in that same transaction, and
 * returns a consistency token; lists are read from replicas at `session` consistency, so with
 * that token any API instance sees the write. Refusals that are the client's to fix throw
 * {@link MainstayError}s with catalogue codes; the transaction is then rolled back, so nothing is
 * written and the idempotency key stays free.
 *
 * @example
 * const service = new CardBindingService(router, await loadOrCreateCardKeys(catalog));
 * const user = await service.createUser({ fullName: 'Ana Silva' }, { idempotencyKey: 'k1' });
 * const card = await service.bindCard(user.value.id, input, { idempotencyKey: 'k2', token: user.token });
 * const page = await service.listCards(user.value.id, { token: card.token });
 */
export class CardBindingService {
  readonly vault: CardVault;
  readonly #router: Router;
  readonly #cardsPerUserMax: number;
  readonly #now: () => Date;

  constructor(router: Router, keys: CardKeys, options: BindingServiceOptions = {}) {
    this.#router = router;
    this.vault = new CardVault(keys);
    this.#cardsPerUserMax = options.cardsPerUserMax ?? BOUND_CARDS_PER_USER_MAX;
    this.#now = options.now ?? (() => new Date());
  }

  /**
   * Creates a user. The user's bucket is a hash of the idempotency key rather than a random
   * draw: as uniform over the buckets, but a retry lands on the shard that holds the first
   * attempt's idempotency record and gets the same user back instead of a second one.
   */
  async createUser(
    input: NewPaymentUser,
    context: WriteContext,
  ): Promise<WriteAnswer<PaymentUser>> {
    const user = checkNewUser(input);
    const bucket = this.#router.map.bucketOf(`${USER_ID_PREFIX}-create:${context.idempotencyKey}`);
    const id = newEntityId(USER_ID_PREFIX, bucket);
    return this.#once(id, context, 'POST /v1/users', user, async (tx) => ({
      statusCode: 201,
      body: await insertUser(tx, { id, ...user }),
    }));
  }

  /** The user, read at `session` consistency; `resource_not_found` when there is none. */
  async getUser(userId: string, options: { token?: string | null } = {}): Promise<PaymentUser> {
    this.#checkUserId(userId);
    const { value } = await this.#router.read(userId, (db) => selectUser(db, userId), {
      consistency: 'session',
      token: options.token ?? null,
    });
    if (!value) throw notFound('user', userId);
    return value;
  }

  /**
   * Binds a card to a user: checks the number (Luhn, brand, length) and expiry, seals the number
   * in the vault and records the binding, in one transaction under the user's lock. The user's
   * first card becomes the default. The same card already bound (found by its keyed hash) is
   * `card_already_bound`; more than the per-user limit is `card_limit_exceeded`.
   */
  async bindCard(
    userId: string,
    input: CardToBind,
    context: WriteContext,
  ): Promise<WriteAnswer<BoundCard>> {
    this.#checkUserId(userId);
    const card = checkBindInput(input, this.#now());
    const panHash = this.vault.lookupHash(card.digits);
    // The fingerprint holds the keyed hash, never the number: it is stored with the key.
    const request = {
      panHash,
      expiryMonth: card.expiryMonth,
      expiryYear: card.expiryYear,
      holderName: card.holderName,
    };
    return this.#once(userId, context, `POST /v1/users/${userId}/cards`, request, async (tx) => {
      await this.#lockUser(tx, userId);
      const active = await activeCardHashes(tx, userId);
      const same = active.find((bound) => bound.panHash === panHash);
      if (same) {
        throw cardError(
          'card_already_bound',
          `this card is already bound to user ${userId} as ${same.id}`,
        );
      }
      if (active.length >= this.#cardsPerUserMax) {
        throw cardError(
          'card_limit_exceeded',
          `user ${userId} already has ${active.length} bound cards, the most allowed; unbind one first`,
        );
      }
      const bucket = this.#router.map.bucketOf(userId);
      const token = this.vault.newToken(bucket);
      await this.vault.store(tx, token, { pan: card.digits, holderName: card.holderName });
      const bound = await insertCard(tx, {
        id: newEntityId(BOUND_CARD_ID_PREFIX, bucket),
        userId,
        brand: card.brand,
        last4: card.last4,
        expiryMonth: card.expiryMonth,
        expiryYear: card.expiryYear,
        isDefault: active.length === 0,
        token,
        panHash,
      });
      return { statusCode: 201, body: bound };
    });
  }

  /**
   * A page of the user's active cards, newest first. Read at `session` consistency: from a
   * replica that has replayed the caller's token (and this process's recent writes of the user),
   * so the read-heavy list path stays off the primary without ever missing the caller's writes.
   */
  async listCards(userId: string, options: ListOptions = {}): Promise<BoundCardPage> {
    this.#checkUserId(userId);
    const limit = options.limit ?? CARD_PAGE_SIZE_DEFAULT;
    if (!Number.isInteger(limit) || limit < 1 || limit > CARD_PAGE_SIZE_MAX) {
      throw new MainstayError('invalid_request', `limit must be 1 to ${CARD_PAGE_SIZE_MAX}`, {
        errors: [{ pointer: '/querystring/limit', detail: `must be 1 to ${CARD_PAGE_SIZE_MAX}` }],
      });
    }
    const after = options.startingAfter ?? null;
    if (after !== null && !isEntityId(after, BOUND_CARD_ID_PREFIX)) {
      throw new MainstayError('invalid_request', 'startingAfter must be a bound card id', {
        errors: [{ pointer: '/querystring/startingAfter', detail: 'must be a bound card id' }],
      });
    }
    const { value } = await this.#router.read(
      userId,
      (db) => selectCardPage(db, userId, limit, after),
      { consistency: 'session', token: options.token ?? null },
    );
    if (!value) throw notFound('user', userId);
    const last = value.cards.at(-1);
    return {
      data: value.cards,
      hasMore: value.hasMore,
      nextCursor: value.hasMore && last ? last.id : null,
    };
  }

  /** Makes an active card the user's default (a no-op if it already is). */
  async setDefaultCard(
    userId: string,
    cardId: string,
    context: WriteContext,
  ): Promise<WriteAnswer<BoundCard>> {
    this.#checkCardId(userId, cardId);
    const scope = `POST /v1/users/${userId}/cards/{cardId}/default`;
    return this.#once(userId, context, scope, { cardId }, async (tx) => {
      await this.#lockUser(tx, userId);
      const stored = await selectCard(tx, userId, cardId);
      if (!stored) throw notFound('card', cardId);
      if (stored.card.status !== 'active') {
        throw new MainstayError('state_conflict', `card ${cardId} is unbound; bind it again first`);
      }
      if (!stored.card.isDefault) await makeDefault(tx, userId, cardId);
      return { statusCode: 200, body: { ...stored.card, isDefault: true } };
    });
  }

  /**
   * Unbinds a card: a soft delete (the row stays, `unbound`, for audit) that also erases its
   * sealed number from the vault, since nothing may charge an unbound card. Unbinding the
   * default promotes the most recently bound remaining card. Unbinding an unbound card answers
   * the card as it is: the request's goal already holds.
   */
  async unbindCard(
    userId: string,
    cardId: string,
    context: WriteContext,
  ): Promise<WriteAnswer<BoundCard>> {
    this.#checkCardId(userId, cardId);
    const scope = `DELETE /v1/users/${userId}/cards/{cardId}`;
    return this.#once(userId, context, scope, { cardId }, async (tx) => {
      await this.#lockUser(tx, userId);
      const stored = await selectCard(tx, userId, cardId);
      if (!stored) throw notFound('card', cardId);
      if (stored.card.status === 'unbound') return { statusCode: 200, body: stored.card };
      const unbound = await markUnbound(tx, cardId);
      await this.vault.erase(tx, stored.token);
      if (stored.card.isDefault) await promoteNewest(tx, userId);
      return { statusCode: 200, body: unbound };
    });
  }

  /** Runs `work` once per idempotency key, in a write transaction on `shardKey`'s shard. */
  async #once<T>(
    shardKey: string,
    context: WriteContext,
    scope: string,
    request: unknown,
    work: (tx: Queryable) => Promise<{ statusCode: number; body: T }>,
  ): Promise<WriteAnswer<T>> {
    const claim = { scope, key: context.idempotencyKey, fingerprint: fingerprintOf(request) };
    const { value, token } = await this.#router.write(
      shardKey,
      (tx) => onceInTransaction(tx, claim, () => work(tx)),
      { token: context.token ?? null },
    );
    return { value: value.body, token, replayed: value.replayed };
  }

  async #lockUser(tx: Queryable, userId: string): Promise<PaymentUser> {
    const user = await lockUser(tx, userId);
    if (!user) throw notFound('user', userId);
    return user;
  }

  /** An id that cannot name a user of this fleet is "not found", never a routing error. */
  #checkUserId(userId: string): void {
    const bucket = isEntityId(userId, USER_ID_PREFIX) ? taggedBucket(userId) : null;
    if (bucket === null || bucket >= this.#router.map.snapshot.bucketCount) {
      throw notFound('user', userId);
    }
  }

  /** A card id of another bucket cannot belong to this user: not found, without a read. */
  #checkCardId(userId: string, cardId: string): void {
    this.#checkUserId(userId);
    if (!isEntityId(cardId, BOUND_CARD_ID_PREFIX) || taggedBucket(cardId) !== taggedBucket(userId))
      throw notFound('card', cardId);
  }
}

/** Names the id only when it is one: whatever else a client put there is not echoed. */
function notFound(kind: 'user' | 'card', id: string): MainstayError {
  const named = taggedBucket(id) === null ? 'with this id' : id;
  return new MainstayError('resource_not_found', `no ${kind} ${named}`);
}
