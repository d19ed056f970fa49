import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BypassSpool } from '../src/data/bypass/bypass-spool.ts';
import { newEntityId } from '../src/data/entity-id.ts';
import { IDEMPOTENCY_MIGRATIONS } from '../src/data/idempotency.ts';
import type { Router } from '../src/data/router.ts';
import { CARD_ACCOUNT_MIGRATIONS } from '../src/domains/cards/accounts/card-account-migrations.ts';
import { CardAccountService } from '../src/domains/cards/accounts/card-account-service.ts';
import { AuthorizationEngine } from '../src/domains/cards/authorization/authorization-engine.ts';
import { AUTHORIZATION_MIGRATIONS } from '../src/domains/cards/authorization/authorization-migrations.ts';
import { AuthorizationService } from '../src/domains/cards/authorization/authorization-service.ts';
import type {
  AuthorizationOutcome,
  AuthorizationRequest,
} from '../src/domains/cards/authorization/authorization-types.ts';
import {
  type CachedCard,
  CardStatusCache,
} from '../src/domains/cards/stand-in/card-status-cache.ts';
import {
  engineIssuerPath,
  replicaCardSource,
} from '../src/domains/cards/stand-in/engine-issuer-path.ts';
import { IssuerCircuit } from '../src/domains/cards/stand-in/issuer-circuit.ts';
import { toAuthorizationAdvice } from '../src/domains/cards/stand-in/stand-in-advice.ts';
import type { StandInLimits } from '../src/domains/cards/stand-in/stand-in-limits.ts';
import type { StandInOptions } from '../src/domains/cards/stand-in/stand-in-options.ts';
import { StandInProcessor } from '../src/domains/cards/stand-in/stand-in-processor.ts';
import { StandInRules } from '../src/domains/cards/stand-in/stand-in-rules.ts';
import { isMainstayError } from '../src/errors/mainstay-error.ts';
import { type FleetFixture, startFleet } from './support/fleet-fixture.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

const LIMITS: StandInLimits = {
  windowMs: DAY_MS,
  perTransactionMax: 10_000n,
  cardCountMax: 4,
  cardAmountMax: 25_000n,
  categoryCountMax: 2,
  categoryAmountMax: 15_000n,
  blockedCategories: ['7995', '6051', '4829'],
  categoryOverrides: { '5812': { countMax: 1, perTransactionMax: 3_000n } },
};

function request(cardId: string, requestId: string, fields: Partial<AuthorizationRequest> = {}) {
  return {
    requestId,
    cardId,
    amount: 1_000n,
    currency: 'CNY',
    merchantId: 'm_1',
    merchantCategory: '5411',
    merchantReference: null,
    ...fields,
  } satisfies AuthorizationRequest;
}

function activeCard(cardId: string, nowMs: number, fields: Partial<CachedCard> = {}): CachedCard {
  const now = new Date(nowMs);
  return {
    cardId,
    state: 'active',
    accountId: 'acct_x',
    currency: 'CNY',
    expiry: { month: now.getUTCMonth() + 1, year: now.getUTCFullYear() + 2 },
    observedAtMs: nowMs,
    ...fields,
  };
}

