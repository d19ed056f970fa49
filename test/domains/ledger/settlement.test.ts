/**
 * Clearing and settlement on a real fleet (decision 51): a counterparty's window closes and
 * settles on every shard, idempotently; its net positions equal the sum of the postings made
 * into it; the risk reserve is the configured share of its volume; the settlement file is
 * exact and the same bytes every time; the end-of-day report finds the trial balance at zero,
 * and reports a planted break, an overdue pending transfer and a plugged check with figures.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { IDEMPOTENCY_MIGRATIONS } from '../../../src/data/idempotency.ts';
import type { Router } from '../../../src/data/router.ts';
import { LedgerAccountService } from '../../../src/domains/ledger/core/ledger-account-service.ts';
import { EndOfDayService } from '../../../src/domains/ledger/settlement/core/end-of-day.ts';
import { SettlementService } from '../../../src/domains/ledger/settlement/core/settlement-service.ts';
import { windowIdOf } from '../../../src/domains/ledger/settlement/core/settlement-types.ts';
import { closeWindowOnShard } from '../../../src/domains/ledger/settlement/store/settlement-store.ts';
import { LEDGER_MIGRATIONS } from '../../../src/domains/ledger/sql/ledger-migrations.ts';
import { applyLedgerBatch } from '../../../src/domains/ledger/store/ledger-batch.ts';
import { isMainstayError } from '../../../src/errors/mainstay-error.ts';
import { type FleetFixture, startFleet } from '../../support/fleet-fixture.ts';

const CURRENCIES = ['CNY', 'USD'] as const;
const RESERVE_BP = 1 + randomInt(400);
const RESERVE_CODE = 'risk-reserve';
const BANK_CODE = 'settlement-bank';
const FUNDING_CODE = 'funding';

let fixture: FleetFixture;
let router: Router;
let accounts: LedgerAccountService;
let settlement: SettlementService;
let counter = 0;

before(async () => {
  fixture = await startFleet('ledger-settlement', {}, [IDEMPOTENCY_MIGRATIONS, LEDGER_MIGRATIONS]);
  router = await fixture.router();
  accounts = new LedgerAccountService(router, { stripesPerShard: 2 });
  settlement = new SettlementService(router, {
    reserveBasisPoints: RESERVE_BP,
    reserveAccountCode: RESERVE_CODE,
    bankAccountCode: BANK_CODE,
  });
  for (const currency of CURRENCIES) {
    await accounts.openInstitutionAccount({ code: RESERVE_CODE, kind: 'risk_reserve', currency });
    await accounts.openInstitutionAccount({ code: BANK_CODE, kind: 'suspense', currency });
    await accounts.openInstitutionAccount({ code: FUNDING_CODE, kind: 'suspense', currency });
  }
});

after(async () => {
  await fixture?.stop();
});

function key(label: string): string {
  counter += 1;
  return `${label}-${process.pid}-${counter}`;
}

function refusedWith(code: string) {
  return (error: unknown) => isMainstayError(error) && error.code === code;
}

/** A counterparty with a settlement account in every currency, striped over every shard. */
async function newCounterparty(): Promise<string> {
  const counterparty = key('merchant, "the shop"');
  for (const currency of CURRENCIES) {
    await accounts.openInstitutionAccount({
      code: key('settle'),
      kind: 'settlement',
      currency,
      counterparty,
    });
  }
  return counterparty;
}

interface Expected {
  debits: bigint;
  credits: bigint;
  count: bigint;
}

/**
 * Payments into and refunds out of every settlement stripe of `counterparty` on every shard,
 * each against the funding stripe beside it; what they add up to per currency.
 */
async function trade(counterparty: string): Promise<Map<string, Expected>> {
  const expected = new Map<string, Expected>();
  for (const currency of CURRENCIES) {
    const sums = { debits: 0n, credits: 0n, count: 0n };
    expected.set(currency, sums);
    const stripes = await settlementStripes(counterparty, currency);
    for (const stripe of stripes) {
      const funding = await accounts.stripeNear(FUNDING_CODE, currency, stripe.id, randomInt(8));
      const paid = BigInt(1 + randomInt(1_000_000));
      const refunded = BigInt(1 + randomInt(Number(paid)));
      await post(stripe.id, [
        move(funding, stripe.id, paid, currency),
        move(stripe.id, funding, refunded, currency),
      ]);
      sums.credits += paid;
      sums.debits += refunded;
      sums.count += 2n;
    }
  }
  return expected;
}

