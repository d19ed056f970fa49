import { createHash } from 'node:crypto';
import type { CatalogStore } from '../../../catalog/catalog-store.ts';
import { bucketOf } from '../../../data/bucket-hash.ts';
import { formatEntityId } from '../../../data/entity-id.ts';
import type { Queryable, Router } from '../../../data/router.ts';
import { BOUND_CARD_ID_PREFIX, USER_ID_PREFIX } from '../core/binding/binding-types.ts';
import type { CardKeys } from '../core/binding/card-keys.ts';
import { CARD_TOKEN_PREFIX, CardVault } from '../core/binding/card-vault.ts';
import { type CardBrand, luhnCheckDigit } from '../core/card-number.ts';

/** Demo users a fleet gets: a few thousand, enough to make lists and shards look lived in. */
export const BINDING_DEMO_USER_COUNT = 3_000;
/** The catalog flag that records the demo users were loaded (its value: how many). */
export const BINDING_DEMO_FLAG = 'binding_demo_data_loaded';
/** Users per shard transaction: bounds each statement's arrays and each transaction's WAL. */
export const DEMO_BATCH_USERS_MAX = 250;

/** The fixed creation time of demo user 0 (ids carry it, so they are the same on every run). */
const DEMO_EPOCH_MS = Date.UTC(2025, 0, 1);
/** Milliseconds between demo users' creation times; a user's cards take the next few. */
const DEMO_USER_SPACING_MS = 10;
const CARDS_PER_USER_MAX = 3;

const GIVEN = ['Wei', 'Li', 'Ana', 'Jonas', 'Amara', 'Kenji', 'Sofia', 'Omar', 'Ines', 'Raj'];
const FAMILY = ['Zhang', 'Wang', 'Silva', 'Berg', 'Okafor', 'Sato', 'Rossi', 'Haddad', 'Costa'];
/** Test BINs per brand, with the length each issues. */
const DEMO_BINS: readonly { brand: CardBrand; bin: string; length: number }[] = [
  { brand: 'unionpay', bin: '622202', length: 16 },
  { brand: 'visa', bin: '411111', length: 16 },
  { brand: 'mastercard', bin: '510510', length: 16 },
  { brand: 'amex', bin: '378282', length: 15 },
  { brand: 'jcb', bin: '353011', length: 16 },
  { brand: 'discover', bin: '601111', length: 16 },
  { brand: 'mastercard', bin: '222300', length: 16 },
];

/** One demo card, with its number (demo numbers are test numbers, generated, never real). */
export interface DemoCard {
  readonly id: string;
  readonly token: string;
  readonly pan: string;
  readonly brand: CardBrand;
  readonly expiryMonth: number;
  readonly expiryYear: number;
  readonly isDefault: boolean;
  readonly createdAtMs: number;
}

/** One demo user and its one to three cards. */
export interface DemoUser {
  readonly id: string;
  readonly fullName: string;
  readonly email: string;
  readonly createdAtMs: number;
  readonly cards: readonly DemoCard[];
}

/**
 * A deterministic entity id, readable by `taggedBucket` like any other: the fixed time, then
 * random bytes taken from a hash of `seed`.
 */
export function demoEntityId(prefix: string, seed: string, bucket: number, timeMs: number): string {
  const hash = createHash('sha256').update(`${prefix}:${seed}`).digest();
  return formatEntityId(prefix, bucket, timeMs, hash);
}

/** A Luhn-valid test number of the BIN, its middle digits from a hash of `seed`. */
function demoNumber(bin: string, length: number, seed: string): string {
  const hash = createHash('sha256').update(`pan:${seed}`).digest();
  let body = bin;
  for (let index = 0; body.length < length - 1; index += 1) body += String((hash[index] ?? 0) % 10);
  return body + String(luhnCheckDigit(body));
}

/** The demo users, the same on every run for a given bucket count. */
export function bindingDemoUsers(bucketCount: number, count: number): DemoUser[] {
  return Array.from({ length: count }, (_, index) => {
    const bucket = bucketOf(`${USER_ID_PREFIX}-demo:${index}`, bucketCount);
    const createdAtMs = DEMO_EPOCH_MS + index * DEMO_USER_SPACING_MS;
    const given = GIVEN[index % GIVEN.length] as string;
    const family = FAMILY[Math.floor(index / GIVEN.length) % FAMILY.length] as string;
    const cardCount = 1 + ((index * 7 + 3) % CARDS_PER_USER_MAX);
    const cards = Array.from({ length: cardCount }, (_, position): DemoCard => {
      const seed = `${index}:${position}`;
      const bin = DEMO_BINS[(index + position) % DEMO_BINS.length] as (typeof DEMO_BINS)[number];
      const cardAtMs = createdAtMs + 1 + position;
      return {
        id: demoEntityId(BOUND_CARD_ID_PREFIX, seed, bucket, cardAtMs),
        token: demoEntityId(CARD_TOKEN_PREFIX, seed, bucket, cardAtMs),
        pan: demoNumber(bin.bin, bin.length, seed),
        brand: bin.brand,
        expiryMonth: 1 + ((index + position * 5) % 12),
        expiryYear: 2030 + ((index + position) % 6),
        isDefault: position === 0,
        createdAtMs: cardAtMs,
      };
    });
    return {
      id: demoEntityId(USER_ID_PREFIX, String(index), bucket, createdAtMs),
      fullName: `${given} ${family}`,
      email: `${given}.${family}.${index}@example.com`.toLowerCase(),
      createdAtMs,
      cards,
    };
  });
}

