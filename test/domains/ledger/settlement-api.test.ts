/**
 * Clearing and settlement over HTTP on a real fleet (decision 51): windows listed, closed,
 * settled and their file served through Fastify's full pipeline, bad input refused with
 * problem+json and nothing written; the end-of-day report with a break planted behind the
 * ledger's back, a pending transfer left open past its timeout and plugged checks, each
 * reported with its figures, and clean again once repaired.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { IDEMPOTENCY_MIGRATIONS } from '../../../src/data/idempotency.ts';
import type { Router } from '../../../src/data/router.ts';
import { LedgerAccountService } from '../../../src/domains/ledger/core/ledger-account-service.ts';
import type { LedgerRequest } from '../../../src/domains/ledger/core/ledger-types.ts';
import { registerSettlementRoutes } from '../../../src/domains/ledger/settlement/api/settlement-routes.ts';
import {
  type EndOfDayBreak,
  type EndOfDayCheck,
  EndOfDayService,
} from '../../../src/domains/ledger/settlement/core/end-of-day.ts';
import { SettlementService } from '../../../src/domains/ledger/settlement/core/settlement-service.ts';
import { windowIdOf } from '../../../src/domains/ledger/settlement/core/settlement-types.ts';
import { LEDGER_MIGRATIONS } from '../../../src/domains/ledger/sql/ledger-migrations.ts';
import { applyLedgerBatch } from '../../../src/domains/ledger/store/ledger-batch.ts';
import { buildHttpServer } from '../../../src/http/build-http-server.ts';
import { type FleetFixture, startFleet } from '../../support/fleet-fixture.ts';

const CURRENCY = 'EUR';
const WINDOWS = '/v1/ledger/settlement-windows';

let fixture: FleetFixture;
let router: Router;
let accounts: LedgerAccountService;
let settlement: SettlementService;
let app: FastifyInstance;
let counter = 0;
/** What the plugged checks find: nothing until a test says otherwise. */
const plugged = { cardBreaks: [] as EndOfDayBreak[], failure: null as string | null };
const PLUGGED_CHECKS: EndOfDayCheck[] = [
  { name: 'card_accounts', run: async () => ({ breaks: plugged.cardBreaks }) },
  {
    name: 'flaky',
    run: async () => {
      if (plugged.failure !== null) throw new Error(plugged.failure);
      return { breaks: [] };
    },
  },
];

before(async () => {
  fixture = await startFleet('ledger-settlement-api', {}, [
    IDEMPOTENCY_MIGRATIONS,
    LEDGER_MIGRATIONS,
  ]);
  router = await fixture.router();
  accounts = new LedgerAccountService(router, { stripesPerShard: 1 });
  settlement = new SettlementService(router, {
    reserveBasisPoints: 1 + randomInt(500),
    reserveAccountCode: 'reserve',
    bankAccountCode: 'bank',
  });
  await accounts.openInstitutionAccount({
    code: 'reserve',
    kind: 'risk_reserve',
    currency: CURRENCY,
  });
  await accounts.openInstitutionAccount({ code: 'bank', kind: 'suspense', currency: CURRENCY });
  await accounts.openInstitutionAccount({ code: 'funding', kind: 'suspense', currency: CURRENCY });
  const endOfDay = new EndOfDayService(router, { pendingGraceMs: 0, checks: PLUGGED_CHECKS });
  const source = {
    topology: () => Promise.reject(new Error('unused')),
    health: () => Promise.reject(new Error('unused')),
  };
  app = await buildHttpServer({
    source,
    version: 'test',
    routes: [(server) => registerSettlementRoutes(server, { settlement, endOfDay })],
  });
});

after(async () => {
  await app?.close();
  await fixture?.stop();
});

function key(label: string): string {
  counter += 1;
  return `${label}-${process.pid}-${counter}`;
}

async function call(method: 'GET' | 'POST', url: string, idempotencyKey?: string) {
  const response = await app.inject({
    method,
    url,
    headers: idempotencyKey === undefined ? {} : { 'idempotency-key': idempotencyKey },
  });
  const type = String(response.headers['content-type'] ?? '');
  return {
    status: response.statusCode,
    type,
    headers: response.headers,
    text: response.body,
    // biome-ignore lint/suspicious/noExplicitAny: bodies are checked field by field
    json: (type.includes('json') ? JSON.parse(response.body) : null) as any,
  };
}

async function apply(near: string, requests: LedgerRequest[]) {
  const { value } = await router.writeToShard(router.map.shardOf(near), (tx) =>
    applyLedgerBatch(tx, requests),
  );
  return value;
}

