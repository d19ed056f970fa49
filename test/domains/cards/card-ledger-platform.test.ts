/**
 * Cards on the ledger as the platform hosts them (decision 52): the link module listed after
 * cards and ledger reaches both through the modules started before it, attaches the ledger to
 * the cards' posting job (behind its lease), and over HTTP a capture shows up on the card
 * account's receivable, the demo data's cards included; the end-of-day check holds, in the
 * ledger's end-of-day report too.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { cardsModule } from '../../../src/domains/cards/module.ts';
import { cardsOnLedgerModule } from '../../../src/links/cards-on-ledger.ts';
import { authHeaders } from '../../support/demo-credentials.ts';
import { startTestPlatform } from '../../support/platform-call.ts';
import { removeHome, tempHome } from '../../support/temp-home.ts';

const home = tempHome('card-ledger-platform');
const POLL_COUNT_MAX = 100;
const POLL_INTERVAL_MS = 100;
let platform: Awaited<ReturnType<typeof startTestPlatform>>;
let key = 0;

async function call(method: string, path: string, body?: unknown) {
  const response = await fetch(`${platform.url}${path}`, {
    method,
    headers: {
      ...authHeaders(home),
      ...(body === undefined
        ? {}
        : { 'content-type': 'application/json', 'idempotency-key': `k-${++key}` }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return {
    status: response.status,
    body: (text ? JSON.parse(text) : {}) as Record<string, unknown>,
  };
}

/** Polls `read` until `done` holds of its value (or fails with the last value). */
async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  let value = await read();
  for (let poll = 0; poll < POLL_COUNT_MAX && !done(value); poll += 1) {
    await sleep(POLL_INTERVAL_MS);
    value = await read();
  }
  assert.ok(done(value), `never reached: ${JSON.stringify(value)}`);
  return value;
}

describe('cards on the ledger, hosted by the platform', () => {
  before(async () => {
    platform = await startTestPlatform(home);
  });
  after(async () => {
    await platform?.stop();
    removeHome(home);
  });

  test('a capture over HTTP reaches the receivable; every card account equals the ledger', async () => {
    const account = await call('POST', '/v1/card-accounts', {
      currency: 'CNY',
      creditLimit: 90_000,
    });
    assert.equal(account.status, 201, JSON.stringify(account.body));
    const accountId = account.body.id as string;
    const card = await call('POST', `/v1/card-accounts/${accountId}/cards`, {});
    assert.equal(card.status, 201, JSON.stringify(card.body));
    const approved = await call('POST', '/v1/authorizations', {
      requestId: `req-${++key}`,
      cardId: card.body.id,
      amount: 12_000,
      currency: 'CNY',
      merchant: { id: 'mer_ledger', categoryCode: '5311' },
    });
    assert.equal(approved.body.status, 'approved', JSON.stringify(approved.body));
    const captured = await call('POST', `/v1/authorizations/${approved.body.id}/capture`, {
      amount: 5_000,
    });
    assert.equal(captured.status, 200, JSON.stringify(captured.body));

    const link = platform.modules.get(cardsOnLedgerModule);
    const receivableId = link.postings.receivableIdOf(accountId, 'CNY');
    const receivable = await eventually(
      () => call('GET', `/v1/ledger/accounts/${receivableId}`),
      (answer) => answer.status === 200 && answer.body.debitsPosted === 5_000,
    );
    assert.equal(receivable.body.kind, 'card_receivable');
    assert.equal(receivable.body.ownerId, accountId);
    assert.equal(receivable.body.debitsPending, 12_000 - 5_000);

    const jobs = platform.modules.get(cardsModule).jobSnapshots();
    const drain = jobs.find((job) => job.name === 'card-ledger-postings');
    assert.ok(drain && drain.runCount > 0, 'the posting job runs in the platform');
    const check = await eventually(
      () => link.checkCardAccounts(),
      (result) => result.ok,
    );
    assert.ok(check.accountsChecked > 1, 'the demo accounts are checked too');
    const report = await call('GET', '/v1/ledger/end-of-day');
    assert.equal(report.status, 200, JSON.stringify(report.body));
    const checks = report.body.checks as { name: string; ok: boolean }[];
    assert.deepEqual(
      checks.find((one) => one.name === 'card_accounts_equal_ledger'),
      { name: 'card_accounts_equal_ledger', ok: true, breakCount: 0, breaks: [] },
      "the ledger's end-of-day report carries the cards' check",
    );
  });
});