async function settlementStripes(counterparty: string, currency: string) {
  const { value } = await router.readShard(router.map.shardIds[0] as number, (db) =>
    db.query<{ code: string }>(
      `SELECT DISTINCT code FROM public.ledger_accounts
        WHERE owner_id = $1 AND kind = 'settlement' AND currency = $2`,
      [counterparty, currency],
    ),
  );
  const code = value.rows[0]?.code;
  assert.ok(code, `a settlement account of ${counterparty} in ${currency}`);
  return (await accounts.institutionAccount(code, currency)).stripes;
}

function move(debit: string, credit: string, amount: bigint, currency: string) {
  return {
    kind: 'transfer' as const,
    id: key('t'),
    debitAccountId: debit,
    creditAccountId: credit,
    amount,
    currency,
  };
}

async function post(near: string, requests: ReturnType<typeof move>[]) {
  const { value } = await router.writeToShard(router.map.shardOf(near), (tx) =>
    applyLedgerBatch(tx, requests),
  );
  for (const outcome of value) assert.equal(outcome.status, 'posted');
}

/** The balance of institution account `code` in `currency`, summed over its stripes. */
async function balanceOf(code: string, currency: string): Promise<bigint> {
  return (await accounts.institutionAccount(code, currency)).balance;
}

/** The settlement file as the runbook documents it, built from the test's own figures. */
function expectedFile(
  window: Awaited<ReturnType<SettlementService['window']>>,
  expected: Map<string, Expected>,
): string {
  const header =
    'window_id,counterparty,window_number,currency,minor_unit,opened_at,closed_at,debits,credits,net,transfer_count,reserve_basis_points,reserve,settlement_amount';
  const lines = [header];
  for (const currency of [...expected.keys()].sort()) {
    const sums = expected.get(currency) as Expected;
    const net = sums.credits - sums.debits;
    const reserve = ((sums.debits + sums.credits) * BigInt(RESERVE_BP)) / 10_000n;
    lines.push(
      [
        window.id,
        `"${window.counterparty.replaceAll('"', '""')}"`,
        window.number,
        currency,
        2,
        window.openedAt.toISOString(),
        window.closedAt?.toISOString(),
        sums.debits,
        sums.credits,
        net,
        sums.count,
        RESERVE_BP,
        reserve,
        net - reserve,
      ].join(','),
    );
  }
  return `${lines.join('\r\n')}\r\n`;
}