/** A counterparty with a settlement account and a payment into it on every shard. */
async function paidCounterparty(): Promise<{ counterparty: string; credits: bigint }> {
  const counterparty = key('=shop');
  const code = key('settle');
  const account = await accounts.openInstitutionAccount({
    code,
    kind: 'settlement',
    currency: CURRENCY,
    counterparty,
  });
  let credits = 0n;
  for (const stripe of account.stripes) {
    const funding = await accounts.stripeNear('funding', CURRENCY, stripe.id, 0);
    const amount = BigInt(1 + randomInt(100_000));
    const [outcome] = await apply(stripe.id, [
      {
        kind: 'transfer',
        id: key('pay'),
        debitAccountId: funding,
        creditAccountId: stripe.id,
        amount,
        currency: CURRENCY,
      },
    ]);
    assert.equal(outcome?.status, 'posted');
    credits += amount;
  }
  return { counterparty, credits };
}

describe('settlement over HTTP', () => {
  test('windows are listed, closed, settled and their file served; bad input writes nothing', async () => {
    const { counterparty, credits } = await paidCounterparty();
    const id = windowIdOf({ counterparty, number: 1n });
    const path = `${WINDOWS}/${id}`;
    const listed = await call('GET', `${WINDOWS}?counterparty=${encodeURIComponent(counterparty)}`);
    assert.equal(listed.status, 200, listed.text);
    assert.deepEqual(
      listed.json.data.map((w: { id: string; state: string }) => [w.id, w.state]),
      [[id, 'open']],
    );
    assert.equal(listed.json.hasMore, false);
    for (const bad of ['?limit=0', '?limit=101', '?startingAfter=nope', '?counterparty=']) {
      const refused = await call('GET', `${WINDOWS}${bad}`);
      assert.equal(refused.status, 400, bad);
      assert.match(refused.type, /application\/problem\+json/);
      assert.equal(refused.json.code, 'invalid_request', bad);
    }
    const nul = windowIdOf({ counterparty: '\u0000', number: 1n });
    assert.equal((await call('GET', `${WINDOWS}/${nul}`)).json.code, 'resource_not_found');
    assert.equal((await call('GET', `${WINDOWS}/swin_x`)).status, 400);
    const unknown = windowIdOf({ counterparty: key('nobody'), number: 1n });
    assert.equal((await call('POST', `${WINDOWS}/${unknown}/close`, key('c'))).status, 404);
    assert.equal((await call('GET', `${path}/file`)).json.code, 'state_conflict');
    assert.equal((await call('POST', `${path}/settle`, key('s'))).json.code, 'state_conflict');
    const keyless = await call('POST', `${path}/close`);
    assert.equal(keyless.json.code, 'idempotency_key_missing');
    assert.equal((await call('GET', path)).json.state, 'open', 'nothing was closed');

    const closeKey = key('close');
    const closed = await call('POST', `${path}/close`, closeKey);
    assert.equal(closed.status, 200, closed.text);
    assert.equal(closed.json.window.state, 'closed');
    const [position] = closed.json.positions;
    assert.equal(BigInt(position.credits), credits);
    assert.equal(
      BigInt(position.reserve),
      (credits * BigInt(closed.json.window.reserveBasisPoints)) / 10_000n,
    );
    const again = await call('POST', `${path}/close`, closeKey);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.deepEqual(again.json, closed.json);
    assert.deepEqual((await call('GET', `${path}/positions`)).json, closed.json);

    const file = await call('GET', `${path}/file`);
    assert.equal(file.status, 200);
    assert.equal(file.type, 'text/csv; charset=utf-8');
    assert.match(
      String(file.headers['content-disposition']),
      /^attachment; filename="settlement-swin_/,
    );
    assert.equal(file.text, (await settlement.file(id)).text);
    const [header, line, end] = file.text.split('\r\n');
    assert.equal(header?.split(',')[1], 'counterparty');
    assert.equal(line?.split(',')[1], `'${counterparty}`, 'a formula-like name is neutralised');
    assert.equal(end, '');
    assert.equal((await call('GET', `${path}/file`)).text, file.text, 'byte for byte');

    const settled = await call('POST', `${path}/settle`, key('settle'));
    assert.equal(settled.status, 200, settled.text);
    assert.equal(settled.json.window.state, 'settled');
    const listedAfter = await call(
      'GET',
      `${WINDOWS}?counterparty=${encodeURIComponent(counterparty)}&limit=1`,
    );
    assert.deepEqual(
      listedAfter.json.data.map((w: { number: number; state: string }) => [w.number, w.state]),
      [[2, 'open']],
    );
    const second = await call(
      'GET',
      `${WINDOWS}?counterparty=${encodeURIComponent(counterparty)}&limit=1&startingAfter=${listedAfter.json.nextCursor}`,
    );
    assert.deepEqual(
      second.json.data.map((w: { number: number; state: string }) => [w.number, w.state]),
      [[1, 'settled']],
    );
    assert.equal(second.json.nextCursor, null);
  });

  test('the end-of-day report names a planted break, an overdue pending transfer and plugged checks', async () => {
    const clean = await call('GET', '/v1/ledger/end-of-day');
    assert.equal(clean.status, 200, clean.text);
    assert.equal(clean.json.ok, true, clean.text);
    const funding = await accounts.institutionAccount('funding', CURRENCY);
    const victim = funding.stripes[0]?.id as string;
    const before = await accounts.getAccount(victim);
    const delta = BigInt(1 + randomInt(10_000));
    await router.writeToShard(router.map.shardOf(victim), (tx) =>
      tx.query(
        'UPDATE public.ledger_accounts SET credits_posted = credits_posted + $2 WHERE id = $1',
        [victim, delta.toString()],
      ),
    );
    const bank = await accounts.stripeNear('bank', CURRENCY, victim, 0);
    const pendingId = key('hold');
    const amount = BigInt(1 + randomInt(10_000));
    const [held] = await apply(victim, [
      {
        kind: 'pending',
        id: pendingId,
        debitAccountId: bank,
        creditAccountId: victim,
        amount,
        currency: CURRENCY,
        timeoutSeconds: 1,
      },
    ]);
    assert.equal(held?.status, 'pending');
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    const cardBreak = {
      kind: 'card_account',
      shardId: null,
      subject: key('card'),
      expected: String(randomInt(1_000)),
      actual: String(randomInt(1_000)),
    };
    plugged.cardBreaks = [cardBreak];
    plugged.failure = key('cannot reach the cards');
    const report = await call('GET', '/v1/ledger/end-of-day');
    assert.equal(report.json.ok, false);
    const check = (name: string) =>
      report.json.checks.find((c: { name: string }) => c.name === name) as {
        ok: boolean;
        breaks: { kind: string; subject: string; expected: string; actual: string }[];
      };
    const totals = `${before.debitsPosted}/${before.creditsPosted}/${before.debitsPending}/${before.creditsPending + amount}`;
    const planted = check('books').breaks.find((b) => b.kind === 'account_totals');
    assert.deepEqual(planted && [planted.subject, planted.expected], [victim, totals]);
    assert.equal(
      planted?.actual,
      `${before.debitsPosted}/${before.creditsPosted + delta}/${before.debitsPending}/${before.creditsPending + amount}`,
    );
    const trial = check('trial_balance').breaks;
    assert.deepEqual(
      trial.map((b) => [b.kind, b.subject]),
      [['trial_balance_posted', CURRENCY]],
    );
    assert.match(trial[0]?.actual ?? '', new RegExp(`off by ${delta}\\)$`));
    const overdue = check('pending_past_timeout').breaks;
    assert.deepEqual(
      overdue.map((b) => b.subject),
      [pendingId],
    );
    assert.match(
      overdue[0]?.actual ?? '',
      new RegExp(`^open: ${amount} ${CURRENCY} from ${bank} to ${victim}$`),
    );
    assert.deepEqual(check('card_accounts').breaks, [cardBreak]);
    assert.deepEqual(
      check('flaky').breaks.map((b) => [b.kind, b.actual]),
      [['check_failed', plugged.failure]],
    );

    // The total put back and the hold expired: the account and the trial balance hold again,
    // but the hold's posting, written while the total was wrong, keeps the wrong running
    // totals, and the books name it.
    await router.writeToShard(router.map.shardOf(victim), (tx) =>
      tx.query(
        'UPDATE public.ledger_accounts SET credits_posted = credits_posted - $2 WHERE id = $1',
        [victim, delta.toString()],
      ),
    );
    const [expired] = await apply(victim, [{ kind: 'expire', id: key('expire'), pendingId }]);
    assert.equal(expired?.status, 'expired');
    plugged.cardBreaks = [];
    plugged.failure = null;
    const repaired = await call('GET', '/v1/ledger/end-of-day');
    const left = repaired.json.checks.filter((c: { ok: boolean }) => !c.ok);
    assert.deepEqual(
      left.flatMap((c: { name: string; breaks: { kind: string; subject: string }[] }) =>
        c.breaks.map((b) => [c.name, b.kind, b.subject.split(' ')[0]]),
      ),
      [['books', 'posting_running_totals', victim]],
      repaired.text,
    );
  });
});
