import { newEntityId, randomBucket } from '../../src/data/entity-id.ts';
import type { Router } from '../../src/data/router.ts';

/** Cardholders of the Double-11 run: one account each, `cardsPerAccount` cards on it. */
export interface SeededCards {
  /** Card ids in popularity order: the Zipf sampler's rank 0 is the first. */
  readonly cardIds: readonly string[];
  readonly accountIds: readonly string[];
}

const ROWS_PER_STATEMENT_MAX = 1_000;

/**
 * Writes accounts and cards straight into each shard (one statement per thousand rows, through
 * the router's shard writes), with limits high enough that declines come from the rules being
 * exercised, not from every hot card running dry in the first second.
 */
export async function seedCards(
  router: Router,
  accountCount: number,
  cardsPerAccount: number,
  creditLimit: bigint,
): Promise<SeededCards> {
  const bucketCount = router.map.snapshot.bucketCount;
  const accounts = Array.from({ length: accountCount }, () => {
    const bucket = randomBucket(bucketCount);
    return {
      id: newEntityId('acct', bucket),
      cards: Array.from({ length: cardsPerAccount }, () => newEntityId('card', bucket)),
    };
  });
  const byShard = new Map<number, typeof accounts>();
  for (const account of accounts) {
    const shardId = router.map.shardOf(account.id);
    byShard.set(shardId, [...(byShard.get(shardId) ?? []), account]);
  }
  for (const [shardId, list] of byShard) {
    for (let first = 0; first < list.length; first += ROWS_PER_STATEMENT_MAX) {
      const batch = list.slice(first, first + ROWS_PER_STATEMENT_MAX);
      await router.writeToShard(shardId, async (tx) => {
        await tx.query(
          `INSERT INTO card_accounts (id, currency, credit_limit)
           SELECT id, 'CNY', $2 FROM unnest($1::text[]) AS a(id)`,
          [batch.map((a) => a.id), creditLimit.toString()],
        );
        const cards = batch.flatMap((a) => a.cards.map((card) => [card, a.id] as const));
        await tx.query(
          `INSERT INTO cards (id, account_id, brand, last4, expiry_month, expiry_year,
             velocity_count_max, velocity_window_seconds)
           SELECT id, account_id, 'unionpay', lpad((n % 10000)::text, 4, '0'), 12, 2030,
                  1000000000, 3600
           FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS c(id, account_id, n)`,
          [cards.map(([card]) => card), cards.map(([, account]) => account)],
        );
      });
    }
  }
  // Popularity is independent of the account order: interleave so rank 0 and 1 differ in account.
  const interleaved: string[] = [];
  for (let position = 0; position < cardsPerAccount; position += 1) {
    for (const account of accounts) interleaved.push(account.cards[position] as string);
  }
  return { cardIds: interleaved, accountIds: accounts.map((a) => a.id) };
}