describe('settlement windows', () => {
  test('a window closes and settles on every shard, idempotently, with the configured reserve', async () => {
    const counterparty = await newCounterparty();
    const id = windowIdOf({ counterparty, number: 1n });
    const listed = await settlement.list({ counterparty }, { limit: 10 });
    assert.deepEqual(
      listed.data.map((w) => [w.id, w.state, w.shardCount]),
      [[id, 'open', router.map.shardIds.length]],
    );
    const expected = await trade(counterparty);
    const open = await settlement.positions(id);
    for (const position of open.positions) {
      const sums = expected.get(position.currency) as Expected;
      assert.deepEqual(
        [position.debits, position.credits, position.net, position.transferCount],
        [sums.debits, sums.credits, sums.credits - sums.debits, sums.count],
      );
    }
    await assert.rejects(settlement.file(id), refusedWith('state_conflict'));
    await assert.rejects(
      settlement.settle(id, { idempotencyKey: key('s') }),
      refusedWith('state_conflict'),
    );

    const closeKey = key('close');
    const closed = await settlement.close(id, { idempotencyKey: closeKey });
    assert.equal(closed.value.window.state, 'closed');
    assert.equal(closed.value.window.reserveBasisPoints, RESERVE_BP);
    assert.equal(closed.value.window.shardsClosed, router.map.shardIds.length);
    for (const position of closed.value.positions) {
      const sums = expected.get(position.currency) as Expected;
      const reserve = ((sums.debits + sums.credits) * BigInt(RESERVE_BP)) / 10_000n;
      assert.equal(position.reserve, reserve, `${position.currency} reserve`);
      assert.equal(position.settlementAmount, sums.credits - sums.debits - reserve);
    }
    const reserveBefore = new Map<string, bigint>();
    for (const currency of CURRENCIES)
      reserveBefore.set(currency, await balanceOf(RESERVE_CODE, currency));

    // Repeats: the same key replays; another key changes nothing; a reused key is refused.
    const again = await settlement.close(id, { idempotencyKey: closeKey });
    assert.equal(again.replayed, true);
    assert.deepEqual(again.value, closed.value);
    const other = await settlement.close(id, { idempotencyKey: key('close') });
    assert.equal(other.replayed, false);
    assert.deepEqual(other.value.positions, closed.value.positions);
    const next = windowIdOf({ counterparty, number: 2n });
    await assert.rejects(
      settlement.close(next, { idempotencyKey: closeKey }),
      refusedWith('idempotency_key_reused'),
    );
    assert.equal((await settlement.window(next)).state, 'open', 'a refused close closes nothing');
    for (const currency of CURRENCIES)
      assert.equal(await balanceOf(RESERVE_CODE, currency), reserveBefore.get(currency));

    // Postings after the close land in window 2; window 1 is fixed, its file byte for byte.
    const later = await trade(counterparty);
    const file = await settlement.file(id);
    assert.equal(file.text, expectedFile(closed.value.window, expected));
    assert.deepEqual((await settlement.positions(id)).positions, closed.value.positions);

    const bankBefore = new Map<string, bigint>();
    for (const currency of CURRENCIES)
      bankBefore.set(currency, await balanceOf(BANK_CODE, currency));
    const settleKey = key('settle');
    const settled = await settlement.settle(id, { idempotencyKey: settleKey });
    assert.equal(settled.value.window.state, 'settled');
    assert.deepEqual(
      settled.value.shards.map((s) => s.status),
      router.map.shardIds.map(() => 'settled'),
    );
    const replayed = await settlement.settle(id, { idempotencyKey: settleKey });
    assert.equal(replayed.replayed, true);
    const repeated = await settlement.settle(id, { idempotencyKey: key('settle') });
    assert.deepEqual(
      repeated.value.shards.map((s) => [s.status, s.transferCount]),
      router.map.shardIds.map(() => ['already_settled', 0]),
    );
    for (const position of closed.value.positions) {
      const moved =
        (await balanceOf(BANK_CODE, position.currency)) -
        (bankBefore.get(position.currency) as bigint);
      assert.equal(
        moved,
        position.settlementAmount,
        `${position.currency} settled to the bank once`,
      );
    }
    // Window 1 moved the settlement accounts by nothing in the end: what is left is window 2's.
    const window2 = await settlement.positions(next);
    for (const position of window2.positions) {
      const sums = later.get(position.currency) as Expected;
      assert.deepEqual(
        [position.debits, position.credits, position.transferCount],
        [sums.debits, sums.credits, sums.count],
        'the settlement flow is no window’s flow',
      );
      const stripes = await settlementStripes(counterparty, position.currency);
      let balance = 0n;
      for (const stripe of stripes) balance += (await accounts.getAccount(stripe.id)).balance;
      assert.equal(balance, position.net);
    }
    assert.equal((await settlement.file(id)).text, file.text, 'settling does not change the file');
    for (const currency of CURRENCIES) {
      const reserve =
        (await balanceOf(RESERVE_CODE, currency)) - (reserveBefore.get(currency) as bigint);
      assert.equal(reserve, 0n, 'settling posts no second reserve');
    }
    const report = await new EndOfDayService(router, { pendingGraceMs: 60_000 }).run();
    assert.equal(
      report.ok,
      true,
      JSON.stringify(report.checks, (_k, v) => (typeof v === 'bigint' ? `${v}` : v)),
    );
    for (const totals of report.trialBalance)
      assert.equal(totals.debitsPosted, totals.creditsPosted);
  });
});

describe('a close cut short, and closes at once', () => {
  test('a close cut short shows open and is finished by repeating it; two closes at once post one reserve', async () => {
    const counterparty = await newCounterparty();
    const expected = await trade(counterparty);
    const id = windowIdOf({ counterparty, number: 1n });
    // Cut short: the first shard closed, the process gone before the others.
    const [first] = router.map.shardIds;
    await router.writeToShard(first as number, (tx) =>
      closeWindowOnShard(tx, { counterparty, number: 1n }),
    );
    const cut = await settlement.window(id);
    assert.deepEqual(
      [cut.state, cut.shardsClosed, cut.shardCount],
      ['open', 1, router.map.shardIds.length],
    );
    const reserveBefore = new Map<string, bigint>();
    for (const currency of CURRENCIES)
      reserveBefore.set(currency, await balanceOf(RESERVE_CODE, currency));
    const [a, b] = await Promise.all([
      settlement.close(id, { idempotencyKey: key('close') }),
      settlement.close(id, { idempotencyKey: key('close') }),
    ]);
    assert.deepEqual(a.value.positions, b.value.positions);
    assert.equal(a.value.window.state, 'closed');
    for (const currency of CURRENCIES) {
      const sums = expected.get(currency) as Expected;
      const reserve = ((sums.debits + sums.credits) * BigInt(RESERVE_BP)) / 10_000n;
      const moved =
        (await balanceOf(RESERVE_CODE, currency)) - (reserveBefore.get(currency) as bigint);
      assert.equal(moved, reserve, `${currency}: one reserve for two closes`);
    }
  });
});