describe('stand-in rules (no issuer needed)', () => {
  const now = Date.UTC(2026, 5, 15, 12);

  test('per-transaction maximum, card count and amount limits per window, and the window sliding', () => {
    const rules = new StandInRules(LIMITS);
    const card = activeCard('card_a', now);
    const decide = (id: string, amount: bigint, at = now, category = '5411') =>
      rules.decide(
        request('card_a', id, { amount, merchantCategory: category }),
        card,
        `a:${id}`,
        at,
      ).status;
    assert.equal(decide('over', 10_001n), 'stand_in_limit_exceeded', 'per-transaction maximum');
    assert.equal(decide('1', 10_000n), 'approved', 'exactly the maximum is allowed');
    assert.equal(decide('2', 5_000n, now, '5999'), 'approved');
    assert.equal(decide('3', 9_000n, now, '5311'), 'approved');
    assert.equal(decide('4', 1_001n, now, '5912'), 'stand_in_limit_exceeded', 'card amount 25,000');
    assert.equal(decide('5', 1_000n, now, '5912'), 'approved', 'card amount exactly reached');
    assert.equal(decide('6', 1n, now, '5913'), 'stand_in_limit_exceeded', 'card count 4');
    const later = now + DAY_MS + 1;
    assert.equal(decide('7', 10_000n, later), 'approved', 'the window slid past the approvals');
  });

  test('merchant category: count and amount per card and category, overrides, blocked categories', () => {
    const rules = new StandInRules(LIMITS);
    const card = activeCard('card_b', now);
    const decide = (id: string, category: string, amount = 1_000n) =>
      rules.decide(
        request('card_b', id, { merchantCategory: category, amount }),
        card,
        `b:${id}`,
        now,
      ).status;
    assert.equal(decide('1', '5411', 8_000n), 'approved');
    assert.equal(decide('2', '5411', 7_001n), 'stand_in_limit_exceeded', 'category amount 15,000');
    assert.equal(decide('3', '5411', 7_000n), 'approved');
    assert.equal(decide('4', '5411', 1n), 'stand_in_limit_exceeded', 'category count 2');
    assert.equal(decide('5', '5812', 3_001n), 'stand_in_limit_exceeded', 'override per-tx max');
    assert.equal(decide('6', '5812', 3_000n), 'approved');
    assert.equal(decide('7', '5812', 10n), 'stand_in_limit_exceeded', 'override count 1');
    for (const blocked of ['7995', '6051', '4829']) {
      assert.equal(decide(`g${blocked}`, blocked, 1n), 'category_not_permitted');
    }
    assert.equal(rules.usage.usage('card_b', '5411', now).cardCount, 3, 'declines count nothing');
  });

  test('cached card state: blocked, expired, closed, unknown, currency, expiry not known', () => {
    const rules = new StandInRules(LIMITS);
    const decide = (card: CachedCard | undefined, fields: Partial<AuthorizationRequest> = {}) =>
      rules.decide(request('card_c', `r${Math.random()}`, fields), card, 'c', now).status;
    assert.equal(decide(activeCard('card_c', now, { state: 'blocked' })), 'card_blocked');
    assert.equal(decide(activeCard('card_c', now, { state: 'account_closed' })), 'account_closed');
    const lastMonth = { month: 5, year: 2026 };
    assert.equal(decide(activeCard('card_c', now, { expiry: lastMonth })), 'card_expired');
    assert.equal(
      decide(activeCard('card_c', now, { expiry: { month: 6, year: 2026 } })),
      'approved',
    );
    assert.equal(decide(undefined), 'issuer_unavailable', 'not cached, not readable: 91');
    assert.equal(decide(activeCard('card_c', now), { currency: 'USD' }), 'currency_mismatch');
    assert.equal(decide(activeCard('card_c', now, { currency: null })), 'issuer_unavailable');
    const seenThisMonth = activeCard('card_c', now, { expiry: null, observedAtMs: now - DAY_MS });
    assert.equal(decide(seenThisMonth), 'approved', 'usable this month: valid to its end');
    const seenLastMonth = activeCard('card_c', now, {
      expiry: null,
      observedAtMs: now - 30 * DAY_MS,
    });
    assert.equal(decide(seenLastMonth), 'issuer_unavailable');
    assert.equal(decide(activeCard('card_c', now), { amount: 0n }), 'invalid_amount');
    assert.equal(decide(activeCard('card_c', now), { amount: 2n ** 53n }), 'invalid_amount');
  });

  test('bounds: tracked cards, cached cards; a retried approval is released', () => {
    const rules = new StandInRules(LIMITS, { cardsTrackedMax: 1 });
    const first = rules.decide(request('card_d', '1'), activeCard('card_d', now), 'd:1', now);
    assert.equal(first.status, 'approved');
    const other = rules.decide(request('card_e', '1'), activeCard('card_e', now), 'e:1', now);
    assert.equal(other.status, 'issuer_unavailable', 'no room to track a second card: refuse');
    rules.usage.release('card_d', 'd:1');
    const again = rules.decide(request('card_e', '1'), activeCard('card_e', now), 'e:1', now);
    assert.equal(again.status, 'approved');
    const cache = new CardStatusCache({ countMax: 2 });
    for (const id of ['card_1', 'card_2', 'card_3']) cache.put(activeCard(id, now));
    assert.equal(cache.size, 2);
    assert.equal(cache.get('card_1'), undefined, 'least recently used out first');
  });

  test('circuit: one failure opens it, one probe after the interval, its success closes it', () => {
    const circuit = new IssuerCircuit({ probeIntervalMs: 100 });
    assert.equal(circuit.route(1, 0), 'issuer');
    circuit.failed(1, 0);
    assert.equal(circuit.route(1, 50), 'stand_in');
    assert.equal(circuit.route(1, 100), 'probe');
    assert.equal(circuit.route(1, 101), 'stand_in', 'one probe at a time');
    circuit.failed(1, 150);
    assert.equal(circuit.route(1, 200), 'stand_in');
    assert.equal(circuit.route(1, 250), 'probe');
    circuit.succeeded(1);
    assert.equal(circuit.state(1), 'closed');
    assert.equal(circuit.route(1, 251), 'issuer');
    assert.equal(circuit.opens(1), 1);
  });
});

