/**
 * Batch isolation in the authorization engine: an item PostgreSQL refuses fails alone, never
 * the other requests of its micro-batch (on the same card, on other accounts of the shard) nor
 * a capture sent with them. The failing items are planted by calling the engine directly (the
 * HTTP edge refuses such text before it gets here): a NUL character in the merchant id, which
 * PostgreSQL cannot store in text (22021), and a merchant id a trigger on the shard refuses
 * (P0001), which no edge check can catch.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { IDEMPOTENCY_MIGRATIONS } from '../../../src/data/idempotency.ts';
import type { Router } from '../../../src/data/router.ts';
import { CardAccountService } from '../../../src/domains/cards/core/accounts/card-account-service.ts';
import { AuthorizationEngine } from '../../../src/domains/cards/core/authorization/authorization-engine.ts';
import type { AuthorizationRequest } from '../../../src/domains/cards/core/authorization/authorization-types.ts';
import {
  availabilityFailure,
  isAvailabilityFailure,
  itemFailure,
  runIsolated,
} from '../../../src/domains/cards/core/authorization/batch-isolation.ts';
import { EngineStats } from '../../../src/domains/cards/core/authorization/engine-stats.ts';
import { AUTHORIZATION_MIGRATIONS } from '../../../src/domains/cards/sql/authorization-migrations.ts';
import { CARD_ACCOUNT_MIGRATIONS } from '../../../src/domains/cards/sql/card-account-migrations.ts';
import { isMainstayError, MainstayError } from '../../../src/errors/mainstay-error.ts';
import { readBooks } from '../../support/card-books.ts';
import { type FleetFixture, startFleet } from '../../support/fleet-fixture.ts';

/** The merchant id the shard's trigger refuses. */
const POISON = 'mch_poison';
const NUL = 'mch_\u0000nul';

let fixture: FleetFixture;
let router: Router;
let accounts: CardAccountService;
let keyCounter = 0;

function request(cardId: string, amount: bigint, fields: Partial<AuthorizationRequest> = {}) {
  return {
    requestId: randomUUID(),
    cardId,
    amount,
    currency: 'CNY',
    merchantId: 'mch_1',
    merchantCategory: '5411',
    ...fields,
  } satisfies AuthorizationRequest;
}

/** `count` accounts (one card each) homed on one shard, with `creditLimit` each. */
async function accountsOnOneShard(count: number, creditLimit: bigint) {
  const found: { accountId: string; cardId: string }[] = [];
  let shardId: number | null = null;
  while (found.length < count) {
    keyCounter += 1;
    const key = `isolation-${process.pid}-${keyCounter}`;
    const { value: account } = await accounts.createAccount(
      { currency: 'CNY', creditLimit },
      { idempotencyKey: key },
    );
    const shard = router.map.shardOf(account.id);
    if (shardId !== null && shard !== shardId) continue;
    shardId = shard;
    const options = { velocityCountMax: 100_000, velocityWindowSeconds: 60 };
    const card = await accounts.issueCard(account.id, options, { idempotencyKey: `${key}-card` });
    found.push({ accountId: account.id, cardId: card.value.id });
  }
  return { shardId: shardId as number, found };
}

/** A trigger on the shard's authorizations that refuses one merchant id (a row-level failure). */
async function plantPoisonTrigger(cardId: string): Promise<void> {
  await router.write(cardId, async (tx) => {
    await tx.query(`
      CREATE OR REPLACE FUNCTION public.test_refuse_poison() RETURNS trigger
      LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'merchant % refused by the test trigger', NEW.merchant_id;
      END $$`);
    await tx.query(`
      CREATE OR REPLACE TRIGGER test_refuse_poison BEFORE INSERT ON public.authorizations
      FOR EACH ROW WHEN (NEW.merchant_id = '${POISON}')
      EXECUTE FUNCTION public.test_refuse_poison()`);
  });
}

