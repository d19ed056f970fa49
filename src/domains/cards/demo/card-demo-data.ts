import type { CatalogStore } from '../../../catalog/catalog-store.ts';
import { bucketOf } from '../../../data/bucket-hash.ts';
import type { Queryable, Router } from '../../../data/router.ts';
import { ISSUED_CARD_BRANDS } from '../core/card-number.ts';
import { demoEntityId } from './binding-demo-data.ts';

/** Demo cardholders: one card account each, with one card (a few with two). */
export const CARD_DEMO_ACCOUNT_COUNT = 3_000;
/** The catalog flag that records the demo accounts were loaded (its value: how many). */
export const CARD_DEMO_FLAG = 'card_demo_data_loaded';
/** Accounts per shard transaction. */
const DEMO_BATCH_ACCOUNTS_MAX = 500;
const DEMO_EPOCH_MS = Date.UTC(2025, 0, 1);
const CURRENCIES = ['CNY', 'CNY', 'CNY', 'USD', 'HKD', 'SGD', 'EUR'] as const;

/** One demo card account and its cards, the same on every run for a bucket count. */
export interface DemoCardAccount {
  readonly id: string;
  readonly currency: string;
  readonly creditLimit: bigint;
  readonly cards: readonly {
    readonly id: string;
    readonly brand: string;
    readonly last4: string;
    readonly status: 'active' | 'blocked';
    readonly expiryMonth: number;
    readonly expiryYear: number;
  }[];
}

/**
 * The demo accounts: limits from 5,000.00 to 200,000.00 in the currency's minor units, every
 * 50th card blocked and every 70th expired (so the tour meets those declines), velocity 100 per
 * hour (the issuer's default).
 */
export function demoCardAccounts(bucketCount: number, count: number): DemoCardAccount[] {
  return Array.from({ length: count }, (_, index) => {
    const bucket = bucketOf(`acct-demo:${index}`, bucketCount);
    const atMs = DEMO_EPOCH_MS + index * 10;
    const cardCount = index % 10 === 0 ? 2 : 1;
    return {
      id: demoEntityId('acct', `demo:${index}`, bucket, atMs),
      currency: CURRENCIES[index % CURRENCIES.length] as string,
      creditLimit: BigInt(500_000 + ((index * 7_919) % 40) * 500_000),
      cards: Array.from({ length: cardCount }, (_, position) => ({
        id: demoEntityId('card', `demo:${index}:${position}`, bucket, atMs + 1 + position),
        brand: ISSUED_CARD_BRANDS[(index + position) % ISSUED_CARD_BRANDS.length] as string,
        last4: String((index * 37 + position * 11) % 10_000).padStart(4, '0'),
        status: index % 50 === 7 ? ('blocked' as const) : ('active' as const),
        expiryMonth: 1 + ((index + position) % 12),
        expiryYear: index % 70 === 3 ? 2024 : 2029 + ((index + position) % 4),
      })),
    };
  });
}

/**
 * Loads the demo card accounts once per fleet (a catalog flag), through the router on each
 * shard's primary, `ON CONFLICT DO NOTHING` in batches of one transaction each, so a crash
 * half-way is mended by the next start. Returns whether it loaded anything.
 */
export async function loadCardDemoData(
  catalog: CatalogStore,
  router: Router,
  count = CARD_DEMO_ACCOUNT_COUNT,
): Promise<boolean> {
  if ((await catalog.getFlag(CARD_DEMO_FLAG)) !== null) return false;
  const byShard = new Map<number, DemoCardAccount[]>();
  for (const account of demoCardAccounts(router.map.snapshot.bucketCount, count)) {
    const shardId = router.map.shardOf(account.id);
    byShard.set(shardId, [...(byShard.get(shardId) ?? []), account]);
  }
  for (const [shardId, accounts] of byShard) {
    for (let first = 0; first < accounts.length; first += DEMO_BATCH_ACCOUNTS_MAX) {
      const batch = accounts.slice(first, first + DEMO_BATCH_ACCOUNTS_MAX);
      await router.writeToShard(shardId, (tx) => insertDemoAccounts(tx, batch));
    }
  }
  await catalog.setFlag(CARD_DEMO_FLAG, String(count));
  return true;
}

async function insertDemoAccounts(tx: Queryable, accounts: readonly DemoCardAccount[]) {
  await tx.query(
    `INSERT INTO public.card_accounts (id, currency, credit_limit)
     SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]) ON CONFLICT DO NOTHING`,
    [
      accounts.map((a) => a.id),
      accounts.map((a) => a.currency),
      accounts.map((a) => a.creditLimit.toString()),
    ],
  );
  const cards = accounts.flatMap((account) => account.cards.map((card) => ({ account, card })));
  await tx.query(
    `INSERT INTO public.cards (id, account_id, status, brand, last4, expiry_month, expiry_year,
       velocity_count_max, velocity_window_seconds)
     SELECT id, account_id, status, brand, last4, month, year, 100, 3600
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::int[])
       AS c(id, account_id, status, brand, last4, month, year)
     ON CONFLICT DO NOTHING`,
    [
      cards.map(({ card }) => card.id),
      cards.map(({ account }) => account.id),
      cards.map(({ card }) => card.status),
      cards.map(({ card }) => card.brand),
      cards.map(({ card }) => card.last4),
      cards.map(({ card }) => card.expiryMonth),
      cards.map(({ card }) => card.expiryYear),
    ],
  );
}