let fixture: FleetFixture;
let router: Router;
let engine: AuthorizationEngine;
let accounts: CardAccountService;
let keyCounter = 0;

const FLEET_LIMITS: StandInLimits = {
  ...LIMITS,
  perTransactionMax: 100_000n,
  cardCountMax: 1_000,
  cardAmountMax: 10_000_000n,
  categoryCountMax: 1_000,
  categoryAmountMax: 10_000_000n,
  categoryOverrides: {},
};

/** An account homed in `dc` (accounts elsewhere are left unused) and `cards` cards on it. */
async function accountWithCards(dc: string, creditLimit: bigint, cards: number) {
  for (;;) {
    keyCounter += 1;
    const { value: account } = await accounts.createAccount(
      { currency: 'CNY', creditLimit },
      `stand-in-acct-${process.pid}-${keyCounter}`,
    );
    if (router.map.route(router.map.shardOf(account.id)).shard.homeDc !== dc) continue;
    const ids: string[] = [];
    for (let i = 0; i < cards; i += 1) {
      const key = `stand-in-card-${process.pid}-${keyCounter}-${i}`;
      const options = { velocityCountMax: 100_000, velocityWindowSeconds: 60 };
      ids.push((await accounts.issueCard(account.id, options, key)).value.id);
    }
    for (const id of ids) await onReplica(id);
    return { accountId: account.id, cardIds: ids, shardId: router.map.shardOf(account.id) };
  }
}

async function openSpool(dir: string): Promise<BypassSpool> {
  return BypassSpool.open({ dir, name: 'advices' });
}

function startProcessor(spool: BypassSpool, options: Partial<StandInOptions>): StandInProcessor {
  return StandInProcessor.start(
    { router, issuer: engineIssuerPath(router, engine), cards: replicaCardSource(router), spool },
    { limits: FLEET_LIMITS, ...options },
  );
}

/** Account totals against the sum of its authorizations, read on the primary. */
async function creditCheck(accountId: string) {
  const { value } = await router.read(
    accountId,
    (db) =>
      db.query<{ limit: string; held: string; posted: string; holds: string; captured: string }>(
        `SELECT a.credit_limit::text AS limit, a.held::text, a.posted::text,
                coalesce(sum(z.held_amount) FILTER (WHERE z.hold_state = 'open'), 0)::text AS holds,
                coalesce(sum(z.captured_amount), 0)::text AS captured
           FROM public.card_accounts a LEFT JOIN public.authorizations z ON z.account_id = a.id
          WHERE a.id = $1 GROUP BY a.id`,
        [accountId],
      ),
    { consistency: 'primary' },
  );
  const row = value.rows[0];
  assert.ok(row, `account ${accountId} exists`);
  return {
    held: BigInt(row.held),
    posted: BigInt(row.posted),
    available: BigInt(row.limit) - BigInt(row.held) - BigInt(row.posted),
    openHolds: BigInt(row.holds),
    captured: BigInt(row.captured),
  };
}

