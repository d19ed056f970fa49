/**
 * `GET /v1/ledger/accounts` against a real platform: accounts of every shard, newest first,
 * paged by cursor without a gap or a repeat, filtered by kind, currency and owner, each with
 * its balances; a bad cursor, a bad limit and an unknown filter are refused with problem+json.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { authHeaders } from '../../support/demo-credentials.ts';
import { platformCaller, startTestPlatform } from '../../support/platform-call.ts';
import { removeHome, tempHome } from '../../support/temp-home.ts';

const home = tempHome('ledger-account-list');
let platform: Awaited<ReturnType<typeof startTestPlatform>>;
let key = 0;
const call = platformCaller(home, () => platform.url);
const next = (label: string) => `${label}-${process.pid}-${++key}`;

type Account = { id: string; kind: string; currency: string; ownerId: string | null };
type Page = { data: Account[]; hasMore: boolean; nextCursor: string | null };

async function open(body: Record<string, unknown>): Promise<string> {
  const answer = await call('POST', '/v1/ledger/accounts', body, { 'idempotency-key': next('o') });
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  return answer.body.id as string;
}

/** Every page of `query`, following the cursor. */
async function allPages(query: string): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const after: string = cursor === null ? '' : `&startingAfter=${cursor}`;
    const answer = await call('GET', `/v1/ledger/accounts?${query}${after}`);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const page = answer.body as unknown as Page;
    ids.push(...page.data.map((account) => account.id));
    assert.equal(page.nextCursor === null, !page.hasMore);
    cursor = page.nextCursor;
    pages += 1;
  } while (cursor !== null);
  return { ids, pages };
}

describe('GET /v1/ledger/accounts', () => {
  const owners = [next('owner-a'), next('owner-b'), next('owner-c')];
  const opened: string[] = [];

  before(async () => {
    platform = await startTestPlatform(home);
    for (let n = 0; n < 9; n += 1) {
      const owner = owners[n % owners.length] as string;
      opened.push(await open({ currency: n % 2 ? 'USD' : 'CNY', kind: 'wallet', ownerId: owner }));
    }
  });
  after(async () => {
    await platform?.stop();
    removeHome(home);
  });

  test('every shard, newest first, paged without a gap or a repeat', async () => {
    const { ids, pages } = await allPages('limit=2&kind=wallet');
    for (const id of opened) assert.ok(ids.includes(id), `${id} listed`);
    assert.equal(new Set(ids).size, ids.length, 'no account twice');
    assert.deepEqual(ids, [...ids].sort().reverse(), 'newest first');
    assert.ok(pages >= 5);
    // An institution account has stripes on every shard: the list holds each of them.
    const code = next('fees').toLowerCase();
    const institution = await call('POST', '/v1/ledger/institution-accounts', {
      code,
      kind: 'fees',
      currency: 'CNY',
    });
    assert.equal(institution.status, 200, JSON.stringify(institution.body));
    const stripes = institution.body.stripes as { shardId: number; id: string }[];
    assert.ok(new Set(stripes.map((stripe) => stripe.shardId)).size >= 2, 'several shards');
    const fees = await allPages('kind=fees&currency=CNY&limit=3');
    for (const stripe of stripes) assert.ok(fees.ids.includes(stripe.id), `${stripe.id} listed`);
    const answer = await call('GET', `/v1/ledger/accounts?kind=fees&limit=100`);
    const listed = (answer.body.data as { id: string; code: string; stripe: number }[]).find(
      (account) => account.id === stripes[0]?.id,
    );
    assert.equal(listed?.code, code);
    assert.equal(typeof listed?.stripe, 'number');
  });

  test('filters by owner, currency and kind, with the balances', async () => {
    const owner = owners[0] as string;
    const { ids } = await allPages(`ownerId=${owner}&currency=CNY&limit=100`);
    const expected = opened.filter((_, n) => n % owners.length === 0 && n % 2 === 0);
    assert.deepEqual(ids, [...expected].reverse());
    const answer = await call('GET', `/v1/ledger/accounts?ownerId=${owner}&limit=1`);
    const [first] = (answer.body as unknown as Page).data as unknown as Record<string, unknown>[];
    assert.equal(first?.balance, 0);
    assert.equal(first?.available, 0);
    assert.equal(first?.code, null);
    const none = await call('GET', '/v1/ledger/accounts?kind=fees&ownerId=nobody');
    assert.deepEqual(none.body, { data: [], hasMore: false, nextCursor: null });
  });

  test('a bad cursor, limit or filter is a problem', async () => {
    for (const query of [
      'startingAfter=not-a-cursor',
      'startingAfter=cus_00000000000000000000000000000000',
      'limit=0',
      'limit=101',
      'kind=piggy_bank',
      'currency=cny',
      'colour=blue',
    ]) {
      const answer = await call('GET', `/v1/ledger/accounts?${query}`);
      assert.equal(answer.status, 400, `${query}: ${JSON.stringify(answer.body)}`);
      assert.match(answer.headers.get('content-type') ?? '', /application\/problem\+json/);
      assert.equal(answer.body.code, 'invalid_request', query);
    }
  });

  test("the stream's ledger topic carries the settlement windows", async () => {
    const counterparty = next('Stream Acquirer');
    const opened = await call('POST', '/v1/ledger/institution-accounts', {
      code: next('stream-acquirer').toLowerCase(),
      kind: 'settlement',
      currency: 'CNY',
      counterparty,
    });
    assert.equal(opened.status, 200, JSON.stringify(opened.body));
    const abort = new AbortController();
    const response = await fetch(`${platform.url}/v1/stream?topics=ledger`, {
      headers: authHeaders(home),
      signal: abort.signal,
    });
    assert.equal(response.status, 200);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    while (!/event: ledger\ndata: .*\n\n/.test(text)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    abort.abort();
    const event = /event: ledger\ndata: (.*)\n\n/.exec(text);
    assert.ok(event?.[1], text);
    const value = JSON.parse(event[1]) as { windows: { counterparty: string; state: string }[] };
    const window = value.windows.find((entry) => entry.counterparty === counterparty);
    assert.equal(window?.state, 'open');
  });
});
