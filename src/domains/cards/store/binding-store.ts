/**
 * The SQL of card binding, one function per statement, each taking the connection or
 * transaction it runs on. The service decides; these only read and write rows, so every
 * statement that touches `bound_cards` is in one place to review for what it exposes.
 */
import type { Queryable } from '../../../data/router.ts';
import type { BoundCard, BoundCardStatus, PaymentUser } from '../core/binding/binding-types.ts';
import type { CardBrand } from '../core/card-number.ts';

interface UserRow {
  id: string;
  full_name: string;
  email: string | null;
  created_at: Date;
}

interface CardRow {
  id: string;
  user_id: string;
  brand: CardBrand;
  last4: string;
  expiry_month: number;
  expiry_year: number;
  is_default: boolean;
  status: BoundCardStatus;
  created_at: Date;
}

/** A card row with what only the service may see: its vault token and look-up hash. */
export interface StoredCard {
  readonly card: BoundCard;
  readonly token: string;
  readonly panHash: string;
}

const CARD_COLUMNS =
  'id, user_id, brand, last4, expiry_month, expiry_year, is_default, status, created_at';

function userOf(row: UserRow): PaymentUser {
  return {
    id: row.id,
    fullName: row.full_name,
    email: row.email,
    createdAt: row.created_at.toISOString(),
  };
}

function cardOf(row: CardRow): BoundCard {
  return {
    id: row.id,
    userId: row.user_id,
    brand: row.brand,
    last4: row.last4,
    expiryMonth: row.expiry_month,
    expiryYear: row.expiry_year,
    isDefault: row.is_default,
    status: row.status,
    createdAt: row.created_at.toISOString(),
  };
}

/** Inserts a user and returns it as stored. */
export async function insertUser(
  tx: Queryable,
  user: { id: string; fullName: string; email: string | null },
): Promise<PaymentUser> {
  const { rows } = await tx.query<UserRow>(
    `INSERT INTO public.payment_users (id, full_name, email) VALUES ($1, $2, $3)
     RETURNING id, full_name, email, created_at`,
    [user.id, user.fullName, user.email],
  );
  return userOf(rows[0] as UserRow);
}

/**
 * The user, locked for the rest of the transaction (or `null`). Every binding write takes this
 * lock first: it serialises the user's writes, so the card count, the one default and the
 * duplicate check are decided on a state nobody else changes meanwhile.
 */
export async function lockUser(tx: Queryable, userId: string): Promise<PaymentUser | null> {
  const { rows } = await tx.query<UserRow>(
    'SELECT id, full_name, email, created_at FROM public.payment_users WHERE id = $1 FOR UPDATE',
    [userId],
  );
  return rows[0] ? userOf(rows[0]) : null;
}

/** The user, or `null`. */
export async function selectUser(db: Queryable, userId: string): Promise<PaymentUser | null> {
  const { rows } = await db.query<UserRow>(
    'SELECT id, full_name, email, created_at FROM public.payment_users WHERE id = $1',
    [userId],
  );
  return rows[0] ? userOf(rows[0]) : null;
}

/** The user's active cards' ids and look-up hashes (at most the per-user limit of rows). */
export async function activeCardHashes(
  tx: Queryable,
  userId: string,
): Promise<readonly { id: string; panHash: string }[]> {
  const { rows } = await tx.query<{ id: string; pan_hash: string }>(
    `SELECT id, pan_hash FROM public.bound_cards WHERE user_id = $1 AND status = 'active'`,
    [userId],
  );
  return rows.map((row) => ({ id: row.id, panHash: row.pan_hash }));
}

/** Inserts an active bound card and returns it as stored. */
export async function insertCard(
  tx: Queryable,
  card: Omit<BoundCard, 'status' | 'createdAt'> & { token: string; panHash: string },
): Promise<BoundCard> {
  const { rows } = await tx.query<CardRow>(
    `INSERT INTO public.bound_cards
       (id, user_id, token, pan_hash, brand, last4, expiry_month, expiry_year, is_default)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     RETURNING ${CARD_COLUMNS}`,
    [
      card.id,
      card.userId,
      card.token,
      card.panHash,
      card.brand,
      card.last4,
      card.expiryMonth,
      card.expiryYear,
      card.isDefault,
    ],
  );
  return cardOf(rows[0] as CardRow);
}

/** One of the user's cards, whatever its status, or `null`. */
export async function selectCard(
  tx: Queryable,
  userId: string,
  cardId: string,
): Promise<StoredCard | null> {
  const { rows } = await tx.query<CardRow & { token: string; pan_hash: string }>(
    `SELECT ${CARD_COLUMNS}, token, pan_hash FROM public.bound_cards
     WHERE id = $1 AND user_id = $2`,
    [cardId, userId],
  );
  const row = rows[0];
  return row ? { card: cardOf(row), token: row.token, panHash: row.pan_hash } : null;
}

/**
 * Makes `cardId` the user's only default. Two statements, the old default cleared first: the
 * one-default index is checked row by row, so one UPDATE that swaps both could trip it.
 */
export async function makeDefault(tx: Queryable, userId: string, cardId: string): Promise<void> {
  await tx.query(
    'UPDATE public.bound_cards SET is_default = false WHERE user_id = $1 AND is_default',
    [userId],
  );
  await tx.query('UPDATE public.bound_cards SET is_default = true WHERE id = $1', [cardId]);
}

/** Marks a card unbound (soft delete, kept for audit) and returns it as stored now. */
export async function markUnbound(tx: Queryable, cardId: string): Promise<BoundCard> {
  const { rows } = await tx.query<CardRow>(
    `UPDATE public.bound_cards SET status = 'unbound', is_default = false, unbound_at = now()
     WHERE id = $1 RETURNING ${CARD_COLUMNS}`,
    [cardId],
  );
  return cardOf(rows[0] as CardRow);
}

/** Makes the user's most recently bound active card the default; `null` if none is left. */
export async function promoteNewest(tx: Queryable, userId: string): Promise<string | null> {
  const { rows } = await tx.query<{ id: string }>(
    `UPDATE public.bound_cards SET is_default = true
     WHERE id = (SELECT id FROM public.bound_cards WHERE user_id = $1 AND status = 'active'
                 ORDER BY id DESC LIMIT 1)
     RETURNING id`,
    [userId],
  );
  return rows[0]?.id ?? null;
}

/**
 * One page of the user's active cards, newest first, in one round trip with the user's
 * existence (the list is the read-heavy path). `null` when the user does not exist. Asks for
 * `limit + 1` rows so the caller knows whether there is more.
 */
export async function selectCardPage(
  db: Queryable,
  userId: string,
  limit: number,
  startingAfter: string | null,
): Promise<{ cards: BoundCard[]; hasMore: boolean } | null> {
  const { rows } = await db.query<{ user_found: string } & Partial<CardRow>>(
    `SELECT u.id AS user_found, c.*
     FROM public.payment_users u
     LEFT JOIN LATERAL (
       SELECT ${CARD_COLUMNS} FROM public.bound_cards
       WHERE user_id = u.id AND status = 'active' AND ($2::text IS NULL OR id < $2)
       ORDER BY id DESC LIMIT $3
     ) c ON true
     WHERE u.id = $1`,
    [userId, startingAfter, limit + 1],
  );
  if (rows.length === 0) return null;
  const cards = rows.filter((row) => row.id != null).map((row) => cardOf(row as CardRow));
  return { cards: cards.slice(0, limit), hasMore: cards.length > limit };
}
