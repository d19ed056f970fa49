import { newEntityId, randomBucket } from '../../src/data/entity-id.ts';
import type { Router } from '../../src/data/router.ts';
import type { LedgerAccountService } from '../../src/domains/ledger/core/ledger-account-service.ts';
import type { LedgerEngine } from '../../src/domains/ledger/core/ledger-engine.ts';
import type { MoveRequest } from '../../src/domains/ledger/core/ledger-types.ts';
import { insertLedgerAccount } from '../../src/domains/ledger/store/ledger-accounts.ts';

/** Customer accounts of one side of the benchmark, grouped by shard. */
export interface Customers {
  /** Every account with its shard, in random order. */
  readonly all: readonly { readonly id: string; readonly shardId: number }[];
  readonly byShard: ReadonlyMap<number, readonly string[]>;
}

const ROWS_PER_STATEMENT_MAX = 1_000;
const FUNDING_CALL_LENGTH = 500;

/**
 * Opens `count` guarded customer wallets (debits must not exceed credits) in CNY, spread over
 * the shards by random buckets, written straight into each shard (one statement per thousand).
 */
export async function seedCustomers(router: Router, count: number): Promise<Customers> {
  const bucketCount = router.map.snapshot.bucketCount;
  const all = Array.from({ length: count }, () => {
    const id = newEntityId('lacc', randomBucket(bucketCount));
    return { id, shardId: router.map.shardOf(id) };
  });
  const byShard = new Map<number, string[]>();
  for (const { id, shardId } of all) byShard.set(shardId, [...(byShard.get(shardId) ?? []), id]);
  for (const [shardId, ids] of byShard) {
    for (let first = 0; first < ids.length; first += ROWS_PER_STATEMENT_MAX) {
      const batch = ids.slice(first, first + ROWS_PER_STATEMENT_MAX);
      await router.writeToShard(shardId, (tx) =>
        tx.query(
          `INSERT INTO public.ledger_accounts (id, currency, kind, debits_must_not_exceed_credits)
           SELECT id, 'CNY', 'wallet', true FROM unnest($1::text[]) AS a(id)`,
          [batch],
        ),
      );
    }
  }
  return { all, byShard };
}

/**
 * Funds every account with `amount` from the striped institution account `fundingCode` (its
 * stripe beside the account), through the engine, a few hundred transfers per call, the shards
 * in parallel: so every account's totals are backed by postings and the books check holds.
 */
export async function fundCustomers(
  engine: LedgerEngine,
  accounts: LedgerAccountService,
  fundingCode: string,
  customers: readonly Customers[],
  amount: bigint,
  runId: string,
): Promise<void> {
  const byShard = new Map<number, string[]>();
  for (const side of customers)
    for (const [shardId, ids] of side.byShard)
      byShard.set(shardId, [...(byShard.get(shardId) ?? []), ...ids]);
  await Promise.all(
    [...byShard].map(async ([shardId, ids]) => {
      const stripes = await retrying(() => accounts.stripesOn(fundingCode, 'CNY', shardId));
      for (let first = 0; first < ids.length; first += FUNDING_CALL_LENGTH) {
        const slice = ids.slice(first, first + FUNDING_CALL_LENGTH);
        const requests: MoveRequest[] = slice.map((id, n) => ({
          kind: 'transfer' as const,
          id: `${runId}-fund-${id}`,
          debitAccountId: stripes[n % stripes.length] as string,
          creditAccountId: id,
          amount,
          currency: 'CNY',
        }));
        // Safe to repeat: a request already applied is answered from its stored outcome.
        const outcomes = await retrying(() => engine.submit(requests));
        const refused = outcomes.find((outcome) => outcome.status !== 'posted');
        if (refused) throw new Error(`funding ${refused.id} answered ${refused.status}`);
      }
    }),
  );
}

/** Plain settlement rows (not striped), the `n`-th on shard `shardIds[n % shards]`. */
export async function seedPlainHotAccounts(
  router: Router,
  count: number,
): Promise<{ readonly id: string; readonly shardId: number }[]> {
  const shardIds = router.map.shardIds;
  const rows: { id: string; shardId: number }[] = [];
  for (let n = 0; n < count; n += 1) {
    const shardId = shardIds[n % shardIds.length] as number;
    const bucket = router.map.snapshot.buckets.find((range) => range.shardId === shardId)?.first;
    if (bucket === undefined) throw new Error(`shard ${shardId} holds no bucket`);
    const id = newEntityId('lacc', bucket);
    await router.writeToShard(shardId, (tx) =>
      insertLedgerAccount(tx, { id, currency: 'CNY', kind: 'settlement' }),
    );
    rows.push({ id, shardId });
  }
  return rows;
}

const TRANSIENT = new Set([
  'read_unavailable',
  'primary_unavailable',
  'service_unavailable',
  'write_outcome_unknown',
]);

/**
 * Runs a set-up step again (up to `attempts` times, a second apart) when the fleet answered
 * that a primary was out of reach or a commit's outcome is unknown: on a machine shared with
 * other fleets a probe can time out under load. Every step retried here is safe to repeat
 * (opening an institution account keeps the stripes that exist; a transfer's id answers its
 * stored outcome).
 */
export async function retrying<T>(step: () => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await step();
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (attempt >= attempts || typeof code !== 'string' || !TRANSIENT.has(code)) throw error;
      process.stderr.write(`  set-up step answered ${code}; again in 1 s\n`);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  }
}
