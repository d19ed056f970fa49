/**
 * Payments on a real fleet (decision 50): P2P on one shard and across shards with fees by rule
 * (linked to the payment: both or neither), the fee rounding against an oracle, merchant QR
 * codes (paid once, replayed under the same key, refused altered, expired or paid twice with
 * nothing written), the payer's primary hung (SIGSTOP) with payments and their retries in flight
 * on two processes' batches (each paid once, one answer per payment), and the books balanced
 * after each.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { newEntityId, taggedBucket } from '../../../src/data/entity-id.ts';
import { feeOfRule, feeRulesOf } from '../../../src/domains/ledger/payments/core/fee-rules.ts';
import { signQrPayload } from '../../../src/domains/ledger/payments/core/qr-payload.ts';
import { insertQrCode, readQrCode } from '../../../src/domains/ledger/payments/store/qr-store.ts';
import { isMainstayError } from '../../../src/errors/mainstay-error.ts';
import { CURRENCY, FEES, type PaymentsFleet, rid, startPaymentsFleet } from './payments-fleet.ts';

/** p2p: 0.3 % + 1, at least 2, at most 50, on the payer; qr: 0.6 % on the merchant. */
const P2P_RULE = {
  kind: 'p2p',
  currency: CURRENCY,
  basisPoints: 30,
  fixed: 1,
  min: 2,
  max: 50,
} as const;
const QR_RULE = { kind: 'qr', currency: CURRENCY, basisPoints: 60, chargedTo: 'payee' } as const;

let fleet: PaymentsFleet;

before(async () => {
  fleet = await startPaymentsFleet('payments', { fees: [P2P_RULE, QR_RULE] });
});
after(async () => {
  await fleet?.stop();
});

/** The fee as a person would work it out: the share rounded half up, fixed added, clamped. */
function oracleFee(
  amount: number,
  rule: { basisPoints?: number; fixed?: number; min?: number; max?: number },
) {
  const share = Math.round((amount * (rule.basisPoints ?? 0)) / 10_000);
  const fee = share + (rule.fixed ?? 0);
  return BigInt(Math.min(rule.max ?? Number.POSITIVE_INFINITY, Math.max(rule.min ?? 0, fee)));
}

async function feesBalance(): Promise<bigint> {
  return (await fleet.accounts.institutionAccount(FEES, CURRENCY)).balance;
}

async function rejects(work: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(work, (error) => isMainstayError(error) && error.code === code);
}

describe('fees by rule', () => {
  test('the fee follows the rounding rule for every amount, half up, clamped', () => {
    const [rule] = [feeRulesOf([P2P_RULE]).ruleFor('p2p', CURRENCY)];
    assert.ok(rule);
    for (const amount of [1, 2, 49, 50, 166, 167, 1_250, 16_666, 16_667, 1_000_000, 123_456_789])
      assert.equal(
        feeOfRule(rule, BigInt(amount)),
        oracleFee(amount, P2P_RULE),
        `amount ${amount}`,
      );
    assert.deepEqual(feeRulesOf([P2P_RULE]).feeFor('batch', CURRENCY, 1_000n), {
      amount: 0n,
      chargedTo: 'payer',
    });
    assert.throws(() => feeRulesOf([P2P_RULE, P2P_RULE]), /two fee rules/);
    assert.throws(() => feeRulesOf([{ ...P2P_RULE, min: 9, max: 3 }]), /min 9 is above max 3/);
  });
});