/** The code a settled promise was rejected with, or `'fulfilled'`. */
function codeOf(settled: PromiseSettledResult<unknown>): string {
  if (settled.status === 'fulfilled') return 'fulfilled';
  return isMainstayError(settled.reason) ? settled.reason.code : String(settled.reason);
}

describe('batch isolation: bisecting a failed batch (no database)', () => {
  const parts = (items: readonly string[]) => ({
    size: (part: readonly string[]) => part.length,
    halves: (part: readonly string[]) => {
      const half = Math.ceil(part.length / 2);
      return [part.slice(0, half), part.slice(half)] as const;
    },
    singles: (part: readonly string[]) => part.map((item) => [item]),
    attempts: [] as string[][],
    answers: new Map<string, string>(),
    items,
  });

  test('availability failures keep their code and stop the split; item failures are catalogue errors', async () => {
    assert.equal(isAvailabilityFailure(new MainstayError('primary_unavailable', 'x')), true);
    assert.equal(isAvailabilityFailure(new MainstayError('write_outcome_unknown', 'x')), true);
    assert.equal(
      isAvailabilityFailure(Object.assign(new Error('x'), { code: 'ECONNRESET' })),
      true,
    );
    assert.equal(isAvailabilityFailure(Object.assign(new Error('x'), { code: '57P01' })), true);
    for (const code of ['22021', '23514', 'P0001', '40P01'])
      assert.equal(isAvailabilityFailure(Object.assign(new Error('x'), { code })), false, code);
    // The server, not a row: a read-only (demoted) primary, a cancelled statement, a full disk.
    for (const code of ['25006', '57014', '53100', '55P03', 'XX000']) {
      const error = Object.assign(new Error('x'), { code });
      assert.equal(isAvailabilityFailure(error), true, code);
      assert.equal((availabilityFailure(error) as MainstayError).code, 'primary_unavailable');
    }
    const bad = itemFailure(Object.assign(new Error('invalid byte sequence'), { code: '22021' }));
    assert.equal(bad.code, 'invalid_text');
    assert.ok(!bad.message.includes('invalid byte sequence'), 'no PostgreSQL text');
    const range = itemFailure(Object.assign(new Error('out of range'), { code: '22003' }));
    assert.equal(range.code, 'invalid_request');
    assert.equal(
      itemFailure(Object.assign(new Error('x'), { code: 'P0001' })).code,
      'internal_error',
    );

    // Items a..h; d fails as an item, and the shard goes away once a, b, c and d were tried.
    const bed = parts(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']);
    const stats = new EngineStats();
    let down = false;
    await runIsolated<readonly string[]>(
      bed.items,
      {
        ...bed,
        attempt: async (part) => {
          bed.attempts.push([...part]);
          if (down) throw new MainstayError('primary_unavailable', 'gone');
          if (part.includes('d')) {
            if (part.length === 1) down = true;
            throw Object.assign(new Error('refused'), { code: '23514' });
          }
          for (const item of part) bed.answers.set(item, 'ok');
        },
        fail: (part, error) => {
          for (const item of part) bed.answers.set(item, (error as MainstayError).code);
        },
      },
      8,
      stats,
    );
    assert.deepEqual(Object.fromEntries(bed.answers), {
      a: 'ok',
      b: 'ok',
      c: 'ok',
      d: 'internal_error',
      e: 'primary_unavailable',
      f: 'primary_unavailable',
      g: 'primary_unavailable',
      h: 'primary_unavailable',
    });
    assert.deepEqual(
      [stats.batchesIsolated, stats.itemsFailedAlone, stats.batchesFailed],
      [1, 1, 1],
    );
  });

  test('bisection is bounded: past bisectedFailuresMax failing items, one item per transaction', async () => {
    const items = Array.from({ length: 64 }, (_, i) => `i${i}`);
    const failing = new Set(['i3', 'i9', 'i40', 'i41', 'i63']);
    const run = async (bisectedFailuresMax: number) => {
      const bed = parts(items);
      const stats = new EngineStats();
      await runIsolated<readonly string[]>(
        items,
        {
          ...bed,
          attempt: async (part) => {
            bed.attempts.push([...part]);
            if (part.some((item) => failing.has(item))) throw new Error('refused');
            for (const item of part) bed.answers.set(item, 'ok');
          },
          fail: (part) => {
            for (const item of part) bed.answers.set(item, 'failed');
          },
        },
        bisectedFailuresMax,
        stats,
      );
      const failed = [...bed.answers].filter(([, answer]) => answer === 'failed').map(([i]) => i);
      assert.deepEqual(new Set(failed), failing, 'exactly the failing items failed');
      assert.equal(bed.answers.size, items.length, 'every item answered once');
      return bed.attempts.length;
    };
    const bisected = await run(8);
    // Each failing item costs at most 2 * log2(64) = 12 transactions, plus the whole batch.
    assert.ok(bisected <= 1 + failing.size * 12, `${bisected} transactions`);
    const capped = await run(1);
    assert.ok(capped <= 1 + 12 + items.length, `${capped} transactions`);
  });
});

describe('batch isolation on a real fleet', () => {
  let engine: AuthorizationEngine;

  before(async () => {
    fixture = await startFleet('cards-isolation', {}, [
      IDEMPOTENCY_MIGRATIONS,
      CARD_ACCOUNT_MIGRATIONS,
      AUTHORIZATION_MIGRATIONS,
    ]);
    router = await fixture.router();
    accounts = new CardAccountService(router);
    // A wide window: everything submitted in one turn of the event loop is one batch.
    engine = new AuthorizationEngine(router, { batchWindowMicros: 200_000 });
  });
  after(async () => {
    await engine?.close().catch(() => undefined);
    await fixture?.stop();
  });

  test('bad items among 39 valid requests on their card, 30 on other accounts and a capture: only they fail', async (t) => {
    const { found } = await accountsOnOneShard(3, 10_000_000n);
    const [hot, other1, other2] = found as [
      (typeof found)[0],
      (typeof found)[0],
      (typeof found)[0],
    ];
    await plantPoisonTrigger(hot.cardId);
    const hold = await engine.authorize(request(other1.cardId, 5_000n));
    assert.equal(hold.status, 'approved');

    const before = engine.stats;
    const sameCard = Array.from({ length: 39 }, () => request(hot.cardId, 100n));
    const others = Array.from({ length: 30 }, (_, i) =>
      request(i % 2 === 0 ? other1.cardId : other2.cardId, 200n),
    );
    const nul = request(hot.cardId, 100n, { merchantId: NUL });
    const poison = request(hot.cardId, 100n, { merchantId: POISON });
    // All in one turn: one batch. The bad ones sit in the middle of the valid ones.
    const valid = [...sameCard.slice(0, 20), ...others.slice(0, 15)];
    const validRest = [...sameCard.slice(20), ...others.slice(15)];
    const [validAnswers, badAnswers, restAnswers, capture] = await Promise.all([
      Promise.allSettled(valid.map((r) => engine.authorizeWithToken(r))),
      Promise.allSettled([nul, poison].map((r) => engine.authorizeWithToken(r))),
      Promise.allSettled(validRest.map((r) => engine.authorizeWithToken(r))),
      Promise.allSettled([engine.moveHold('capture', hold.id, 2_000n, `cap-${randomUUID()}`)]),
    ]);
    const after = engine.stats;
    assert.equal(after.batches - before.batches, 1, 'everything went out in one batch');

    const answers = [...validAnswers, ...restAnswers];
    assert.deepEqual(
      answers.map(codeOf).filter((code) => code !== 'fulfilled'),
      [],
      'every valid request was answered',
    );
    for (const settled of answers) {
      assert.ok(settled.status === 'fulfilled');
      assert.deepEqual(
        [settled.value.value.status, settled.value.value.decidedBy],
        ['approved', 'issuer'],
      );
    }
    assert.equal(codeOf(capture[0] as PromiseSettledResult<unknown>), 'fulfilled');
    const [nulAnswer, poisonAnswer] = badAnswers as [
      PromiseSettledResult<unknown>,
      PromiseSettledResult<unknown>,
    ];
    assert.equal(codeOf(nulAnswer), 'invalid_text', 'NUL: bad input, a 400');
    assert.ok(nulAnswer.status === 'rejected');
    assert.ok(!String(nulAnswer.reason.message).includes('byte sequence'), 'no PostgreSQL text');
    assert.equal(codeOf(poisonAnswer), 'internal_error', 'a refused row: a 500 of its own');
    assert.ok(after.batchesIsolated - before.batchesIsolated === 1);
    const failedAlone = after.itemsFailedAlone - before.itemsFailedAlone;
    assert.ok(failedAlone >= 1 && failedAlone <= 2, `${failedAlone} items failed alone`);
    // 72 items: each failing one costs at most 2 * ceil(log2(72)) = 14 transactions.
    const transactions = after.isolationTransactions - before.isolationTransactions;
    assert.ok(transactions <= 2 * 14, `${transactions} transactions`);
    t.diagnostic(
      `${failedAlone} bad items among 72: ${transactions} transactions after the failed batch`,
    );
    assert.equal(after.batchesFailed - before.batchesFailed, 0);

    // Each valid item was applied once: the books hold exactly them, nothing of the bad ones.
    const books = await readBooks(router, hot.accountId);
    assert.equal(books.held, 39n * 100n);
    assert.equal(books.held, books.openHolds);
    const otherBooks = await readBooks(router, other1.accountId);
    assert.equal(otherBooks.held, 15n * 200n + 3_000n);
    assert.equal(otherBooks.posted, 2_000n);
    // A retry of a request of the split batch is a replay of its one answer.
    const first = validAnswers[0] as PromiseFulfilledResult<{ value: { id: string } }>;
    const retry = await engine.authorizeWithToken(valid[0] as AuthorizationRequest);
    assert.deepEqual([retry.replayed, retry.value.id], [true, first.value.value.id]);
    assert.equal((await readBooks(router, hot.accountId)).held, 39n * 100n);
  });

  test('many bad items in one batch: past the bisection bound the rest goes one by one, and a lone bad item is a catalogue error', async () => {
    const { found } = await accountsOnOneShard(1, 10_000_000n);
    const { cardId, accountId } = found[0] as (typeof found)[0];
    await plantPoisonTrigger(cardId);
    const capped = new AuthorizationEngine(router, {
      batchWindowMicros: 200_000,
      bisectedFailuresMax: 1,
    });
    try {
      const requests = Array.from({ length: 40 }, (_, i) =>
        request(cardId, 100n, i % 8 === 3 ? { merchantId: POISON } : {}),
      );
      const settled = await Promise.allSettled(requests.map((r) => capped.authorize(r)));
      const codes = settled.map(codeOf);
      assert.equal(capped.stats.batches, 1);
      assert.deepEqual(
        codes.map((code, i) => (i % 8 === 3 ? code === 'internal_error' : code === 'fulfilled')),
        codes.map(() => true),
        codes.join(','),
      );
      assert.equal(capped.stats.itemsFailedAlone, 5);
      assert.equal((await readBooks(router, accountId)).held, 35n * 100n);
      // A batch of the bad item alone: the same catalogue error, not PostgreSQL's message.
      const alone = await Promise.allSettled([
        capped.authorize(request(cardId, 1n, { merchantId: NUL })),
      ]);
      assert.equal(codeOf(alone[0] as PromiseSettledResult<unknown>), 'invalid_text');
    } finally {
      await capped.close();
    }
  });
});
