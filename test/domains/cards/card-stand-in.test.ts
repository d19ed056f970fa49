import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Router } from '../../../src/data/router.ts';
import type { CardAccountService } from '../../../src/domains/cards/core/accounts/card-account-service.ts';
import type { AuthorizationEngine } from '../../../src/domains/cards/core/authorization/authorization-engine.ts';
import { AuthorizationService } from '../../../src/domains/cards/core/authorization/authorization-service.ts';
import type {
  AuthorizationOutcome,
  AuthorizationRequest,
} from '../../../src/domains/cards/core/authorization/authorization-types.ts';
import {
  QuarantineTracker,
  rejectionOf,
} from '../../../src/domains/cards/core/stand-in/advice-quarantine.ts';
import {
  type CachedCard,
  CardStatusCache,
} from '../../../src/domains/cards/core/stand-in/card-status-cache.ts';
import { IssuerCircuit } from '../../../src/domains/cards/core/stand-in/issuer-circuit.ts';
import type { StandInProcessor } from '../../../src/domains/cards/core/stand-in/stand-in-processor.ts';
import { StandInRules } from '../../../src/domains/cards/core/stand-in/stand-in-rules.ts';
import { isMainstayError, MainstayError } from '../../../src/errors/mainstay-error.ts';
import {
  assertAdviceList,
  assertApprovalsKept,
  assertForwardedOnce,
  assertPendingReads,
  assertQuarantined,
  assertRecovered,
  refusedAdvice,
  whilePrimaryDown,
} from '../../support/card-stand-in-checks.ts';
import {
  activeCard,
  DAY_MS,
  eventually,
  LIMITS,
  openSpool,
  request,
  type StandInBed,
  spoolDir,
  startStandInBed,
  stream,
} from '../../support/card-stand-in-fleet.ts';
import type { FleetFixture } from '../../support/fleet-fixture.ts';

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

  test('quarantine: only refusals count, a refused batch is split, the same first advice N times', () => {
    const refused = new MainstayError('invalid_request', 'advice 0 is invalid');
    const down = new MainstayError('primary_unavailable', 'no primary');
    assert.equal(rejectionOf(down), null);
    assert.equal(rejectionOf(new MainstayError('write_outcome_unknown', 'lost')), null);
    assert.equal(rejectionOf(Object.assign(new Error('reset'), { code: 'ECONNRESET' })), null);
    assert.equal(rejectionOf(Object.assign(new Error('x'), { code: '57P01' })), null);
    assert.equal(
      rejectionOf(Object.assign(new Error('x'), { code: '23514' }))?.code,
      'sqlstate_23514',
    );
    const tracker = new QuarantineTracker(2);
    assert.equal(tracker.batchSize(1, 200), 200);
    assert.deepEqual(tracker.failed(1, 'a', 3, refused), { action: 'isolate' });
    assert.equal(tracker.batchSize(1, 200), 1, 'the refused batch goes one advice at a time');
    assert.deepEqual(tracker.failed(1, 'a', 1, refused), { action: 'wait' });
    assert.deepEqual(tracker.failed(1, 'a', 1, down), { action: 'wait' }, 'not counted');
    const verdict = tracker.failed(1, 'a', 1, refused);
    assert.deepEqual(verdict, {
      action: 'quarantine',
      rejection: { code: 'invalid_request', message: 'advice 0 is invalid' },
      failureCount: 2,
    });
    tracker.quarantined(1);
    assert.deepEqual(tracker.failed(1, 'b', 1, refused), { action: 'wait' }, 'a new first: 1');
    tracker.succeeded(1, 2);
    assert.equal(tracker.batchSize(1, 200), 200, 'the failed batch is through');
    assert.deepEqual(tracker.failed(1, 'b', 1, refused), { action: 'wait' }, 'success resets');
    assert.throws(() => new QuarantineTracker(0), RangeError);
  });
});

let fixture: FleetFixture;
let router: Router;
let engine: AuthorizationEngine;
let accounts: CardAccountService;
let bed: StandInBed;