/** The issuer's authorizations of (card, request id) pairs, read on the primaries. */
async function issuerAuthorizations(outcomes: readonly AuthorizationOutcome[]) {
  const found = new Map<string, { id: string; status: string; held: bigint; state: string }>();
  for (const shardId of router.map.shardIds) {
    const { value } = await router.readShard(
      shardId,
      (db) =>
        db.query<{
          id: string;
          card_id: string;
          request_id: string;
          status: string;
          held_amount: string;
          hold_state: string;
        }>(
          `SELECT id, card_id, request_id, status, held_amount, hold_state
             FROM public.authorizations WHERE (card_id || ':' || request_id) = ANY ($1)`,
          [outcomes.map((o) => `${o.cardId}:${o.requestId}`)],
        ),
      { consistency: 'primary' },
    );
    for (const row of value.rows) {
      found.set(`${row.card_id}:${row.request_id}`, {
        id: row.id,
        status: row.status,
        held: BigInt(row.held_amount),
        state: row.hold_state,
      });
    }
  }
  return found;
}

/** Waits until a replica of the card's shard holds the card (stand-in reads it there). */
async function onReplica(cardId: string): Promise<void> {
  const source = replicaCardSource(router);
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (await source.readCard(cardId).catch(() => null)) return;
    await sleep(50);
  }
  assert.fail(`card ${cardId} never reached a replica`);
}

async function eventually(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(50);
  }
  assert.fail(`timed out waiting for ${what}`);
}