describe('P2P payments', () => {
  test('on one shard: the payment and its fee post together, a retry replays', async () => {
    const payer = await fleet.customerOn(fleet.shardA, 10_000n);
    const payee = await fleet.customerOn(fleet.shardA, 0n);
    const feesBefore = await feesBalance();
    const input = {
      id: rid('p2p'),
      kind: 'p2p' as const,
      payerAccountId: payer,
      payeeAccountId: payee,
      amount: 1_250n,
      currency: CURRENCY,
    };
    const fee = oracleFee(1_250, P2P_RULE);
    const { value } = await fleet.services.payments.pay(input);
    assert.equal(value.status, 'posted');
    assert.equal(value.route, 'same_shard');
    assert.equal(value.fee, fee);
    assert.equal(await fleet.balanceOf(payer), 10_000n - 1_250n - fee);
    assert.equal(await fleet.balanceOf(payee), 1_250n);
    assert.equal(await feesBalance(), feesBefore + fee);
    const again = await fleet.services.payments.pay(input);
    assert.equal(again.value.status, 'posted');
    assert.equal(again.replayed, true);
    const other = await fleet.services.payments.pay({ ...input, amount: 1_251n });
    assert.equal(other.value.status, 'exists_with_different_fields');
    assert.equal(await fleet.balanceOf(payer), 10_000n - 1_250n - fee, 'charged once');
    await fleet.assertBooksClean();
  });

  test('the fee is linked: a payer who can pay the amount but not its fee pays nothing', async () => {
    const payer = await fleet.customerOn(fleet.shardA, 1_000n);
    const payee = await fleet.customerOn(fleet.shardA, 0n);
    const feesBefore = await feesBalance();
    const { value } = await fleet.services.payments.pay({
      id: rid('p2p'),
      kind: 'p2p',
      payerAccountId: payer,
      payeeAccountId: payee,
      amount: 1_000n,
      currency: CURRENCY,
    });
    assert.equal(value.status, 'insufficient_funds');
    assert.equal(await fleet.balanceOf(payer), 1_000n);
    assert.equal(await fleet.balanceOf(payee), 0n);
    assert.equal(await feesBalance(), feesBefore);
  });

  test('across shards: pending, then posted on both sides with its fee', async () => {
    const payer = await fleet.customerOn(fleet.shardA, 50_000n);
    const payee = await fleet.customerOn(fleet.shardB, 0n);
    const feesBefore = await feesBalance();
    const amount = 20_000n;
    const fee = oracleFee(20_000, P2P_RULE);
    const input = {
      id: rid('p2p'),
      kind: 'p2p' as const,
      payerAccountId: payer,
      payeeAccountId: payee,
      amount,
      currency: CURRENCY,
      reference: 'rent',
    };
    const { value } = await fleet.services.payments.pay(input);
    assert.equal(value.status, 'pending');
    assert.equal(value.route, 'cross_shard');
    assert.equal((await fleet.accounts.getAccount(payer)).available, 50_000n - amount - fee);
    assert.equal((await fleet.services.payments.pay(input)).replayed, true);
    await fleet.settle();
    assert.equal(await fleet.balanceOf(payer), 50_000n - amount - fee);
    assert.equal((await fleet.accounts.getAccount(payer)).debitsPending, 0n);
    assert.equal(await fleet.balanceOf(payee), amount);
    assert.equal(await feesBalance(), feesBefore + fee);
    await fleet.assertBooksClean();
  });

  test('across shards, refused or voided: nothing moves and the fee is not kept', async () => {
    const payer = await fleet.customerOn(fleet.shardA, 5_000n);
    const payee = await fleet.customerOn(fleet.shardB, 0n);
    const feesBefore = await feesBalance();
    const pay = (amount: bigint, payeeAccountId = payee) =>
      fleet.services.payments.pay({
        id: rid('p2p'),
        kind: 'p2p',
        payerAccountId: payer,
        payeeAccountId,
        amount,
        currency: CURRENCY,
      });
    assert.equal((await pay(5_000n)).value.status, 'insufficient_funds', 'amount + fee > funds');
    const euro = await fleet.customerOn(fleet.shardB, 0n, 'EUR');
    assert.equal((await pay(100n, euro)).value.status, 'currency_mismatch');
    const unknown = newEntityId('lacc', taggedBucket(payee) as number);
    assert.equal((await pay(100n, unknown)).value.status, 'credit_account_not_found');
    assert.equal(await fleet.balanceOf(payer), 5_000n);
    assert.equal((await fleet.accounts.getAccount(payer)).debitsPending, 0n, 'no fee reserved');
    assert.equal(await feesBalance(), feesBefore);
    await fleet.assertBooksClean();
  });

  test('across shards at once: starts share transactions, and each payment answers as if alone', async () => {
    const payers = [];
    for (let n = 0; n < 4; n += 1) payers.push(await fleet.customerOn(fleet.shardA, 10_000n));
    const cannotPayFee = await fleet.customerOn(fleet.shardA, 1n);
    const cannotPayAmount = await fleet.customerOn(fleet.shardA, 3_000n);
    const payee = await fleet.customerOn(fleet.shardB, 0n);
    const feesBefore = await feesBalance();
    const input = (payerAccountId: string, amount: bigint) => ({
      id: rid('many'),
      kind: 'p2p' as const,
      payerAccountId,
      payeeAccountId: payee,
      amount,
      currency: CURRENCY,
    });
    const good = payers.flatMap((payer) => Array.from({ length: 5 }, () => input(payer, 1_000n)));
    const refusedByFee = input(cannotPayFee, 1n);
    const refusedByAmount = input(cannotPayAmount, 3_000n);
    const statsBefore = fleet.services.payments.startStats;
    const answers = await Promise.all(
      [...good, refusedByFee, refusedByAmount].map((one) => fleet.services.payments.pay(one)),
    );
    const stats = fleet.services.payments.startStats;
    const batches = stats.batches - statsBefore.batches;
    const requests = stats.requests - statsBefore.requests;
    assert.equal(requests, good.length + 2);
    assert.ok(batches < requests, `${requests} starts in ${batches} transactions`);
    assert.deepEqual(
      answers.map((answer) => answer.value.status),
      [...good.map(() => 'pending'), 'insufficient_funds', 'insufficient_funds'],
    );
    // A refusal is stored with its id: the same payment again answers it, replayed.
    const again = await fleet.services.payments.pay(refusedByFee);
    assert.deepEqual([again.value.status, again.replayed], ['insufficient_funds', true]);
    for (const poor of [cannotPayFee, cannotPayAmount])
      assert.equal((await fleet.accounts.getAccount(poor)).debitsPending, 0n, 'nothing reserved');
    await fleet.settle();
    const fee = oracleFee(1_000, P2P_RULE);
    for (const payer of payers)
      assert.equal(await fleet.balanceOf(payer), 10_000n - 5n * (1_000n + fee));
    assert.equal(await fleet.balanceOf(payee), BigInt(good.length) * 1_000n);
    assert.equal(await feesBalance(), feesBefore + BigInt(good.length) * fee);
    assert.deepEqual(
      [await fleet.balanceOf(cannotPayFee), await fleet.balanceOf(cannotPayAmount)],
      [1n, 3_000n],
    );
    await fleet.assertBooksClean();
  });

  test("the payer's primary hung (SIGSTOP), payments and retries in flight on two processes: each paid once", async () => {
    const other = await fleet.otherProcess();
    const payers = [];
    for (let n = 0; n < 3; n += 1) payers.push(await fleet.customerOn(fleet.shardA, 10_000n));
    const payee = await fleet.customerOn(fleet.shardB, 0n);
    const feesBefore = await feesBalance();
    const input = (payerAccountId: string) => ({
      id: rid('hung'),
      kind: 'p2p' as const,
      payerAccountId,
      payeeAccountId: payee,
      amount: 1_000n,
      currency: CURRENCY,
    });
    const before = payers.map(input);
    for (const one of before)
      assert.equal((await fleet.services.payments.pay(one)).value.status, 'pending');
    const during = payers.flatMap((payer) => [input(payer), input(payer)]);
    const primaryA = fleet.router.map.route(fleet.shardA).primary?.id as string;
    const victim = fleet.fixture.fleet.server(primaryA);
    assert.ok(victim);
    victim.signalAll('SIGSTOP');
    let resumed = false;
    try {
      // While the payer's shard hangs: each payment sent to this process, then the same one
      // again to the other process (a client's retry while its first attempt is in flight),
      // and the payments made before the hang driven.
      let answeredInHang = 0;
      const first = Promise.allSettled(
        during.map((one) =>
          fleet.services.payments.pay(one).finally(() => {
            if (!resumed) answeredInHang += 1;
          }),
        ),
      );
      const retried = Promise.allSettled(
        during.map(async (one) => {
          await sleep(200);
          return other.payments.pay(one);
        }),
      );
      const drives = Promise.allSettled(
        before.map((one) => fleet.driver.drive(one.id, one.payerAccountId)),
      );
      // Hostile text is refused at once, hung shard or not, and fails nothing else.
      for (const reference of ['nul\u0000', 'lone \ud800'])
        await rejects(
          other.payments.pay({ ...input(payers[0] as string), reference }),
          'invalid_request',
        );
      await sleep(1_500);
      resumed = true;
      victim.signalAll('SIGCONT');
      assert.equal(answeredInHang, 0, 'no payment on the hung shard was answered while it hung');
      const [a, b] = [await first, await retried];
      await drives;
      for (const [n, one] of during.entries()) {
        const answers = [a[n], b[n]].flatMap((o) => (o?.status === 'fulfilled' ? [o.value] : []));
        for (const o of [a[n], b[n]])
          if (o?.status === 'rejected')
            assert.ok(
              isMainstayError(o.reason, 'primary_unavailable') ||
                isMainstayError(o.reason, 'write_outcome_unknown'),
              String(o.reason),
            );
        // One request, one answer: whichever processes answered, they answered alike.
        for (const answer of answers) assert.equal(answer.value.status, 'pending', one.id);
        assert.ok(answers.filter((answer) => !answer.replayed).length <= 1, `${one.id} made twice`);
      }
    } finally {
      if (!resumed) victim.signalAll('SIGCONT');
    }
    // Every client retries what it did not see end, with the same id, on either process.
    for (const [n, one] of during.entries()) {
      const again = await (n % 2 === 0 ? fleet.services : other).payments.pay(one);
      assert.deepEqual([again.value.status, again.replayed], ['pending', true], one.id);
    }
    await fleet.settle();
    const fee = oracleFee(1_000, P2P_RULE);
    for (const payer of payers)
      assert.equal(await fleet.balanceOf(payer), 10_000n - 3n * (1_000n + fee), 'each paid once');
    assert.equal(await fleet.balanceOf(payee), BigInt(before.length + during.length) * 1_000n);
    assert.equal(await feesBalance(), feesBefore + BigInt(before.length + during.length) * fee);
    await fleet.assertBooksClean();
  });

  test('malformed payments are refused before anything is written', async () => {
    const payer = await fleet.customerOn(fleet.shardA, 100n);
    const base = {
      id: rid('p2p'),
      kind: 'p2p' as const,
      payerAccountId: payer,
      currency: CURRENCY,
    };
    await rejects(
      fleet.services.payments.pay({ ...base, payeeAccountId: payer, amount: 1n }),
      'invalid_request',
    );
    for (const amount of [0n, -5n, 2n ** 63n])
      await rejects(
        fleet.services.payments.pay({ ...base, payeeAccountId: `${payer}x`, amount }),
        'invalid_request',
      );
    await rejects(
      fleet.services.payments.pay({
        ...base,
        id: 'a\u0000b',
        payeeAccountId: `${payer}x`,
        amount: 1n,
      }),
      'invalid_request',
    );
    assert.equal(await fleet.balanceOf(payer), 100n);
  });
});