describe('stand-in processing on a real fleet with the real engine', () => {
  before(async () => {
    ({ fixture, bed } = await startStandInBed('cards-stand-in'));
    ({ router, engine, accounts } = bed);
  });
  after(async () => {
    await engine?.close().catch(() => undefined);
    await fixture?.stop();
  });

  test('capacity diversion: a deep issuer queue sends requests to stand-in while the primary is fine', async () => {
    const { accountId, cardIds } = await bed.accountWithCards('dc2', 10_000_000n, 2);
    const dir = spoolDir();
    // Nothing forwards until the test says so: every stand-in answer is still pending below.
    const processor = bed.startProcessor(await openSpool(dir), {
      queueDepthStandInMin: 1,
      forwarder: { forwardIntervalMs: 3_600_000 },
    });
    try {
      // Warm the card cache through the issuer.
      for (const cardId of cardIds) {
        const warm = await processor.authorizeWithToken(request(cardId, 'warm'));
        assert.equal(warm.value.decidedBy, 'issuer');
        assert.equal(warm.value.status, 'approved');
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
      assert.deepEqual(retry, { value: first, token: null, replayed: true });
      await assert.rejects(
        processor.authorize(request(first.cardId, first.requestId, { amount: 501n })),
        (error) => isMainstayError(error, 'idempotency_key_reused'),
      );
      await assertPendingReads(router, processor, first);
      const drained = await processor.forwardAll();
      assert.ok(
        drained.every((d) => d.error === null && d.remaining === 0),
        JSON.stringify(drained, (_, v) => (typeof v === 'bigint' ? `${v}` : v)),
      );
      assert.equal(processor.stats().forwardedCount, standIn.length);
      assert.equal(processor.stats().forwardedByResult.matched, standIn.length);
      const found = await bed.issuerAuthorizations(standIn);
      for (const o of standIn) {
        const row = found.get(`${o.cardId}:${o.requestId}`);
        assert.equal(row?.id, o.id, 'the issuer keeps the stand-in authorization id');
        assert.equal(row?.held, o.amount);
      }
      const credit = await bed.creditCheck(accountId);
      assert.equal(credit.held, credit.openHolds);
      assert.equal(credit.held, outcomes.reduce((sum, o) => sum + o.heldAmount, 0n) + 2_000n);
      // After forwarding, a retry reaches the issuer, which answers with the same authorization.
      const later = await processor.authorize(
        request(first.cardId, first.requestId, { amount: 500n }),
      );
      assert.equal(later.id, first.id);
      assert.equal(later.decidedBy, 'stand_in');
      // Stand-in stated the engine's hold TTL, so the issuer's hold expires when it said.
      assert.equal(later.holdExpiresAt, first.holdExpiresAt);
      const statedMs = Date.parse(first.holdExpiresAt ?? '') - Date.parse(first.createdAt);
      assert.equal(statedMs, engine.settings.holdTtlSeconds * 1_000);
      await assertAdviceList(processor, standIn);
    } finally {
      await processor.stop();
    }
  });

  test('capacity diversion by latency: over the p99 threshold requests stand in, one per interval still tries the issuer', async () => {
    const { cardIds } = await bed.accountWithCards('dc2', 10_000_000n, 1);
    const cardId = cardIds[0] as string;
    const dir = spoolDir();
    const processor = bed.startProcessor(await openSpool(dir), {
      latencyStandInMs: 0,
      probeIntervalMs: 3_600_000,
    });
    // The engine's latency window (5 s) must hold no batch of the tests before this one, so the
    // first request finds no p99 yet and goes to the issuer.
    await sleep(engine.settings.latencyWindowMs + 500);
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

  test('an issuer attempt that times out but commits: stand-in answers under the same id, the pair reconciles as a duplicate, held once', async () => {
    const { accountId, cardIds, shardId } = await bed.accountWithCards('dc2', 1_000_000n, 1);
    const cardId = cardIds[0] as string;
    const dir = spoolDir();
    // The engine closes a batch after 2 ms at the earliest: a 1 ms timeout always fires first.
    const processor = bed.startProcessor(await openSpool(dir), {
      issuerTimeoutMs: 1,
      forwarder: { forwardIntervalMs: 3_600_000 },
    });
    // The account's row is held locked until stand-in has answered, so the issuer's batch
    // commits only afterwards: stand-in finds no issuer answer on the replica and decides.
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const locked = new Promise<void>((resolve, reject) => {
      router
        .write(accountId, async (tx) => {
          await tx.query('SELECT 1 FROM public.card_accounts WHERE id = $1 FOR UPDATE', [
            accountId,
          ]);
          resolve();
          await released;
        })
        .catch(reject);
    });
    await locked;
    try {
      const answer = await processor.authorize(request(cardId, 'slow', { amount: 4_000n }));
      release();
      assert.deepEqual([answer.decidedBy, answer.status], ['stand_in', 'approved']);
      assert.equal(processor.stats().standInByTrigger.issuer_timeout, 1);
      await eventually(
        () => processor.lateIssuerAnswer({ cardId, requestId: 'slow' }) !== undefined,
        'the late issuer answer',
      );
      const late = processor.lateIssuerAnswer({ cardId, requestId: 'slow' });
      assert.equal(late?.status, 'approved', 'the issuer did commit its own decision');
      assert.equal(late?.id, answer.id, 'both paths name the one authorization of the request');
      assert.equal((await processor.forwardNow(shardId)).forwarded, 1);
      const [forwarded] = processor.queue.forwarded();
      assert.equal(forwarded?.result.result, 'duplicate_dropped');
      const credit = await bed.creditCheck(accountId);
      assert.equal(credit.held, 4_000n, 'held once, not twice');
      assert.equal(credit.held, credit.openHolds);
      const page = await processor.advices({ shardId, limit: 100 });
      const pair = page.data.find((a) => a.authorizationId === answer.id);
      assert.equal(pair?.result, 'duplicate_dropped', 'the ledger pairs the stand-in answer');
      assert.equal(pair?.issuerStatus, 'approved');
      // GET of the id answers with the one authorization, on the issuer's books once.
      const { token } = await engine.authorizeWithToken(request(cardId, 'token', { amount: 1n }));
      const resolved = await new AuthorizationService(router).getAuthorization(answer.id, token);
      assert.deepEqual(
        [resolved.id, resolved.decidedBy, resolved.heldAmount],
        [late?.id, 'issuer', 4_000n],
      );
    } finally {
      release();
      await processor.stop();
    }
  });

  test('the spool survives a process restart: reopened, it answers retries and forwards', async () => {
    const { accountId, cardIds } = await bed.accountWithCards('dc2', 10_000_000n, 1);
    const cardId = cardIds[0] as string;
    const dir = spoolDir();
    // Process 1 stands in for everything (queue threshold 0) and never forwards on its own.
    const first = bed.startProcessor(await openSpool(dir), {
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
    const second = bed.startProcessor(await openSpool(dir), {
      forwarder: { forwardIntervalMs: 3_600_000 },
    });
    try {
      assert.equal(second.stats().pendingAdvicesTotal, 6);
      assert.equal(second.rules.usage.usage(cardId, '5411', Date.now()).cardCount, 6);
      const retried = await second.authorize(request(cardId, 'restart-2', { amount: 700n }));
      assert.deepEqual(retried, decided[2]);
      assert.equal((await bed.creditCheck(accountId)).held, 0n, 'nothing held before forwarding');
      const [drain] = await Promise.all([second.forwardNow(router.map.shardOf(cardId))]);
      assert.equal(drain?.forwarded, 6);
      assert.equal(second.stats().pendingAdvicesTotal, 0);
      const credit = await bed.creditCheck(accountId);
      assert.equal(credit.held, 4_200n);
      assert.equal(credit.held, credit.openHolds);
      const again = await second.forwardNow(router.map.shardOf(cardId));
      assert.equal(again.forwarded, 0, 'nothing is forwarded twice');
    } finally {
      await second.stop();
    }
  });

  test('advices the issuer keeps refusing are quarantined after N rounds; the rest of the shard goes on', async () => {
    const home = await bed.accountWithCards('dc2', 10_000_000n, 1);
    const cardId = home.cardIds[0] as string;
    const movedCard = (await bed.accountWithCards('dc1', 1n, 1)).cardIds[0] as string;
    const { shardId } = home;
    const dir = spoolDir();
    const forwarder = { forwardIntervalMs: 3_600_000, quarantineFailureCountMax: 2 };
    const options = { queueDepthStandInMin: 0, forwarder };
    const processor = bed.startProcessor(await openSpool(dir), options);
    let reopened: StandInProcessor | undefined;
    try {
      const template = await processor.authorize(request(cardId, 'q-template'));
      // Malformed advices between good ones: a card on another shard (as if its shard had
      // moved since), and a decision time that is not a time.
      const bad = (r: AuthorizationRequest, fields: Partial<AuthorizationOutcome>) =>
        refusedAdvice(router, shardId, template, r, fields);
      const moved = bad(request(movedCard, 'q-moved'), {});
      await processor.queue.record(moved);
      const ok1 = await processor.authorize(request(cardId, 'q-ok-1'));
      const badTime = bad(request(cardId, 'q-bad-time'), { createdAt: 'not a time' });
      await processor.queue.record(badTime);
      const ok2 = await processor.authorize(request(cardId, 'q-ok-2'));
      const drains = [];
      for (let round = 0; round < 4; round += 1) drains.push(await processor.forwardNow(shardId));
      assert.deepEqual(
        drains.map((d) => [d.forwarded, d.quarantined, d.remaining, d.error === null]),
        [
          [1, 0, 4, false],
          [1, 1, 2, false],
          [1, 1, 0, true],
          [0, 0, 0, true],
        ],
        'the batch is split; each bad advice is refused twice, then moved out of the way',
      );
      assert.equal(processor.stats().quarantinedCount, 2);
      await assertQuarantined(processor, shardId, [moved, badTime], [template, ok1, ok2]);
      assert.equal((await bed.creditCheck(home.accountId)).held, 3_000n, 'nothing held for them');
      // A retry of a quarantined request gets the answer the network was given.
      assert.deepEqual(await processor.authorize(moved.request), moved.outcome);
      await processor.stop();
      reopened = bed.startProcessor(await openSpool(dir), options);
      assert.equal(reopened.queue.pendingCount(shardId), 0, 'acknowledged in the spool');
      // The dead letters are on the shard: the list is the same from a new process.
      await assertQuarantined(reopened, shardId, [moved, badTime], [template, ok1, ok2]);
    } finally {
      await processor.stop();
      await reopened?.stop();
    }
  });

  test('the primary killed during a stream: every request answered, approvals kept, advices forwarded once, credit consistent', async () => {
    const plenty = await bed.accountWithCards('dc1', 100_000_000n, 4);
    const tight = await bed.accountWithCards('dc1', 1_000n, 1);
    const [blockedCard, ...streamCards] = plenty.cardIds as [string, ...string[]];
    const tightCard = tight.cardIds[0] as string;
    const dir = spoolDir();
    const processor = bed.startProcessor(await openSpool(dir), {
      issuerTimeoutMs: 400,
      probeIntervalMs: 300,
      forwarder: { forwardIntervalMs: 200 },
    });
    // Stopped in `finally` too: a failed step must not leave the stream's loops running.
    const streams: ReturnType<typeof stream>[] = [];
    try {
      for (const cardId of [...plenty.cardIds, tightCard]) {
        const warm = await processor.authorize(request(cardId, 'warm', { amount: 1n }));
        assert.equal(warm.status, 'approved');
      }
      await accounts.blockCard(blockedCard, { idempotencyKey: `stand-in-block-${process.pid}` });
      const blockedByIssuer = await processor.authorize(request(blockedCard, 'after-block'));
      assert.equal(blockedByIssuer.status, 'card_blocked');
      const flow = stream(processor, streamCards, 4);
      streams.push(flow);
      await sleep(500);
      assert.ok(processor.stats().issuerDecisions > 5, 'the issuer decides before the failure');
      fixture.fleet.server('dc1-a')?.signalAll('SIGKILL');
      const killedAt = Date.now();
      await eventually(
        () => processor.stats().standInDecisions >= 30,
        'stand-in decisions',
        () =>
          JSON.stringify(
            { stats: processor.stats(), outcomes: flow.outcomes.length },
            (_, value) => (typeof value === 'bigint' ? value.toString() : value),
          ),
      );
      const tightOutcomes = await whilePrimaryDown(bed, processor, flow.outcomes, {
        tightCard,
        blockedCard,
        accountId: plenty.accountId,
      });
      // Past the engine's write wait: no issuer attempt of the outage can still commit.
      await sleep(Math.max(0, 2_500 - (Date.now() - killedAt)));
      assert.ok(processor.stats().lastForwardError, 'forwarding fails while the primary is down');
      await fixture.fleet.startServer('dc1-a');
      await bed.waitHealthy('dc1-a');
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
      assertRecovered(processor);
      await assertApprovalsKept(
        bed,
        processor,
        [...flow.outcomes, ...tightOutcomes],
        tightOutcomes,
      );
      await assertForwardedOnce(bed, processor, [plenty.accountId, tight.accountId]);
    } finally {
      const stopping = Promise.all(streams.map((running) => running.stop()));
      await processor.stop();
      await stopping;
    }
  });
});
