/**
 * Ledger accounts on a real fleet (decision 49): customer accounts on their owner's shard,
 * idempotent opening, institution accounts striped over every shard and summed, statements
 * paged newest first by `seq`, balances at past times.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { newEntityId } from '../../../src/data/entity-id.ts';
import { IDEMPOTENCY_MIGRATIONS } from '../../../src/data/idempotency.ts';
import type { Router } from '../../../src/data/router.ts';
import { LedgerAccountService } from '../../../src/domains/ledger/core/ledger-account-service.ts';
import type { LedgerRequest } from '../../../src/domains/ledger/core/ledger-types.ts';
import { LEDGER_MIGRATIONS } from '../../../src/domains/ledger/sql/ledger-migrations.ts';
import { applyLedgerBatch } from '../../../src/domains/ledger/store/ledger-batch.ts';
import { isMainstayError } from '../../../src/errors/mainstay-error.ts';
import { type FleetFixture, startFleet } from '../../support/fleet-fixture.ts';

let fixture: FleetFixture;
let router: Router;
let accounts: LedgerAccountService;
let counter = 0;

before(async () => {
  fixture = await startFleet('ledger-accounts', {}, [IDEMPOTENCY_MIGRATIONS, LEDGER_MIGRATIONS]);
  router = await fixture.router();
  accounts = new LedgerAccountService(router, { stripesPerShard: 2 });
});

after(async () => {
  await fixture?.stop();
});

function key(label: string): string {
  counter += 1;
  return `${label}-${process.pid}-${counter}`;
}

async function post(shardOf: string, requests: LedgerRequest[]) {
  const shardId = router.map.shardOf(shardOf);
  return (await router.writeToShard(shardId, (tx) => applyLedgerBatch(tx, requests))).value;
}

function refusedWith(code: string) {
  return (error: unknown) => isMainstayError(error) && error.code === code;
}

describe('ledger accounts', () => {
  test("a customer's account opens on its owner's shard, guarded; a retry answers the same account", async () => {
    const owner = newEntityId('cus', 7);
    const idempotencyKey = key('open');
    const opened = await accounts.openAccount(
      { currency: 'CNY', kind: 'deposit', ownerId: owner },
      { idempotencyKey },
    );
    assert.equal(router.map.shardOf(opened.value.id), router.map.shardOf(owner));
    assert.equal(opened.value.guard, 'debits_must_not_exceed_credits');
    assert.equal(opened.value.balance, 0n);
    assert.ok(opened.token);
    const again = await accounts.openAccount(
      { currency: 'CNY', kind: 'deposit', ownerId: owner },
      { idempotencyKey },
    );
    assert.equal(again.value.id, opened.value.id);
    assert.equal(again.replayed, true);
    await assert.rejects(
      accounts.openAccount(
        { currency: 'USD', kind: 'deposit', ownerId: owner },
        { idempotencyKey },
      ),
      refusedWith('idempotency_key_reused'),
    );
    const read = await accounts.getAccount(opened.value.id, opened.token);
    assert.equal(read.id, opened.value.id);
  });

  test('bad input is refused and nothing is opened', async () => {
    await assert.rejects(
      accounts.openAccount({ currency: 'XXY', kind: 'wallet' }, { idempotencyKey: key('bad') }),
      refusedWith('currency_unsupported'),
    );
    await assert.rejects(
      accounts.openAccount({ currency: 'cny', kind: 'wallet' }, { idempotencyKey: key('bad') }),
      refusedWith('invalid_request'),
    );
    await assert.rejects(
      accounts.openAccount(
        { currency: 'CNY', kind: 'wallet', ownerId: 'a\u0000b' },
        { idempotencyKey: key('bad') },
      ),
      refusedWith('invalid_request'),
    );
    await assert.rejects(
      accounts.openInstitutionAccount({ code: 'Bad Code', kind: 'fees', currency: 'CNY' }),
      refusedWith('invalid_request'),
    );
    await assert.rejects(
      accounts.openInstitutionAccount({ code: key('settle'), kind: 'settlement', currency: 'CNY' }),
      refusedWith('invalid_request'),
    );
    await assert.rejects(accounts.getAccount('lacc_nope'), refusedWith('resource_not_found'));
  });

  test('an institution account has stripes on every shard; its balance is their sum', async () => {
    const code = key('fees');
    const fees = await accounts.openInstitutionAccount({ code, kind: 'fees', currency: 'CNY' });
    assert.equal(fees.stripes.length, router.map.shardIds.length * 2);
    assert.deepEqual(
      [...new Set(fees.stripes.map((s) => s.shardId))].sort(),
      [...router.map.shardIds].sort(),
    );
    for (const stripe of fees.stripes) assert.equal(router.map.shardOf(stripe.id), stripe.shardId);
    const repeated = await accounts.openInstitutionAccount({ code, kind: 'fees', currency: 'CNY' });
    assert.deepEqual(repeated.stripes, fees.stripes, 'opening again keeps the stripes');
    // A payment on every shard, each against the fee stripe beside the payer.
    let total = 0n;
    for (const shardId of router.map.shardIds) {
      const bucket = router.map.snapshot.buckets.find((r) => r.shardId === shardId)?.first ?? 0;
      const payer = (
        await accounts.openAccount(
          { currency: 'CNY', kind: 'wallet', ownerId: newEntityId('cus', bucket), guard: 'none' },
          { idempotencyKey: key('payer') },
        )
      ).value.id;
      const stripe = await accounts.stripeNear(code, 'CNY', payer, shardId);
      assert.equal(router.map.shardOf(stripe), shardId);
      const amount = BigInt(100 + shardId);
      total += amount;
      const [outcome] = await post(payer, [
        {
          kind: 'transfer',
          id: key('fee'),
          debitAccountId: payer,
          creditAccountId: stripe,
          amount,
          currency: 'CNY',
        },
      ]);
      assert.equal(outcome?.status, 'posted');
    }
    const summed = await accounts.institutionAccount(code, 'CNY');
    assert.equal(summed.creditsPosted, total);
    assert.equal(summed.balance, total);
  });

  test('a statement pages newest first by seq; the balance at a past time is what it was', async () => {
    const funding = await accounts.openInstitutionAccount({
      code: key('funding'),
      kind: 'suspense',
      currency: 'CNY',
    });
    const wallet = (
      await accounts.openAccount({ currency: 'CNY', kind: 'wallet' }, { idempotencyKey: key('w') })
    ).value.id;
    const source = await accounts.stripeNear(funding.code, 'CNY', wallet, 0);
    const marks: { at: Date; balance: bigint }[] = [];
    for (let step = 1; step <= 7; step += 1) {
      await post(wallet, [
        {
          kind: 'transfer',
          id: key('in'),
          debitAccountId: source,
          creditAccountId: wallet,
          amount: BigInt(step),
          currency: 'CNY',
        },
      ]);
      marks.push({ at: new Date(), balance: BigInt((step * (step + 1)) / 2) });
      await new Promise((resolve) => setTimeout(resolve, 3));
    }
    const first = await accounts.statement(wallet, { limit: 3 });
    assert.deepEqual(
      first.data.map((line) => line.seq),
      [7n, 6n, 5n],
    );
    assert.equal(first.data[0]?.balance, 28n);
    assert.equal(first.hasMore, true);
    const second = await accounts.statement(wallet, {
      limit: 3,
      startingAfter: first.nextCursor ?? '',
    });
    assert.deepEqual(
      second.data.map((line) => line.seq),
      [4n, 3n, 2n],
    );
    const last = await accounts.statement(wallet, {
      limit: 3,
      startingAfter: second.nextCursor ?? '',
    });
    assert.deepEqual(
      last.data.map((line) => `${line.seq} ${line.credit} ${line.balance}`),
      ['1 1 1'],
    );
    assert.equal(last.nextCursor, null);
    await assert.rejects(
      accounts.statement(wallet, { limit: 3, startingAfter: 'x' }),
      refusedWith('invalid_request'),
    );
    for (const mark of marks) {
      assert.equal((await accounts.balanceAt(wallet, mark.at)).balance, mark.balance);
    }
    assert.equal((await accounts.balanceAt(wallet, new Date(0))).balance, 0n);
  });

  test('a statement of more than nine postings pages in number order, not text order', async () => {
    const funding = await accounts.openInstitutionAccount({
      code: key('funding'),
      kind: 'suspense',
      currency: 'CNY',
    });
    const wallet = (
      await accounts.openAccount({ currency: 'CNY', kind: 'wallet' }, { idempotencyKey: key('w') })
    ).value.id;
    const source = await accounts.stripeNear(funding.code, 'CNY', wallet, 0);
    await post(
      wallet,
      Array.from({ length: 12 }, (_, n) => ({
        kind: 'transfer' as const,
        id: key('in'),
        debitAccountId: source,
        creditAccountId: wallet,
        amount: BigInt(n + 1),
        currency: 'CNY',
      })),
    );
    const seen: bigint[][] = [];
    let cursor: string | null = null;
    do {
      const page = await accounts.statement(wallet, {
        limit: 5,
        ...(cursor === null ? {} : { startingAfter: cursor }),
      });
      seen.push(page.data.map((line) => line.seq));
      cursor = page.nextCursor;
    } while (cursor !== null);
    assert.deepEqual(seen, [
      [12n, 11n, 10n, 9n, 8n],
      [7n, 6n, 5n, 4n, 3n],
      [2n, 1n],
    ]);
  });
});
