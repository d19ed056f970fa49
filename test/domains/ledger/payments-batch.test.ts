/**
 * Payment batches on a real fleet (decision 50): a file of a few thousand lines with bad lines
 * of every kind, run, stopped after its first chunk as a crash would, with some items applied
 * but not recorded, then resumed: every line gets exactly its expected result, no item is
 * applied twice, the balances are exact and the books of every shard hold.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { newEntityId, taggedBucket } from '../../../src/data/entity-id.ts';
import {
  BATCH_CSV_HEADER,
  readBatchFile,
} from '../../../src/domains/ledger/payments/core/batch-file.ts';
import { BATCH_CHUNK_SIZE } from '../../../src/domains/ledger/payments/core/payment-batches.ts';
import type { BatchItemRow } from '../../../src/domains/ledger/payments/store/batch-store.ts';
import { isMainstayError } from '../../../src/errors/mainstay-error.ts';
import { CURRENCY, FEES, type PaymentsFleet, rid, startPaymentsFleet } from './payments-fleet.ts';

const BATCH_FEE = 1n;
const LINE_COUNT = 3_000;
const PAYERS = 8;
const PAYEES = 6;

let fleet: PaymentsFleet;

before(async () => {
  fleet = await startPaymentsFleet('payments-batch', {
    fees: [{ kind: 'batch', currency: CURRENCY, fixed: Number(BATCH_FEE) }],
  });
});
after(async () => {
  await fleet?.stop();
});

/** What one line is meant to come out as, and the money it moves. */
interface Expected {
  readonly status: string;
  readonly debit?: string;
  readonly credit?: string;
  readonly amount?: bigint;
}

/** A CSV file of `LINE_COUNT` item lines (header first), with its expected outcome per line. */
async function buildFile() {
  const payers: string[] = [];
  const payees: string[] = [];
  for (let n = 0; n < PAYERS; n += 1)
    payers.push(await fleet.customerOn(n % 2 === 0 ? fleet.shardA : fleet.shardB, 10_000_000n));
  for (let n = 0; n < PAYEES; n += 1)
    payees.push(await fleet.customerOn(n % 2 === 0 ? fleet.shardB : fleet.shardA, 0n));
  const poor = await fleet.customerOn(fleet.shardA, 5n);
  const euro = await fleet.customerOn(fleet.shardA, 0n, 'EUR');
  const unknown = newEntityId('lacc', taggedBucket(payees[0] as string) as number);
  const chunks: Buffer[] = [Buffer.from(`${BATCH_CSV_HEADER}\n`)];
  const expected = new Map<number, Expected>();
  const sameShard = (a: string, b: string) =>
    fleet.router.map.shardOf(a) === fleet.router.map.shardOf(b);
  for (let n = 0; n < LINE_COUNT; n += 1) {
    const line = n + 2;
    const debit = payers[n % PAYERS] as string;
    const credit = payees[n % PAYEES] as string;
    const amount = BigInt(100 + (n % 97));
    const good = `${debit},${credit},${amount},${CURRENCY},inv-${n}\n`;
    const bad = (text: string | Buffer, status: string) => {
      chunks.push(typeof text === 'string' ? Buffer.from(text) : text);
      expected.set(line, { status });
    };
    if (n % 211 === 5) bad(`${debit},${credit},-5,${CURRENCY},neg\n`, 'bad_amount');
    else if (n % 211 === 17) bad(`${debit},${credit},0,${CURRENCY},zero\n`, 'bad_amount');
    else if (n % 211 === 29)
      bad(`${debit},${credit},99999999999999999999,${CURRENCY},big\n`, 'bad_amount');
    else if (n % 211 === 41)
      bad(`${debit},${credit},12.50,${CURRENCY},fraction\n`, 'wrong_minor_unit');
    else if (n % 211 === 53)
      bad(`${debit},${unknown},100,${CURRENCY},ghost\n`, 'credit_account_not_found');
    else if (n % 211 === 67) bad(`${debit},${euro},100,${CURRENCY},euro\n`, 'currency_mismatch');
    else if (n % 211 === 79) bad(`${debit},${credit},100,${CURRENCY},nul\u0000\n`, 'invalid_text');
    else if (n % 211 === 97)
      bad(
        Buffer.concat([
          Buffer.from(`${debit},${credit},100,${CURRENCY},`),
          Buffer.from([0xc3, 0x28, 0x0a]),
        ]),
        'invalid_utf8',
      );
    else if (n % 211 === 101) bad(`${debit},${credit},100,XXX,currency\n`, 'bad_currency');
    else if (n % 211 === 113) bad(`${debit},lacc_bad,100,${CURRENCY},account\n`, 'bad_account');
    else if (n % 211 === 127) bad(`${debit},${credit},100\n`, 'malformed_line');
    else if (n % 211 === 139) bad(`${poor},${credit},100,${CURRENCY},poor\n`, 'insufficient_funds');
    else {
      chunks.push(Buffer.from(good));
      expected.set(line, {
        status: sameShard(debit, credit) ? 'posted' : 'pending',
        debit,
        credit,
        amount,
      });
    }
  }
  return { bytes: Buffer.concat(chunks), expected, accounts: [...payers, ...payees, poor, euro] };
}

async function allItems(id: string): Promise<BatchItemRow[]> {
  const rows: BatchItemRow[] = [];
  let startingAfter: string | undefined;
  for (;;) {
    const page = await fleet.services.batches.items(id, {
      limit: 100,
      ...(startingAfter === undefined ? {} : { startingAfter }),
    });
    rows.push(...page.data);
    if (!page.hasMore) return rows;
    startingAfter = page.nextCursor ?? undefined;
  }
}

