/**
 * The card API on a running platform (real fleet, real HTTP server): accounts, cards,
 * authorizations with capture and reversal, idempotency, stand-in reports, the demo data, and
 * bad input answered with problem documents and nothing written.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CREDIT_LIMIT_APPROVAL_ABOVE_DEFAULT } from '../../../src/domains/cards/config/credit-limit-approval.ts';
import { CARD_DEMO_ACCOUNT_COUNT } from '../../../src/domains/cards/demo/card-demo-data.ts';
import { authHeaders } from '../../support/demo-credentials.ts';
import { platformCaller, startTestPlatform } from '../../support/platform-call.ts';
import { removeHome, tempHome } from '../../support/temp-home.ts';

const home = tempHome('card-api');
let platform: Awaited<ReturnType<typeof startTestPlatform>>;
let key = 0;

const call = platformCaller(home, () => platform.url);

const write = (path: string, body: unknown, idempotencyKey = `k-${++key}`) =>
  call('POST', path, body, { 'idempotency-key': idempotencyKey });

function authorization(cardId: string, amount: unknown, extra: Record<string, unknown> = {}) {
  return {
    requestId: `req-${++key}`,
    cardId,
    amount,
    currency: 'CNY',
    merchant: { id: 'mer_tmall', categoryCode: '5311' },
    ...extra,
  };
}

async function newCard(creditLimit: number): Promise<{ accountId: string; cardId: string }> {
  const account = await write('/v1/card-accounts', { currency: 'CNY', creditLimit });
  assert.equal(account.status, 201, JSON.stringify(account.body));
  const card = await write(`/v1/card-accounts/${account.body.id}/cards`, {});
  assert.equal(card.status, 201, JSON.stringify(card.body));
  return { accountId: account.body.id as string, cardId: card.body.id as string };
}

async function available(accountId: string, token?: string | null): Promise<number> {
  const account = await call(
    'GET',
    `/v1/card-accounts/${accountId}`,
    undefined,
    token ? { 'mainstay-consistency-token': token } : {},
  );
  assert.equal(account.status, 200);
  return account.body.availableCredit as number;
}

/** The account's credit limit, read on its primary (no replica lag in the answer). */
async function creditLimitOf(accountId: string): Promise<number> {
  const { value } = await platform.router.read(
    accountId,
    (db) =>
      db.query<{ limit: number }>(
        'SELECT credit_limit::float8 AS limit FROM card_accounts WHERE id = $1',
        [accountId],
      ),
    { consistency: 'primary' },
  );
  return value.rows[0]?.limit ?? Number.NaN;
}

const setLimit = (accountId: string, body: unknown, idempotencyKey = `k-${++key}`) =>
  call('PATCH', `/v1/card-accounts/${accountId}`, body, { 'idempotency-key': idempotencyKey });

/** The default threshold above which a credit limit waits for a second person. */
const THRESHOLD = Number(CREDIT_LIMIT_APPROVAL_ABOVE_DEFAULT);