describe('QR payments', () => {
  async function qrFor(merchant: string, amount: bigint, key = rid('qr-key')) {
    return (
      await fleet.services.qrCodes.create(
        { merchantAccountId: merchant, amount, currency: CURRENCY, reference: 'order 42' },
        { idempotencyKey: key },
      )
    ).value;
  }

  test('paid once, the merchant bears the fee; the same key replays; another key is refused', async () => {
    const merchant = await fleet.customerOn(fleet.shardB, 0n);
    const payer = await fleet.customerOn(fleet.shardB, 10_000n);
    const other = await fleet.customerOn(fleet.shardA, 10_000n);
    const qr = await qrFor(merchant, 3_000n);
    const fee = oracleFee(3_000, QR_RULE);
    const pay = (payerAccountId: string, idempotencyKey: string, payload = qr.payload) =>
      fleet.services.qrCodes.pay({ payerAccountId, payload }, { idempotencyKey });
    const first = await pay(payer, 'qr-pay-1');
    assert.equal(first.value.status, 'posted');
    assert.equal(first.value.credited, 3_000n - fee);
    const again = await pay(payer, 'qr-pay-1');
    assert.equal(again.replayed, true);
    assert.equal(again.value.id, first.value.id);
    await rejects(pay(payer, 'qr-pay-2'), 'qr_code_already_paid');
    await rejects(pay(other, 'qr-pay-3'), 'qr_code_already_paid');
    await rejects(pay(other, 'qr-pay-1'), 'idempotency_key_reused');
    assert.equal(await fleet.balanceOf(payer), 7_000n);
    assert.equal(await fleet.balanceOf(other), 10_000n);
    assert.equal(await fleet.balanceOf(merchant), 3_000n - fee);
    assert.equal((await fleet.services.qrCodes.get(qr.id)).paid, true);
    await fleet.assertBooksClean();
  });

  test('a QR code paid from another shard completes across shards', async () => {
    const merchant = await fleet.customerOn(fleet.shardB, 0n);
    const payer = await fleet.customerOn(fleet.shardA, 10_000n);
    const qr = await qrFor(merchant, 2_500n);
    const fee = oracleFee(2_500, QR_RULE);
    const paid = await fleet.services.qrCodes.pay(
      { payerAccountId: payer, payload: qr.payload },
      { idempotencyKey: rid('qr-pay') },
    );
    assert.equal(paid.value.status, 'pending');
    await fleet.settle();
    assert.equal(await fleet.balanceOf(payer), 7_500n);
    assert.equal(await fleet.balanceOf(merchant), 2_500n - fee);
    await fleet.assertBooksClean();
  });

  test('altered, expired, unknown or refused payloads write nothing', async () => {
    const merchant = await fleet.customerOn(fleet.shardA, 0n);
    const payer = await fleet.customerOn(fleet.shardA, 1_000n);
    const qr = await qrFor(merchant, 500n);
    const pay = (payload: string) =>
      fleet.services.qrCodes.pay({ payerAccountId: payer, payload }, { idempotencyKey: rid('k') });
    const [prefix, body, mac] = qr.payload.split('.') as [string, string, string];
    const fields = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    const altered = Buffer.from(JSON.stringify({ ...fields, a: '5' })).toString('base64url');
    await rejects(pay(`${prefix}.${altered}.${mac}`), 'qr_payload_invalid');
    await rejects(pay(`${prefix}.${body}.${mac.slice(0, -2)}AA`), 'qr_payload_invalid');
    await rejects(pay('not a payload'), 'qr_payload_invalid');
    const keys = await fleet.secrets.keysFor('payment-qr-signing');
    const expired = {
      id: newEntityId('pqr', taggedBucket(merchant) as number),
      merchantAccountId: merchant,
      amount: 500n,
      currency: CURRENCY,
      reference: 'late',
      expiresAt: new Date(Date.now() - 1_000),
    };
    await fleet.router.write(expired.id, (tx) => insertQrCode(tx, expired));
    await rejects(pay(signQrPayload(expired, keys.current)), 'qr_payload_expired');
    const ghost = {
      ...expired,
      id: newEntityId('pqr', taggedBucket(merchant) as number),
      expiresAt: new Date(Date.now() + 60_000),
    };
    await rejects(pay(signQrPayload(ghost, keys.current)), 'qr_payload_invalid');
    const big = await qrFor(merchant, 5_000n);
    assert.equal((await pay(big.payload)).value.status, 'insufficient_funds');
    const { value: row } = await fleet.router.read(big.id, (db) => readQrCode(db, big.id), {
      consistency: 'primary',
    });
    assert.equal(row?.claimDigest, null, 'a refused payment releases its claim');
    const { value: stale } = await fleet.router.read(
      expired.id,
      (db) => readQrCode(db, expired.id),
      {
        consistency: 'primary',
      },
    );
    assert.equal(stale?.claimDigest, null, 'an expired code is not claimed');
    assert.equal(await fleet.balanceOf(payer), 1_000n);
    assert.equal(await fleet.balanceOf(merchant), 0n);
    assert.equal((await pay(qr.payload)).value.status, 'posted', 'the real payload still pays');
    await fleet.assertBooksClean();
  });

  test('a code is made only for an open customer account in its currency, once per key', async () => {
    const merchant = await fleet.customerOn(fleet.shardA, 0n);
    const key = rid('qr-key');
    const first = await qrFor(merchant, 700n, key);
    const again = await fleet.services.qrCodes.create(
      { merchantAccountId: merchant, amount: 700n, currency: CURRENCY, reference: 'order 42' },
      { idempotencyKey: key },
    );
    assert.equal(again.replayed, true);
    assert.equal(again.value.payload, first.payload);
    const create = (fields: Record<string, unknown>) =>
      fleet.services.qrCodes.create(
        { merchantAccountId: merchant, amount: 1n, currency: CURRENCY, reference: 'r', ...fields },
        { idempotencyKey: rid('qr-key') },
      );
    await rejects(create({ currency: 'EUR' }), 'invalid_request');
    await rejects(create({ amount: 0n }), 'invalid_request');
    await rejects(create({ reference: 'a\u0000' }), 'invalid_request');
    await rejects(create({ expiresInSeconds: 1 }), 'invalid_request');
    await rejects(create({ merchantAccountId: 'lacc_nope' }), 'resource_not_found');
  });
});