/**
 * Loads the demo users and their bound cards once per fleet, through the router on each
 * shard's current primary. A catalog flag records that it happened; every insert is
 * `ON CONFLICT DO NOTHING` and each batch of users is one transaction, so a crash half-way is
 * mended by the next start and a second run writes nothing. Numbers are sealed in the vault
 * like any bound card's. Returns whether it loaded anything.
 */
export async function loadBindingDemoData(
  catalog: CatalogStore,
  router: Router,
  keys: CardKeys,
  count = BINDING_DEMO_USER_COUNT,
): Promise<boolean> {
  if ((await catalog.getFlag(BINDING_DEMO_FLAG)) !== null) return false;
  await writeBindingDemoData(router, keys, count);
  await catalog.setFlag(BINDING_DEMO_FLAG, String(count));
  return true;
}

/** Writes the demo users (idempotently, without the flag); for the loader and for tests. */
export async function writeBindingDemoData(
  router: Router,
  keys: CardKeys,
  count: number,
): Promise<void> {
  const vault = new CardVault(keys);
  const byShard = new Map<number, DemoUser[]>();
  for (const user of bindingDemoUsers(router.map.snapshot.bucketCount, count)) {
    const shardId = router.map.shardOf(user.id);
    byShard.set(shardId, [...(byShard.get(shardId) ?? []), user]);
  }
  for (const [shardId, users] of byShard) {
    for (let first = 0; first < users.length; first += DEMO_BATCH_USERS_MAX) {
      const batch = users.slice(first, first + DEMO_BATCH_USERS_MAX);
      await router.writeToShard(shardId, (tx) => insertDemoBatch(tx, vault, batch));
    }
  }
}

async function insertDemoBatch(
  tx: Queryable,
  vault: CardVault,
  users: readonly DemoUser[],
): Promise<void> {
  await tx.query(
    `INSERT INTO public.payment_users (id, full_name, email, created_at)
     SELECT id, name, email, to_timestamp(ms / 1000.0)
     FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS u(id, name, email, ms)
     ON CONFLICT DO NOTHING`,
    [
      users.map((u) => u.id),
      users.map((u) => u.fullName),
      users.map((u) => u.email),
      users.map((u) => u.createdAtMs),
    ],
  );
  const cards = users.flatMap((user) => user.cards.map((card) => ({ user, card })));
  const sealed = cards.map(({ card }) =>
    vault.seal(card.token, { pan: card.pan, holderName: null }),
  );
  await tx.query(
    `INSERT INTO public.card_vault (token, key_id, nonce, ciphertext, auth_tag)
     SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::bytea[], $5::bytea[])
     ON CONFLICT DO NOTHING`,
    [
      cards.map(({ card }) => card.token),
      sealed.map((s) => s.key_id),
      sealed.map((s) => s.nonce),
      sealed.map((s) => s.ciphertext),
      sealed.map((s) => s.auth_tag),
    ],
  );
  await tx.query(
    `INSERT INTO public.bound_cards (id, user_id, token, pan_hash, brand, last4, expiry_month,
       expiry_year, is_default, created_at)
     SELECT id, user_id, token, pan_hash, brand, last4, month, year, is_default,
            to_timestamp(ms / 1000.0)
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                 $7::smallint[], $8::smallint[], $9::boolean[], $10::bigint[])
       AS c(id, user_id, token, pan_hash, brand, last4, month, year, is_default, ms)
     ON CONFLICT DO NOTHING`,
    [
      cards.map(({ card }) => card.id),
      cards.map(({ user }) => user.id),
      cards.map(({ card }) => card.token),
      cards.map(({ card }) => vault.lookupHash(card.pan)),
      cards.map(({ card }) => card.brand),
      cards.map(({ card }) => card.pan.slice(-4)),
      cards.map(({ card }) => card.expiryMonth),
      cards.map(({ card }) => card.expiryYear),
      cards.map(({ card }) => card.isDefault),
      cards.map(({ card }) => card.createdAtMs),
    ],
  );
}