describe('card API', () => {
  before(async () => {
    // The issuer path answers every authorization, however loaded the machine: these tests read
    // the issuer's figures, and a slow batch must not hand a request to stand-in (its own tests
    // are card-stand-in*.test.ts).
    const file = path.join(home, 'mainstay.config.json');
    const standIn = { issuerTimeoutMs: 30_000, latencyStandInMs: 60_000 };
    writeFileSync(file, JSON.stringify({ cards: { standIn } }));
    platform = await startTestPlatform(home, { MAINSTAY_CONFIG: file });
  });
  after(async () => {
    await platform?.stop();
    removeHome(home);
  });

  test('authorize, capture part, reverse the rest: available credit follows each step', async () => {
    const { accountId, cardId } = await newCard(100_000);
    const approved = await call('POST', '/v1/authorizations', authorization(cardId, 30_000));
    assert.equal(approved.status, 201);
    assert.equal(approved.body.status, 'approved');
    assert.equal(approved.body.responseCode, '00');
    assert.equal(approved.body.decidedBy, 'issuer');
    assert.equal(approved.body.heldAmount, 30_000);
    const token = approved.headers.get('mainstay-consistency-token');
    assert.ok(token);
    assert.equal(await available(accountId, token), 70_000);
    const id = approved.body.id as string;
    const captured = await write(`/v1/authorizations/${id}/capture`, { amount: 10_000 });
    assert.equal(captured.status, 200, JSON.stringify(captured.body));
    assert.equal(captured.body.capturedAmount, 10_000);
    assert.equal(captured.body.heldAmount, 20_000);
    const reversed = await write(`/v1/authorizations/${id}/reversal`, {});
    assert.equal(reversed.body.reversedAmount, 20_000);
    assert.equal(reversed.body.holdState, 'closed');
    const after = reversed.headers.get('mainstay-consistency-token');
    assert.equal(await available(accountId, after), 90_000);
    const again = await write(`/v1/authorizations/${id}/capture`, { amount: 1 });
    assert.equal(again.status, 409);
    assert.equal(again.body.code, 'state_conflict');
    const read = await call('GET', `/v1/authorizations/${id}`, undefined, {
      'mainstay-consistency-token': after ?? '',
    });
    assert.equal(read.body.holdState, 'closed');
  });

  test('declines are answers with ISO 8583 codes; a blocked card is declined', async () => {
    const { cardId } = await newCard(5_000);
    const tooMuch = await call('POST', '/v1/authorizations', authorization(cardId, 6_000));
    assert.equal(tooMuch.status, 201);
    assert.deepEqual(
      [tooMuch.body.status, tooMuch.body.responseCode],
      ['insufficient_credit', '51'],
    );
    const blocked = await write(`/v1/cards/${cardId}/block`, {});
    assert.equal(blocked.body.status, 'blocked');
    const refused = await call('POST', '/v1/authorizations', authorization(cardId, 100));
    assert.deepEqual([refused.body.status, refused.body.responseCode], ['card_blocked', '62']);
    const other = await newCard(5_000);
    const dollars = await call(
      'POST',
      '/v1/authorizations',
      authorization(other.cardId, 100, { currency: 'USD' }),
    );
    assert.equal(dollars.body.status, 'currency_mismatch');
  });

  test('a retry with the same request id replays the first outcome; other fields are a conflict', async () => {
    const { accountId, cardId } = await newCard(50_000);
    const request = authorization(cardId, 1_000);
    const first = await call('POST', '/v1/authorizations', request);
    const retry = await call('POST', '/v1/authorizations', request);
    // A replay answers with the first answer's status, on every route.
    assert.equal(retry.status, 201);
    assert.equal(retry.headers.get('idempotent-replayed'), 'true');
    assert.equal(retry.body.id, first.body.id);
    const changed = await call('POST', '/v1/authorizations', { ...request, amount: 2_000 });
    assert.equal(changed.status, 409);
    assert.equal(changed.body.code, 'idempotency_key_reused');
    const token = first.headers.get('mainstay-consistency-token');
    assert.equal(await available(accountId, token), 49_000);
  });

  test('bad input is a problem document and writes nothing', async () => {
    const { accountId, cardId } = await newCard(10_000);
    const cases: [unknown, number, string][] = [
      [authorization(cardId, -5), 400, 'invalid_request'],
      [authorization(cardId, 0), 400, 'invalid_request'],
      [authorization(cardId, 10.5), 400, 'invalid_request'],
      [authorization(cardId, '100'), 400, 'invalid_request'],
      [authorization(cardId, 2 ** 53 + 2), 400, 'invalid_request'],
      [authorization(cardId, 100, { currency: 'ABC' }), 422, 'currency_unsupported'],
      [authorization(cardId, 100, { currency: 'cny' }), 400, 'invalid_request'],
      [authorization(cardId, 100, { surprise: true }), 400, 'invalid_request'],
      [authorization('card_1234', 100), 400, 'invalid_request'],
      [
        { ...authorization(cardId, 100), merchant: { id: 'm', categoryCode: '53' } },
        400,
        'invalid_request',
      ],
      ['{"requestId": ', 400, 'malformed_json'],
      [JSON.stringify({ pad: 'x'.repeat(1_100_000) }), 413, 'payload_too_large'],
    ];
    for (const [body, status, code] of cases) {
      const answer = await call('POST', '/v1/authorizations', body);
      assert.equal(answer.status, status, `${JSON.stringify(body).slice(0, 120)}`);
      assert.equal(answer.headers.get('content-type'), 'application/problem+json; charset=utf-8');
      assert.equal(answer.body.code, code);
    }
    const badAccounts: [unknown, number, string][] = [
      [{ currency: 'CNY', creditLimit: -1 }, 400, 'invalid_request'],
      [{ currency: 'CNY', creditLimit: '1000' }, 400, 'invalid_request'],
      [{ currency: 'XYZ', creditLimit: 1000 }, 422, 'currency_unsupported'],
    ];
    for (const [body, status, code] of badAccounts) {
      const answer = await write('/v1/card-accounts', body);
      assert.equal(answer.status, status, JSON.stringify(body));
      assert.equal(answer.body.code, code);
    }
    const noKey = await call('POST', '/v1/card-accounts', { currency: 'CNY', creditLimit: 1 });
    assert.equal(noKey.body.code, 'idempotency_key_missing');
    const unknown = await call('GET', `/v1/cards/${cardId.replace(/.{4}(.{4})$/, '0000$1')}`);
    assert.equal(unknown.status, 404);
    assert.equal(await available(accountId), 10_000);
    const { value } = await platform.router.read(
      cardId,
      (db) =>
        db.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM authorizations WHERE card_id = $1',
          [cardId],
        ),
      { consistency: 'primary' },
    );
    assert.equal(value.rows[0]?.n, 0);
  });

  test('text PostgreSQL cannot store is refused at the edge; the batch around it is unharmed', async () => {
    const { accountId, cardId } = await newCard(100_000);
    const bad = [
      authorization(cardId, 100, { merchant: { id: 'mer\u0000x', categoryCode: '5311' } }),
      authorization(cardId, 100, { merchantReference: 'ref\u0000' }),
      authorization(cardId, 100, { merchantReference: 'ref\ud800' }),
    ];
    const good = Array.from({ length: 8 }, () => authorization(cardId, 1_000));
    const answers = await Promise.all(
      [...bad, ...good].map((body) => call('POST', '/v1/authorizations', body)),
    );
    for (const answer of answers.slice(0, bad.length)) {
      assert.equal(answer.status, 400, JSON.stringify(answer.body));
      assert.equal(answer.body.code, 'invalid_text');
    }
    assert.deepEqual(
      answers.slice(bad.length).map((answer) => [answer.status, answer.body.status]),
      good.map(() => [201, 'approved']),
    );
    const user = await write('/v1/users', { fullName: 'Ada\u0000Lovelace' }, 'nul-user');
    assert.equal(user.status, 400);
    assert.equal(user.body.code, 'invalid_text');
    assert.deepEqual(user.body.errors, [{ pointer: '/fullName', detail: 'contains U+0000' }]);
    // Nothing was written: the key is still free for a valid request.
    const retried = await write('/v1/users', { fullName: 'Ada Lovelace' }, 'nul-user');
    assert.equal(retried.status, 201);
    assert.equal(retried.headers.get('idempotent-replayed'), null);
    const { value } = await platform.router.read(
      cardId,
      (db) =>
        db.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM authorizations WHERE card_id = $1',
          [cardId],
        ),
      { consistency: 'primary' },
    );
    assert.equal(value.rows[0]?.n, good.length);
    assert.equal(await available(accountId), 100_000 - good.length * 1_000);
  });

  test('a replay answers with the first status everywhere: 201 for creates, 200 for changes', async () => {
    const account = { currency: 'CNY', creditLimit: 1_000 };
    const first = await write('/v1/card-accounts', account, 'replay-account');
    const again = await write('/v1/card-accounts', account, 'replay-account');
    assert.deepEqual([first.status, again.status], [201, 201]);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    assert.equal(again.body.id, first.body.id);
    const accountId = first.body.id as string;
    const card = await write(`/v1/card-accounts/${accountId}/cards`, {}, 'replay-card');
    const cardAgain = await write(`/v1/card-accounts/${accountId}/cards`, {}, 'replay-card');
    assert.deepEqual([card.status, cardAgain.status], [201, 201]);
    const user = await write('/v1/users', { fullName: 'Grace' }, 'replay-user');
    const userAgain = await write('/v1/users', { fullName: 'Grace' }, 'replay-user');
    assert.deepEqual([user.status, userAgain.status], [201, 201]);
    assert.equal(userAgain.headers.get('idempotent-replayed'), 'true');
    const block = await write(`/v1/cards/${card.body.id}/block`, undefined, 'replay-block');
    const blockAgain = await write(`/v1/cards/${card.body.id}/block`, undefined, 'replay-block');
    assert.deepEqual([block.status, blockAgain.status], [200, 200]);
    assert.equal(blockAgain.headers.get('idempotent-replayed'), 'true');
  });

  test('issuing a card that has already expired is a 422 problem and writes nothing', async () => {
    const { accountId } = await newCard(1_000);
    const lastMonth = new Date();
    lastMonth.setUTCDate(1);
    lastMonth.setUTCMonth(lastMonth.getUTCMonth() - 1);
    const expired = await write(`/v1/card-accounts/${accountId}/cards`, {
      expiryMonth: lastMonth.getUTCMonth() + 1,
      expiryYear: lastMonth.getUTCFullYear(),
    });
    assert.equal(expired.status, 422, JSON.stringify(expired.body));
    assert.equal(expired.body.code, 'card_expiry_invalid');
    const thisMonth = new Date();
    const current = await write(`/v1/card-accounts/${accountId}/cards`, {
      expiryMonth: thisMonth.getUTCMonth() + 1,
      expiryYear: thisMonth.getUTCFullYear(),
    });
    assert.equal(current.status, 201);
    assert.equal(current.body.status, 'active');
  });

  test('an id whose bucket lies past the shard map is a 404 on every route, with no internals', async () => {
    const { cardId } = await newCard(1_000);
    const past = (id: string) => `${id.slice(0, -4)}ZZZZ`;
    const body = cardId.slice('card_'.length);
    const answers = await Promise.all([
      call('GET', `/v1/card-accounts/${past(`acct_${body}`)}`),
      call('GET', `/v1/cards/${past(cardId)}`),
      call('GET', `/v1/authorizations/${past(`auth_${body}`)}`),
      call('GET', `/v1/users/${past(`usr_${body}`)}`),
      write(`/v1/card-accounts/${past(`acct_${body}`)}/cards`, {}),
      write(`/v1/cards/${past(cardId)}/block`, undefined),
      write(`/v1/authorizations/${past(`auth_${body}`)}/capture`, {}),
      write(`/v1/users/${past(`usr_${body}`)}/cards`, {
        cardNumber: '4111111111111111',
        expiryMonth: 12,
        expiryYear: 2099,
      }),
    ]);
    for (const answer of answers) {
      assert.equal(answer.status, 404, JSON.stringify(answer.body));
      assert.equal(answer.body.code, 'resource_not_found');
      assert.doesNotMatch(String(answer.body.detail), /bucket|shard/);
    }
  });

  test('a credit limit up to the threshold applies at once; the next authorization sees it', async () => {
    const { accountId, cardId } = await newCard(10_000);
    const over = await call('POST', '/v1/authorizations', authorization(cardId, 15_000));
    assert.equal(over.body.status, 'insufficient_credit');
    const raised = await setLimit(accountId, { currency: 'CNY', creditLimit: 20_000 }, 'raise-1');
    assert.equal(raised.status, 200, JSON.stringify(raised.body));
    assert.equal(raised.body.creditLimit, 20_000);
    assert.equal(raised.body.availableCredit, 20_000);
    const token = raised.headers.get('mainstay-consistency-token');
    assert.ok(token, 'a write answers with a consistency token');
    const approved = await call('POST', '/v1/authorizations', authorization(cardId, 15_000));
    assert.deepEqual([approved.body.status, approved.body.responseCode], ['approved', '00']);

    // A retry with the key answers the first answer; the key with another body is a conflict.
    const retry = await setLimit(accountId, { currency: 'CNY', creditLimit: 20_000 }, 'raise-1');
    assert.equal(retry.status, 200);
    assert.equal(retry.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(retry.body, raised.body, 'the first answer, not the account as it is now');
    const reused = await setLimit(accountId, { currency: 'CNY', creditLimit: 30_000 }, 'raise-1');
    assert.equal(reused.status, 409);
    assert.equal(reused.body.code, 'idempotency_key_reused');
    assert.equal(await creditLimitOf(accountId), 20_000);

    // Exactly at the threshold is not above it: no approval needed.
    const atThreshold = await setLimit(accountId, { currency: 'CNY', creditLimit: THRESHOLD });
    assert.equal(atThreshold.status, 200, JSON.stringify(atThreshold.body));
    assert.equal(atThreshold.body.creditLimit, THRESHOLD);
  });

  test('authorizations racing a limit change decide on the old or the new limit; no hold is lost', async () => {
    const { accountId, cardId } = await newCard(5_000);
    const racing = Array.from({ length: 12 }, () =>
      call('POST', '/v1/authorizations', authorization(cardId, 1_000)),
    );
    const change = setLimit(accountId, { currency: 'CNY', creditLimit: 9_000 });
    const [changed, ...answers] = await Promise.all([change, ...racing]);
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    const approved = answers.filter((answer) => answer.body.status === 'approved').length;
    // Each batch decided on 5,000 or on 9,000: at least the old limit's worth, at most the new.
    assert.ok(approved >= 5 && approved <= 9, `${approved} approved`);
    assert.ok(
      answers.every((answer) =>
        ['approved', 'insufficient_credit'].includes(answer.body.status as string),
      ),
    );
    const { value } = await platform.router.read(
      accountId,
      (db) =>
        db.query<{ limit: string; held: string; holds: string }>(
          `SELECT a.credit_limit::text AS limit, a.held::text AS held,
                  (SELECT coalesce(sum(held_amount), 0) FROM authorizations
                    WHERE card_id = $2)::text AS holds
             FROM card_accounts a WHERE a.id = $1`,
          [accountId, cardId],
        ),
      { consistency: 'primary' },
    );
    assert.deepEqual(value.rows[0], {
      limit: '9000',
      held: String(approved * 1_000),
      holds: String(approved * 1_000),
    });
  });

  test('a limit lowered below what is used is kept: available credit is negative, new authorizations declined, holds still captured', async () => {
    const { accountId, cardId } = await newCard(50_000);
    const held = await call('POST', '/v1/authorizations', authorization(cardId, 30_000));
    assert.equal(held.body.status, 'approved');
    const lowered = await setLimit(accountId, { currency: 'CNY', creditLimit: 10_000 });
    assert.equal(lowered.status, 200, JSON.stringify(lowered.body));
    assert.deepEqual(
      [lowered.body.creditLimit, lowered.body.heldAmount, lowered.body.availableCredit],
      [10_000, 30_000, -20_000],
    );
    const small = await call('POST', '/v1/authorizations', authorization(cardId, 1));
    assert.deepEqual([small.body.status, small.body.responseCode], ['insufficient_credit', '51']);
    const captured = await write(`/v1/authorizations/${held.body.id}/capture`, { amount: 30_000 });
    assert.equal(captured.status, 200, JSON.stringify(captured.body));
    const token = captured.headers.get('mainstay-consistency-token');
    assert.equal(await available(accountId, token), -20_000);
    const zero = await setLimit(accountId, { currency: 'CNY', creditLimit: 0 });
    assert.equal(zero.status, 200, JSON.stringify(zero.body));
    assert.equal(zero.body.availableCredit, -30_000);
  });

  test('a limit above the threshold is stored for approval; refusable input is refused before', async () => {
    const { accountId, cardId } = await newCard(10_000);
    const high = { currency: 'CNY', creditLimit: THRESHOLD + 1 };
    const asked = await setLimit(accountId, high, 'raise-high');
    assert.equal(asked.status, 202, JSON.stringify(asked.body));
    assert.equal(asked.body.action, 'card_credit_limit');
    assert.equal(asked.body.status, 'pending');
    assert.deepEqual(asked.body.approverRoles, ['risk_officer', 'admin']);
    const again = await setLimit(accountId, high, 'raise-high');
    assert.equal(again.status, 202);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    assert.equal(again.body.id, asked.body.id);
    assert.equal(await creditLimitOf(accountId), 10_000, 'nothing ran');
    const declined = await call('POST', '/v1/authorizations', authorization(cardId, 20_000));
    assert.equal(declined.body.status, 'insufficient_credit');
    // The account is checked before anything is stored for approval.
    const unknown = await setLimit(accountId.replace(/.{4}(.{4})$/, '0000$1'), high);
    assert.equal(unknown.status, 404, JSON.stringify(unknown.body));
    assert.equal(unknown.body.code, 'resource_not_found');
    const dollars = await setLimit(accountId, { ...high, currency: 'USD' });
    assert.equal(dollars.status, 422, JSON.stringify(dollars.body));
    assert.equal(dollars.body.code, 'currency_unsupported');
  });

  test('bad credit limit changes are problem documents and change nothing', async () => {
    const { accountId } = await newCard(10_000);
    const cases: [unknown, number, string][] = [
      [{ currency: 'CNY', creditLimit: -1 }, 400, 'invalid_request'],
      [{ currency: 'CNY', creditLimit: '1000' }, 400, 'invalid_request'],
      [{ currency: 'CNY', creditLimit: 10.5 }, 400, 'invalid_request'],
      [{ currency: 'CNY', creditLimit: 2 ** 53 + 2 }, 400, 'invalid_request'],
      [{ currency: 'CNY' }, 400, 'invalid_request'],
      [{ creditLimit: 1_000 }, 400, 'invalid_request'],
      [{ currency: 'CNY', creditLimit: 1_000, status: 'closed' }, 400, 'invalid_request'],
      [{ currency: 'cny', creditLimit: 1_000 }, 400, 'invalid_request'],
      [{ currency: 'USD', creditLimit: 1_000 }, 422, 'currency_unsupported'],
      [{ currency: 'XYZ', creditLimit: 1_000 }, 422, 'currency_unsupported'],
      [{ currency: 'C\u0000Y', creditLimit: 1_000 }, 400, 'invalid_text'],
      ['{"currency": "CNY", "creditLimit": ', 400, 'malformed_json'],
    ];
    for (const [body, status, code] of cases) {
      const answer = await setLimit(accountId, body);
      assert.equal(
        answer.status,
        status,
        `${JSON.stringify(body)}: ${JSON.stringify(answer.body)}`,
      );
      assert.equal(answer.headers.get('content-type'), 'application/problem+json; charset=utf-8');
      assert.equal(answer.body.code, code, JSON.stringify(body));
    }
    const elsewhere: [string, number, string][] = [
      [accountId.replace(/.{4}(.{4})$/, '0000$1'), 404, 'resource_not_found'],
      [`${accountId.slice(0, -4)}ZZZZ`, 404, 'resource_not_found'],
      ['acct_1234', 400, 'invalid_request'],
    ];
    for (const [id, status, code] of elsewhere) {
      const answer = await setLimit(id, { currency: 'CNY', creditLimit: 1_000 });
      assert.equal(answer.status, status, `${id}: ${JSON.stringify(answer.body)}`);
      assert.equal(answer.body.code, code);
    }
    const noKey = await call('PATCH', `/v1/card-accounts/${accountId}`, {
      currency: 'CNY',
      creditLimit: 1_000,
    });
    assert.equal(noKey.status, 400);
    assert.equal(noKey.body.code, 'idempotency_key_missing');
    assert.equal(await creditLimitOf(accountId), 10_000);
    const { value } = await platform.router.read(
      accountId,
      (db) =>
        db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM idempotency_keys WHERE scope = 'card_account_credit_limit'
              AND response::text LIKE '%' || $1 || '%'`,
          [accountId],
        ),
      { consistency: 'primary' },
    );
    assert.equal(value.rows[0]?.n, 0, 'no idempotency record was kept for a refusal');
  });

  test('an empty Idempotency-Key has its own code', async () => {
    const empty = await call(
      'POST',
      '/v1/card-accounts',
      { currency: 'CNY', creditLimit: 1 },
      {
        'idempotency-key': '',
      },
    );
    assert.equal(empty.status, 400);
    assert.equal(empty.body.code, 'idempotency_key_invalid');
  });

  test('demo accounts, stand-in reports and metrics are served', async () => {
    const { value } = await platform.router.readShard(
      0,
      (db) => db.query<{ n: number }>('SELECT count(*)::int AS n FROM card_accounts'),
      { consistency: 'primary' },
    );
    assert.ok((value.rows[0]?.n ?? 0) > CARD_DEMO_ACCOUNT_COUNT / 8);
    const stats = await call('GET', '/v1/stand-in/stats');
    assert.equal(stats.status, 200);
    assert.ok((stats.body.issuerDecisions as number) > 0);
    const report = await call('GET', '/v1/stand-in/reconciliation');
    assert.equal(report.status, 200);
    assert.equal(report.body.pendingAdvices, 0);
    const advices = await call('GET', '/v1/stand-in/advices?limit=5');
    assert.deepEqual(advices.body.data, []);
    const metrics = await (
      await fetch(`${platform.url}/metrics`, { headers: authHeaders(home) })
    ).text();
    assert.match(metrics, /mainstay_card_authorizations_total\{decided_by="issuer"\} [1-9]/);
    const openapi = (await call('GET', '/openapi.json')).body as { paths: Record<string, unknown> };
    for (const path of [
      '/v1/authorizations',
      '/v1/authorizations/{authorizationId}/capture',
      '/v1/card-accounts',
      '/v1/users/{userId}/cards',
      '/v1/stand-in/reconciliation',
    ]) {
      assert.ok(openapi.paths[path], path);
    }
  });
});
