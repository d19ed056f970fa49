/**
 * The ledger over HTTP against a real platform (decision 49): accounts, institution accounts,
 * transfers (single, linked, two-phase) with their outcomes as statuses, retries answered from
 * the first outcome, statements and past balances, a cross-shard transfer completed by the
 * leased driver, and bad input refused with problem+json and nothing written.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Answer, platformCaller, startTestPlatform } from '../../support/platform-call.ts';
import { removeHome, tempHome } from '../../support/temp-home.ts';

const home = tempHome('ledger-api');
let platform: Awaited<ReturnType<typeof startTestPlatform>>;
let key = 0;

const call = platformCaller(home, () => platform.url);

const next = (label: string) => `${label}-${process.pid}-${++key}`;

async function openAccount(extra: Record<string, unknown> = {}): Promise<string> {
  const answer = await call(
    'POST',
    '/v1/ledger/accounts',
    { currency: 'CNY', kind: 'wallet', ...extra },
    { 'idempotency-key': next('open') },
  );
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  return answer.body.id as string;
}

async function transfers(requests: unknown[], headers: Record<string, string> = {}) {
  return call('POST', '/v1/ledger/transfers', { requests }, headers);
}

const statuses = (answer: Answer) =>
  (answer.body.data as { status: string }[]).map((outcome) => outcome.status);

describe('the ledger over HTTP', () => {
  let funding: string;
  let fundingCode: string;
  let stripes: { shardId: number; id: string }[];

  before(async () => {
    platform = await startTestPlatform(home);
    fundingCode = next('funding');
    const institution = await call('POST', '/v1/ledger/institution-accounts', {
      code: fundingCode,
      kind: 'suspense',
      currency: 'CNY',
    });
    assert.equal(institution.status, 200, JSON.stringify(institution.body));
    stripes = institution.body.stripes as { shardId: number; id: string }[];
    funding = stripes[0]?.id as string;
  });
  after(async () => {
    await platform?.stop();
    removeHome(home);
  });

  /** A funded wallet on the shard of funding stripe `from` (the first stripe's by default). */
  async function fundedWallet(amount: number, from = funding): Promise<string> {
    const wallet = await openAccount({ ownerId: from });
    const answer = await transfers([
      {
        id: next('fund'),
        debitAccountId: from,
        creditAccountId: wallet,
        amount,
        currency: 'CNY',
      },
    ]);
    assert.deepEqual(statuses(answer), ['posted'], JSON.stringify(answer.body));
    return wallet;
  }

  test('transfers post, refusals are statuses, a token reads its own writes, a retry is replayed', async () => {
    const wallet = await fundedWallet(1_000);
    const shop = await openAccount({ ownerId: funding });
    const requests = [
      {
        id: next('pay'),
        debitAccountId: wallet,
        creditAccountId: shop,
        amount: 600,
        currency: 'CNY',
      },
      {
        id: next('pay'),
        debitAccountId: wallet,
        creditAccountId: shop,
        amount: 600,
        currency: 'CNY',
      },
    ];
    const first = await transfers(requests);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.deepEqual(statuses(first), ['posted', 'insufficient_funds']);
    const token = first.headers.get('mainstay-consistency-token');
    assert.ok(token);
    const read = await call('GET', `/v1/ledger/accounts/${wallet}`, undefined, {
      'mainstay-consistency-token': token,
    });
    assert.equal(read.status, 200);
    assert.deepEqual([read.body.balance, read.body.available], [400, 400]);
    const again = await transfers(requests);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(
      (again.body.data as { replayed: boolean }[]).map((o) => o.replayed),
      [true, true],
    );
    const changed = await transfers([{ ...requests[0], amount: 601 }]);
    assert.deepEqual(statuses(changed), ['exists_with_different_fields']);
  });

  test('linked requests all or nothing; pending then a partial post; statement and past balance', async () => {
    const wallet = await fundedWallet(500);
    const shop = await openAccount({ ownerId: funding });
    const chain = await transfers([
      {
        id: next('a'),
        debitAccountId: wallet,
        creditAccountId: shop,
        amount: 300,
        currency: 'CNY',
        linked: true,
      },
      {
        id: next('b'),
        debitAccountId: wallet,
        creditAccountId: shop,
        amount: 300,
        currency: 'CNY',
      },
    ]);
    assert.deepEqual(statuses(chain), ['linked_event_failed', 'insufficient_funds']);
    const pendingId = next('hold');
    const hold = await transfers([
      {
        id: pendingId,
        kind: 'pending',
        debitAccountId: wallet,
        creditAccountId: shop,
        amount: 400,
        currency: 'CNY',
        timeoutSeconds: 60,
      },
    ]);
    assert.deepEqual(statuses(hold), ['pending']);
    const beforePost = new Date();
    const posted = await transfers(
      [{ id: next('post'), kind: 'post', pendingId, amount: 250 }],
      {},
    );
    assert.equal(posted.status, 400, 'a call that starts with a post names its shard');
    const withShard = await call('POST', '/v1/ledger/transfers', {
      shardKey: wallet,
      requests: [{ id: next('post'), kind: 'post', pendingId, amount: 250 }],
    });
    assert.deepEqual(statuses(withShard), ['posted'], JSON.stringify(withShard.body));
    const token = withShard.headers.get('mainstay-consistency-token') ?? '';
    const account = await call('GET', `/v1/ledger/accounts/${wallet}`, undefined, {
      'mainstay-consistency-token': token,
    });
    assert.deepEqual([account.body.balance, account.body.debitsPending], [250, 0]);
    const statement = await call(
      'GET',
      `/v1/ledger/accounts/${wallet}/statement?limit=2`,
      undefined,
      {
        'mainstay-consistency-token': token,
      },
    );
    assert.equal(statement.status, 200, JSON.stringify(statement.body));
    const lines = statement.body.data as { seq: number; debit: number; balance: number }[];
    assert.deepEqual(
      lines.map((l) => [l.seq, l.debit, l.balance]),
      [
        [3, 250, 250],
        [2, 0, 500],
      ],
    );
    assert.equal(statement.body.hasMore, true);
    const then = await call(
      'GET',
      `/v1/ledger/accounts/${wallet}/balance?at=${encodeURIComponent(beforePost.toISOString())}`,
      undefined,
      { 'mainstay-consistency-token': token },
    );
    assert.equal(then.status, 200, JSON.stringify(then.body));
    assert.deepEqual([then.body.balance, then.body.debitsPending], [500, 400]);
  });

  test('an institution account sums its stripes; bad input is refused and nothing is written', async () => {
    const wallet = await fundedWallet(100);
    const summed = await call('GET', `/v1/ledger/institution-accounts/${fundingCode}?currency=CNY`);
    assert.equal(summed.status, 200);
    assert.ok((summed.body.debitsPosted as number) >= 100);
    // One transfer from the wallet to the funding stripe, with `fields` changed.
    const one = (fields: Record<string, unknown>) => ({
      requests: [
        {
          id: next('x'),
          debitAccountId: wallet,
          creditAccountId: funding,
          amount: 5,
          currency: 'CNY',
          ...fields,
        },
      ],
    });
    const bad: [unknown, number, string][] = [
      [one({ amount: -5 }), 400, 'invalid_request'],
      [one({ amount: 1.5 }), 400, 'invalid_request'],
      [one({ amount: '5' }), 400, 'invalid_request'],
      [one({ id: 'nul\u0000id' }), 400, 'invalid_text'],
      [one({ creditAccountId: wallet }), 400, 'invalid_request'],
      [one({ linked: true }), 400, 'invalid_request'],
      [{ requests: [] }, 400, 'invalid_request'],
    ];
    for (const [body, status, code] of bad) {
      const answer = await call('POST', '/v1/ledger/transfers', body);
      assert.equal(answer.status, status, JSON.stringify(answer.body));
      assert.equal(answer.body.code, code, JSON.stringify(answer.body));
      assert.match(answer.headers.get('content-type') ?? '', /application\/problem\+json/);
    }
    const wrongCurrency = await transfers([
      {
        id: next('x'),
        debitAccountId: wallet,
        creditAccountId: funding,
        amount: 5,
        currency: 'USD',
      },
    ]);
    assert.deepEqual(statuses(wrongCurrency), ['currency_mismatch']);
    const account = await call('GET', `/v1/ledger/accounts/${wallet}`, undefined, {
      'mainstay-read-consistency': 'primary',
    });
    assert.deepEqual([account.body.balance, account.body.postingCount], [100, 1], 'nothing moved');
    const unknownCurrency = await call(
      'POST',
      '/v1/ledger/accounts',
      { currency: 'XQQ', kind: 'wallet' },
      { 'idempotency-key': next('open') },
    );
    assert.equal(unknownCurrency.body.code, 'currency_unsupported');
    const missing = await call('GET', '/v1/ledger/accounts/lacc_0000000000000000000000000000ZZ');
    assert.equal(missing.status, 404);
    const anonymous = await fetch(`${platform.url}/v1/ledger/accounts/${wallet}`);
    assert.equal(anonymous.status, 401);
  });

  test('a cross-shard transfer is posted on both sides by the driver; a retry is replayed', async () => {
    const other = stripes.find((stripe) => stripe.shardId !== stripes[0]?.shardId);
    assert.ok(other, 'the default fleet has more than one shard');
    const transit = await call('POST', '/v1/ledger/institution-accounts', {
      code: 'in-transit',
      kind: 'in_transit',
      currency: 'CNY',
    });
    assert.equal(transit.status, 200, JSON.stringify(transit.body));
    const payer = await fundedWallet(900);
    const payee = await openAccount({ ownerId: other.id });
    const start = {
      id: next('xshard'),
      debitAccountId: payer,
      creditAccountId: payee,
      amount: 700,
      currency: 'CNY',
    };
    const started = await call('POST', '/v1/ledger/cross-shard-transfers', start);
    assert.equal(started.status, 200, JSON.stringify(started.body));
    assert.equal(started.body.status, 'pending');
    const retried = await call('POST', '/v1/ledger/cross-shard-transfers', start);
    assert.deepEqual([retried.body.status, retried.body.replayed], ['pending', true]);
    let view: Answer | null = null;
    for (let attempt = 0; attempt < 100; attempt += 1) {
      view = await call('GET', `/v1/ledger/cross-shard-transfers/${start.id}`);
      assert.equal(view.status, 200, JSON.stringify(view.body));
      if (view.body.state === 'posted') break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.equal(view?.body.state, 'posted', JSON.stringify(view?.body));
    const read = (id: string) =>
      call('GET', `/v1/ledger/accounts/${id}`, undefined, {
        'mainstay-read-consistency': 'primary',
      });
    assert.equal((await read(payer)).body.balance, 200);
    assert.equal((await read(payee)).body.balance, 700);
    const same = await call('POST', '/v1/ledger/cross-shard-transfers', {
      ...start,
      id: next('xshard'),
      creditAccountId: await openAccount({ ownerId: funding }),
    });
    assert.equal(same.status, 400, 'two accounts on one shard take a plain transfer');
    const missing = await call('GET', '/v1/ledger/cross-shard-transfers/no-such-transfer');
    assert.equal(missing.status, 404);
  });
});