/** Authorizations from `workers` concurrent callers until stopped; every answer and error kept. */
function stream(processor: StandInProcessor, cardIds: readonly string[], workers: number) {
  const outcomes: AuthorizationOutcome[] = [];
  const errors: unknown[] = [];
  let running = true;
  const loops = Array.from({ length: workers }, async (_, worker) => {
    for (let n = 0; running; n += 1) {
      const cardId = cardIds[(worker + n) % cardIds.length] as string;
      try {
        outcomes.push(
          await processor.authorize(request(cardId, `kill-${worker}-${n}`, { amount: 300n })),
        );
      } catch (error) {
        errors.push(error);
      }
      await sleep(5);
    }
  });
  return {
    outcomes,
    errors,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

async function waitHealthy(id: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline && !router.monitor.observe(id).healthy) await sleep(50);
  assert.ok(router.monitor.observe(id).healthy, `${id} healthy again`);
}

describe('stand-in processing on a real fleet with the real engine', () => {
  before(async () => {
    fixture = await startFleet('cards-stand-in', {}, [
      IDEMPOTENCY_MIGRATIONS,
      CARD_ACCOUNT_MIGRATIONS,
      AUTHORIZATION_MIGRATIONS,
    ]);
    router = await fixture.router({ writeWaitMs: 1_500 });
    engine = new AuthorizationEngine(router, { writeWaitMs: 1_000, batchWindowMicros: 2_000 });
    accounts = new CardAccountService(router);
  });
  after(async () => {
    await engine?.close().catch(() => undefined);
    await fixture?.stop();
  });

  test('capacity diversion: a deep issuer queue sends requests to stand-in while the primary is fine', async () => {
    const { accountId, cardIds } = await accountWithCards('dc2', 10_000_000n, 2);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mainstay-stand-in-'));
    const processor = startProcessor(await openSpool(dir), { queueDepthStandInMin: 1 });
    try {
      // Warm the card cache through the issuer.
      for (const cardId of cardIds) {
        const warm = await processor.authorizeWithToken(request(cardId, 'warm'));
        assert.equal(warm.outcome.decidedBy, 'issuer');
        assert.equal(warm.outcome.status, 'approved');
        assert.equal(typeof warm.token, 'string', 'an issuer answer carries its commit token');
      }
      // A burst: the first request of it is queued on the shard, the rest find the queue deep.
      const burst = Array.from({ length: 20 }, (_, i) =>
        processor.authorize(request(cardIds[i % 2] as string, `burst-${i}`, { amount: 500n })),
      );
      const outcomes = await Promise.all(burst);
      const issuerDecided = outcomes.filter((o) => o.decidedBy === 'issuer');
      assert.ok(issuerDecided.length >= 1, 'the issuer kept deciding');
      const standIn = outcomes.filter((o) => o.decidedBy === 'stand_in');
      assert.ok(standIn.length >= 1, 'some requests were diverted');
      assert.ok(standIn.every((o) => o.status === 'approved' && o.holdState === 'open'));
      const stats = processor.stats();
      assert.equal(stats.standInByTrigger.overload, standIn.length);
      assert.equal(stats.standInByTrigger.circuit_open + stats.standInByTrigger.issuer_failed, 0);
      assert.ok(stats.standInShare > 0 && stats.standInShare < 1);
      assert.equal(stats.pendingAdvicesTotal, standIn.length);
      // A retry while the advice waits returns the first answer, even though the issuer is up.
      const first = standIn[0] as AuthorizationOutcome;
      const retry = await processor.authorizeWithToken(
        request(first.cardId, first.requestId, { amount: 500n }),
      );
      assert.deepEqual(retry, { outcome: first, token: null, replayed: true });
      await assert.rejects(
        processor.authorize(request(first.cardId, first.requestId, { amount: 501n })),
        (error) => isMainstayError(error, 'idempotency_key_reused'),
      );
      const drained = await processor.forwardAll();
      assert.ok(
        drained.every((d) => d.error === null && d.remaining === 0),
        JSON.stringify(drained, (_, v) => (typeof v === 'bigint' ? `${v}` : v)),
      );
      assert.equal(processor.stats().forwardedCount, standIn.length);
      assert.equal(processor.stats().forwardedByResult.matched, standIn.length);
      const found = await issuerAuthorizations(standIn);
      for (const o of standIn) {
        const row = found.get(`${o.cardId}:${o.requestId}`);
        assert.equal(row?.id, o.id, 'the issuer keeps the stand-in authorization id');
        assert.equal(row?.held, o.amount);
      }
      const credit = await creditCheck(accountId);
      assert.equal(credit.held, credit.openHolds);
      assert.equal(credit.held, outcomes.reduce((sum, o) => sum + o.heldAmount, 0n) + 2_000n);
      // After forwarding, a retry reaches the issuer, which answers with the same authorization.
      const later = await processor.authorize(
        request(first.cardId, first.requestId, { amount: 500n }),
      );
      assert.equal(later.id, first.id);
      assert.equal(later.decidedBy, 'stand_in');
      const list = await processor.advices({ limit: 100 });
      const listed = list.data.filter((a) => standIn.some((o) => o.id === a.authorizationId));
      assert.equal(listed.length, standIn.length);
      assert.ok(listed.every((a) => a.state === 'forwarded' && a.result === 'matched'));
      const firstPage = await processor.advices({ limit: 2 });
      const nextPage = await processor.advices({ limit: 2, startingAfter: firstPage.nextCursor });
      assert.ok(firstPage.hasMore && firstPage.data.length === 2);
      assert.ok((nextPage.data[0]?.authorizationId ?? '') > (firstPage.nextCursor ?? ''));
      for (const bad of [{ limit: 0 }, { limit: 101 }, { limit: 10, shardId: 999 }]) {
        await assert.rejects(processor.advices(bad), (e) => isMainstayError(e, 'invalid_request'));
      }
    } finally {
      await processor.stop();
    }
  });

  test('capacity diversion by latency: over the p99 threshold requests stand in, one per interval still tries the issuer', async () => {
    const { cardIds } = await accountWithCards('dc2', 10_000_000n, 1);
    const cardId = cardIds[0] as string;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mainstay-stand-in-'));
    const processor = startProcessor(await openSpool(dir), {
      latencyStandInMs: 0,
      probeIntervalMs: 3_600_000,
    });
    try {
      const first = await processor.authorize(request(cardId, 'lat-1'));
      assert.equal(first.decidedBy, 'issuer', 'the first request measures the issuer');
      const second = await processor.authorize(request(cardId, 'lat-2'));
      assert.equal(second.decidedBy, 'stand_in');
      assert.equal(processor.stats().standInByTrigger.overload, 1);
      assert.equal(
        processor.circuit.state(router.map.shardOf(cardId)),
        'closed',
        'slow is not down',
      );
    } finally {
      await processor.stop();
    }
  });

  test('an issuer attempt that times out but commits: stand-in answers, the pair reconciles as a duplicate, held once', async () => {
    const { accountId, cardIds, shardId } = await accountWithCards('dc2', 1_000_000n, 1);
    const cardId = cardIds[0] as string;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mainstay-stand-in-'));
    // The engine closes a batch after 2 ms at the earliest: a 1 ms timeout always fires first.
    const processor = startProcessor(await openSpool(dir), {
      issuerTimeoutMs: 1,
      forwarder: { forwardIntervalMs: 3_600_000 },
    });
    try {
      const answer = await processor.authorize(request(cardId, 'slow', { amount: 4_000n }));
      assert.deepEqual([answer.decidedBy, answer.status], ['stand_in', 'approved']);
      assert.equal(processor.stats().standInByTrigger.issuer_timeout, 1);
      await eventually(
        () => processor.lateIssuerAnswer({ cardId, requestId: 'slow' }) !== undefined,
        'the late issuer answer',
      );
      const late = processor.lateIssuerAnswer({ cardId, requestId: 'slow' });
      assert.equal(late?.status, 'approved', 'the issuer did commit its own decision');
      assert.notEqual(late?.id, answer.id);
      assert.equal((await processor.forwardNow(shardId)).forwarded, 1);
      const [forwarded] = processor.queue.forwarded();
      assert.equal(forwarded?.result.result, 'duplicate_dropped');
      const credit = await creditCheck(accountId);
      assert.equal(credit.held, 4_000n, 'held once, not twice');
      assert.equal(credit.held, credit.openHolds);
      const page = await processor.advices({ shardId, limit: 100 });
      const pair = page.data.find((a) => a.authorizationId === answer.id);
      assert.equal(pair?.result, 'duplicate_dropped', 'the ledger pairs the stand-in answer');
      assert.equal(pair?.issuerStatus, 'approved');
    } finally {
      await processor.stop();
    }
  });

  test('the spool survives a process restart: reopened, it answers retries and forwards', async () => {
    const { accountId, cardIds } = await accountWithCards('dc2', 10_000_000n, 1);
    const cardId = cardIds[0] as string;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mainstay-stand-in-'));
    // Process 1 stands in for everything (queue threshold 0) and never forwards on its own.
    const first = startProcessor(await openSpool(dir), {
      queueDepthStandInMin: 0,
      forwarder: { forwardIntervalMs: 3_600_000 },
    });
    const decided: AuthorizationOutcome[] = [];
    for (let i = 0; i < 5; i += 1) {
      decided.push(await first.authorize(request(cardId, `restart-${i}`, { amount: 700n })));
    }
    assert.ok(decided.every((o) => o.decidedBy === 'stand_in' && o.status === 'approved'));
    // Bad input in stand-in: malformed fields are errors, a bad amount a decline; no advice.
    await assert.rejects(
      first.authorize(request(cardId, 'bad-currency', { currency: 'cny' })),
      (error) => isMainstayError(error, 'invalid_request'),
    );
    for (const amount of [0n, -5n, 2n ** 53n]) {
      const declined = await first.authorize(request(cardId, `bad-${amount}`, { amount }));
      assert.deepEqual([declined.status, declined.responseCode], ['invalid_amount', '13']);
    }
    assert.equal(first.stats().pendingAdvicesTotal, 5);
    // Two attempts of one request at once: one decision, one advice, counted once.
    const twins = await Promise.all([
      first.authorize(request(cardId, 'twin', { amount: 700n })),
      first.authorize(request(cardId, 'twin', { amount: 700n })),
    ]);
    assert.deepEqual(twins[0], twins[1]);
    assert.equal(first.rules.usage.usage(cardId, '5411', Date.now()).cardCount, 6);
    decided.push(twins[0]);
    await first.stop();
    // Process 2 reopens the same spool.
    const second = startProcessor(await openSpool(dir), {
      forwarder: { forwardIntervalMs: 3_600_000 },
    });
    try {
      assert.equal(second.stats().pendingAdvicesTotal, 6);
      assert.equal(second.rules.usage.usage(cardId, '5411', Date.now()).cardCount, 6);
      const retried = await second.authorize(request(cardId, 'restart-2', { amount: 700n }));
      assert.deepEqual(retried, decided[2]);
      assert.equal((await creditCheck(accountId)).held, 0n, 'nothing held before forwarding');
      const [drain] = await Promise.all([second.forwardNow(router.map.shardOf(cardId))]);
      assert.equal(drain?.forwarded, 6);
      assert.equal(second.stats().pendingAdvicesTotal, 0);
      const credit = await creditCheck(accountId);
      assert.equal(credit.held, 4_200n);
      assert.equal(credit.held, credit.openHolds);
      const again = await second.forwardNow(router.map.shardOf(cardId));
      assert.equal(again.forwarded, 0, 'nothing is forwarded twice');
    } finally {
      await second.stop();
    }
  });

  test('the primary killed during a stream: every request answered, approvals kept, advices forwarded once, credit consistent', async () => {
    const plenty = await accountWithCards('dc1', 100_000_000n, 4);
    const tight = await accountWithCards('dc1', 1_000n, 1);
    const [blockedCard, ...streamCards] = plenty.cardIds as [string, ...string[]];
    const tightCard = tight.cardIds[0] as string;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mainstay-stand-in-'));
    const processor = startProcessor(await openSpool(dir), {
      issuerTimeoutMs: 400,
      probeIntervalMs: 300,
      forwarder: { forwardIntervalMs: 200 },
    });
    try {
      for (const cardId of [...plenty.cardIds, tightCard]) {
        const warm = await processor.authorize(request(cardId, 'warm', { amount: 1n }));
        assert.equal(warm.status, 'approved');
      }
      await accounts.blockCard(blockedCard, `stand-in-block-${process.pid}`);
      const blockedByIssuer = await processor.authorize(request(blockedCard, 'after-block'));
      assert.equal(blockedByIssuer.status, 'card_blocked');
      const flow = stream(processor, streamCards, 4);
      await sleep(500);
      assert.ok(processor.stats().issuerDecisions > 5, 'the issuer decides before the failure');
      fixture.fleet.server('dc1-a')?.signalAll('SIGKILL');
      const killedAt = Date.now();
      await eventually(() => processor.stats().standInDecisions >= 30, 'stand-in decisions');
      const tightOutcomes = await whilePrimaryDown(processor, flow.outcomes, {
        tightCard,
        blockedCard,
        accountId: plenty.accountId,
      });
      // Past the engine's write wait: no issuer attempt of the outage can still commit.
      await sleep(Math.max(0, 2_500 - (Date.now() - killedAt)));
      assert.ok(processor.stats().lastForwardError, 'forwarding fails while the primary is down');
      await fixture.fleet.startServer('dc1-a');
      await waitHealthy('dc1-a');
      const restartedAt = new Date().toISOString();
      await eventually(
        () => flow.outcomes.some((o) => o.decidedBy === 'issuer' && o.createdAt > restartedAt),
        'issuer decisions after the restart',
      );
      await flow.stop();
      await eventually(async () => {
        await processor.forwardAll();
        return processor.stats().pendingAdvicesTotal === 0;
      }, 'every advice forwarded');
      assert.deepEqual(flow.errors, [], 'every request got an answer');
      const stats = processor.stats();
      assert.ok(stats.standInByTrigger.circuit_open > 0);
      assert.ok(stats.standInByTrigger.issuer_timeout + stats.standInByTrigger.issuer_failed > 0);
      assert.equal(stats.lastForwardError, null);
      assert.ok(Object.values(stats.circuits).every((state) => state === 'closed'));
      await assertApprovalsKept(processor, [...flow.outcomes, ...tightOutcomes], tightOutcomes);
      await assertForwardedOnce(processor, [plenty.accountId, tight.accountId]);
    } finally {
      await processor.stop();
    }
  });
});

/**
 * With the primary down: an account stand-in overspends, a cached blocked card, a card stand-in
 * cannot know (91), and a retry answered with the first decision. Returns the overspend.
 */
async function whilePrimaryDown(
  processor: StandInProcessor,
  streamed: readonly AuthorizationOutcome[],
  cards: { tightCard: string; blockedCard: string; accountId: string },
): Promise<AuthorizationOutcome[]> {
  const tightOutcomes: AuthorizationOutcome[] = [];
  for (let i = 0; i < 3; i += 1) {
    const amount = 600n;
    tightOutcomes.push(
      await processor.authorize(request(cards.tightCard, `tight-${i}`, { amount })),
    );
  }
  assert.ok(tightOutcomes.every((o) => o.decidedBy === 'stand_in' && o.status === 'approved'));
  const blocked = await processor.authorize(request(cards.blockedCard, 'while-down'));
  assert.deepEqual(
    [blocked.status, blocked.responseCode, blocked.decidedBy],
    ['card_blocked', '62', 'stand_in'],
  );
  const stranger = newEntityId('card', router.map.bucketOf(cards.accountId));
  const unknown = await processor.authorize(request(stranger, 'while-down'));
  assert.deepEqual([unknown.status, unknown.responseCode], ['issuer_unavailable', '91']);
  const approval = streamed.find((o) => o.decidedBy === 'stand_in' && o.status === 'approved');
  assert.ok(approval, 'stand-in approved during the outage');
  const retried = await processor.authorize(
    request(approval.cardId, approval.requestId, { amount: 300n }),
  );
  assert.deepEqual(retried, approval);
  return tightOutcomes;
}

/** Every approval holds its money on the issuer, under the id the client was given. */
async function assertApprovalsKept(
  processor: StandInProcessor,
  outcomes: readonly AuthorizationOutcome[],
  overspend: readonly AuthorizationOutcome[],
): Promise<void> {
  const approved = outcomes.filter((o) => o.status === 'approved');
  const found = await issuerAuthorizations(approved);
  const forwarded = new Map(
    processor.queue.forwarded().map((f) => [f.advice.outcome.id, f.result]),
  );
  for (const o of approved) {
    const row = found.get(`${o.cardId}:${o.requestId}`);
    assert.ok(row, `approval ${o.cardId}:${o.requestId} is on the issuer`);
    assert.equal(row.state, 'open');
    assert.equal(row.held, o.amount);
    // A dropped duplicate is a timed-out issuer attempt that committed: its own id stands.
    if (forwarded.get(o.id)?.result !== 'duplicate_dropped') assert.equal(row.id, o.id);
  }
  const results = [...forwarded.values()].map((r) => r.result);
  assert.equal(results.length, processor.stats().forwardedCount, 'each advice forwarded once');
  assert.ok(results.includes('matched'));
  assert.ok(results.includes('declined_recorded'), 'the blocked card decline was recorded');
  const overspent = overspend.map((o) => forwarded.get(o.id));
  assert.ok(
    overspent.some((r) => r?.result === 'exposure'),
    'the overspend is flagged',
  );
  const report = await processor.reconciliationReport();
  assert.equal(report.pendingAdvices, 0);
  const exposure = processor.stats().exposureTotal;
  assert.ok(exposure > 0n);
  assert.ok((report.exposureByCurrency.CNY ?? 0n) >= exposure, 'the ledger holds it all');
}

/**
 * Forwarding the same advices again changes nothing, and every account's available credit is
 * its limit minus exactly its open holds and postings (one capture makes postings non-zero).
 */
async function assertForwardedOnce(
  processor: StandInProcessor,
  accountIds: readonly string[],
): Promise<void> {
  const forwarded = processor.queue.forwarded();
  const approved = forwarded.find((f) => f.result.result === 'matched');
  assert.ok(approved);
  const service = new AuthorizationService(router);
  await service.capture(approved.advice.outcome.id, 100n, `stand-in-capture-${process.pid}`);
  const before = await Promise.all(accountIds.map(creditCheck));
  const byShard = new Map<number, ReturnType<typeof toAuthorizationAdvice>[]>();
  for (const f of forwarded) {
    byShard.set(f.advice.shardId, [
      ...(byShard.get(f.advice.shardId) ?? []),
      toAuthorizationAdvice(f.advice),
    ]);
  }
  for (const [shardId, advices] of byShard) {
    const again = await engine.applyAdvices(shardId, advices);
    assert.ok(again.every((r) => r.result === 'duplicate_dropped'));
  }
  assert.equal(
    (await processor.forwardAll()).reduce((n, d) => n + d.forwarded, 0),
    0,
  );
  const after = await Promise.all(accountIds.map(creditCheck));
  assert.deepEqual(after, before, 'holds and postings counted once');
  for (const credit of after) {
    assert.equal(credit.held, credit.openHolds);
    assert.equal(credit.posted, credit.captured);
  }
  assert.ok(
    after.some((credit) => credit.posted === 100n),
    'the capture posted',
  );
  assert.ok(
    after.some((credit) => credit.available < 0n),
    'exposure shows as negative credit',
  );
}