describe('payment batches', () => {
  test('a few thousand lines with bad ones, crashed and resumed: exact per-line results, balanced books', async () => {
    const { bytes, expected, accounts } = await buildFile();
    const before = new Map<string, bigint>();
    for (const account of accounts) before.set(account, await fleet.balanceOf(account));
    const feesBefore = (await fleet.accounts.institutionAccount(FEES, CURRENCY)).balance;
    const key = rid('batch');
    const created = await fleet.services.batches.create(
      { bytes, format: 'csv' },
      { idempotencyKey: key },
      { start: false },
    );
    const id = created.value.id;
    assert.equal(created.value.state, 'processing');
    assert.equal(created.value.lineCount, LINE_COUNT + 1);
    // A crash after the first chunk was recorded...
    await assert.rejects(
      fleet.services.batches.run(id, {
        afterChunk: () => {
          throw new Error('crash');
        },
      }),
      /crash/,
    );
    // ...and items of the next chunk applied to the ledger but never recorded.
    const waiting = (await allItems(id)).filter((row) => row.state === 'waiting').slice(0, 40);
    assert.equal(waiting.length, 40);
    for (const row of waiting)
      await fleet.services.payments.pay({
        id: `batch:${id}:${row.line}`,
        kind: 'batch',
        payerAccountId: row.debitAccountId as string,
        payeeAccountId: row.creditAccountId as string,
        amount: row.amount as bigint,
        currency: CURRENCY,
        ...(row.reference === null ? {} : { reference: row.reference }),
      });
    const replay = await fleet.services.batches.create(
      { bytes, format: 'csv' },
      { idempotencyKey: key },
      { start: false },
    );
    assert.equal(replay.replayed, true);
    assert.equal(replay.value.id, id);
    const done = await fleet.services.batches.resume(id);
    assert.equal(done.state, 'completed');
    assert.equal(done.counts.waiting, undefined);
    const rows = await allItems(id);
    assert.equal(rows.length, expected.size);
    assert.ok(rows.length > BATCH_CHUNK_SIZE * 4);
    for (const row of rows) {
      assert.equal(row.status, expected.get(row.line)?.status, `line ${row.line}: ${row.detail}`);
    }
    assert.equal(
      rows.filter((row) => row.replayed).length,
      waiting.length,
      'applied once, replayed on resume',
    );
    await fleet.settle();
    const moved = new Map<string, bigint>();
    let fees = 0n;
    for (const want of expected.values()) {
      if (want.amount === undefined || want.debit === undefined || want.credit === undefined)
        continue;
      moved.set(want.debit, (moved.get(want.debit) ?? 0n) - want.amount - BATCH_FEE);
      moved.set(want.credit, (moved.get(want.credit) ?? 0n) + want.amount);
      fees += BATCH_FEE;
    }
    for (const account of accounts)
      assert.equal(
        await fleet.balanceOf(account),
        (before.get(account) ?? 0n) + (moved.get(account) ?? 0n),
        `balance of ${account}`,
      );
    assert.equal(
      (await fleet.accounts.institutionAccount(FEES, CURRENCY)).balance,
      feesBefore + fees,
    );
    await fleet.assertBooksClean();
  });

  test('JSON Lines: bad fields per line, good lines paid; whole-file faults refused', async () => {
    const payer = await fleet.customerOn(fleet.shardA, 1_000n);
    const payee = await fleet.customerOn(fleet.shardA, 0n);
    const line = (fields: Record<string, unknown>) =>
      JSON.stringify({
        debitAccountId: payer,
        creditAccountId: payee,
        currency: CURRENCY,
        ...fields,
      });
    const file = [
      line({ amount: 100 }),
      line({ amount: 1.5 }),
      line({ amount: '100' }),
      '{"debitAccountId": ',
      line({ amount: 100, reference: 'a\u0000b' }),
      '',
      line({ amount: 200, reference: 'second' }),
    ].join('\n');
    const { value } = await fleet.services.batches.create(
      { bytes: Buffer.from(file), format: 'jsonl' },
      { idempotencyKey: rid('batch') },
      { start: false },
    );
    await fleet.services.batches.resume(value.id);
    const rows = await allItems(value.id);
    assert.deepEqual(
      rows.map((row) => [row.line, row.status]),
      [
        [1, 'posted'],
        [2, 'wrong_minor_unit'],
        [3, 'bad_amount'],
        [4, 'malformed_line'],
        [5, 'invalid_text'],
        [7, 'posted'],
      ],
    );
    assert.equal(await fleet.balanceOf(payee), 300n);
    const invalid = (bytes: string, format: 'csv' | 'jsonl') =>
      assert.throws(
        () => readBatchFile(Buffer.from(bytes), format),
        (error) => isMainstayError(error, 'payment_batch_file_invalid'),
      );
    invalid('amount,currency\n1,CNY\n', 'csv');
    invalid(`${BATCH_CSV_HEADER}\n\n`, 'csv');
    invalid('', 'jsonl');
    await assert.rejects(
      fleet.services.batches
        .create(
          { bytes: Buffer.from(`${line({ amount: 5 })}\n`), format: 'jsonl' },
          {
            idempotencyKey: 'reused-batch-key',
          },
        )
        .then(() =>
          fleet.services.batches.create(
            { bytes: Buffer.from(`${line({ amount: 6 })}\n`), format: 'jsonl' },
            {
              idempotencyKey: 'reused-batch-key',
            },
          ),
        ),
      (error) => isMainstayError(error, 'idempotency_key_reused'),
    );
  });
});
