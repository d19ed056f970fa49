/**
 * The fault suite's ledger checks are oracles too: each must fail on the failure it looks for.
 * These plant it in what the clients were told or in the books read after the run (no fleet
 * needed) and show the check catch it, and pass without it.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Router } from '../src/data/router.ts';
import { noLostWrites } from './support/chaos/ledger-checks.ts';
import type { BookTransfer, LedgerBooks } from './support/chaos/ledger-transfer-books.ts';
import {
  acknowledgedOnceCheck,
  addLostTransfers,
  booksHoldCheck,
  guardedCheck,
  oneTransferAnswerCheck,
  refusedInputCheck,
  trialBalanceCheck,
} from './support/chaos/ledger-transfer-checks.ts';
import { TransferRecord } from './support/chaos/ledger-transfer-trails.ts';

/** A record where `t1` was told `posted 500` by `up`, and once more by `api` (a retry). */
function told(second = { status: 'posted', amount: 500 }): TransferRecord {
  const record = new TransferRecord();
  const trail = record.trail({ id: 't1', kind: 'transfer', shardKey: 'lacc_1', amount: 500 });
  trail.answers.push({ status: 'posted', amount: 500, replayed: false, process: 'up' });
  trail.answers.push({ ...second, replayed: true, process: 'api' });
  record.guarded.push('lacc_1');
  return record;
}

function books(
  rows: Record<string, BookTransfer[]>,
  extra: Partial<Omit<LedgerBooks, 'transfers'>> = {},
): LedgerBooks {
  const postingCounts = new Map<string, number>();
  for (const [id, found] of Object.entries(rows))
    postingCounts.set(id, found.filter((row) => row.status === 'posted').length * 2);
  return {
    transfers: new Map(Object.entries(rows)),
    postingCounts,
    breaks: [],
    belowZero: [],
    guardedCount: 1,
    ownGuardedFound: 1,
    trial: new Map([['CNY', { posted: 0n, pending: 0n }]]),
    accountCount: 2,
    ...extra,
  };
}

const posted = (shardId = 0, amount = 500): BookTransfer => ({
  shardId,
  kind: 'transfer',
  status: 'posted',
  amount,
});

describe('the ledger checks of the fault suite', () => {
  test('an acknowledged transfer on two shards, or not as told, fails; once as told passes', () => {
    const record = told();
    assert.equal(acknowledgedOnceCheck(record, books({ t1: [posted()] })).outcome, 'pass');
    assert.equal(
      acknowledgedOnceCheck(record, books({ t1: [posted(), posted(1)] })).outcome,
      'fail',
    );
    assert.equal(acknowledgedOnceCheck(record, books({ t1: [posted(0, 499)] })).outcome, 'fail');
  });

  test('an acknowledged transfer on no shard is a lost write, counted in its shard', () => {
    const lost = noLostWrites();
    const router = { map: { shardOf: () => 2 } } as unknown as Router;
    assert.equal(addLostTransfers(told(), books({}), lost, router), 1);
    assert.equal(lost.ledgerTransfers.length, 1);
    assert.deepEqual(lost.byDatabase, { shard_2: 1 });
    const none = noLostWrites();
    addLostTransfers(told(), books({ t1: [posted()] }), none, router);
    assert.deepEqual(none.ledgerTransfers, []);
  });

  test('two answers for one id fail, and so do books that differ from the one answer', () => {
    const fine = books({ t1: [posted()] });
    assert.equal(oneTransferAnswerCheck(told(), fine).outcome, 'pass');
    const twice = told({ status: 'insufficient_funds', amount: 500 });
    assert.equal(oneTransferAnswerCheck(twice, fine).outcome, 'fail');
    const refused = books({ t1: [{ ...posted(), status: 'insufficient_funds' }] });
    assert.equal(oneTransferAnswerCheck(told(), refused).outcome, 'fail');
  });

  test('bad input answered 2xx, or written, fails', () => {
    const record = new TransferRecord();
    const call = { what: 'U+0000 in an id', ids: ['b1-ok'], shardKey: 'lacc_1', answers: [] };
    record.refusedCalls.push({ ...call, answers: [{ status: 400, code: 'invalid_text' }] });
    assert.equal(refusedInputCheck(record, books({})).outcome, 'pass');
    assert.equal(refusedInputCheck(record, books({ 'b1-ok': [posted()] })).outcome, 'fail');
    record.refusedCalls.push({ ...call, answers: [{ status: 200, code: null }] });
    assert.equal(refusedInputCheck(record, books({})).outcome, 'fail');
  });

  test('a break of the books, or a transfer with postings twice, fails', () => {
    const fine = books({ t1: [posted()] });
    assert.equal(booksHoldCheck(told(), fine).outcome, 'pass');
    const breaks = ['shard_0 account_totals lacc_1: expected 1/2/0/0, 1/3/0/0'];
    assert.equal(booksHoldCheck(told(), { ...fine, breaks }).outcome, 'fail');
    const twice = { ...fine, postingCounts: new Map([['t1', 4]]) };
    assert.equal(booksHoldCheck(told(), twice).outcome, 'fail');
  });

  test('a guarded account below zero, or a wallet missing, fails', () => {
    const fine = books({});
    assert.equal(guardedCheck(told(), fine).outcome, 'pass');
    const below = { ...fine, belowZero: ['shard_0 lacc_1 seq 3: debits 10 > credits 5'] };
    assert.equal(guardedCheck(told(), below).outcome, 'fail');
    assert.equal(guardedCheck(told(), { ...fine, ownGuardedFound: 0 }).outcome, 'fail');
  });

  test('a currency that does not sum to zero over the shards fails', () => {
    assert.equal(trialBalanceCheck(books({})).outcome, 'pass');
    const off = books({}, { trial: new Map([['CNY', { posted: 0n, pending: 7n }]]) });
    assert.equal(trialBalanceCheck(off).outcome, 'fail');
  });
});
