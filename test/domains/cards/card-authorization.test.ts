import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { newEntityId, taggedBucket } from '../../../src/data/entity-id.ts';
import { IDEMPOTENCY_MIGRATIONS } from '../../../src/data/idempotency.ts';
import type { Router } from '../../../src/data/router.ts';
import { CardAccountService } from '../../../src/domains/cards/core/accounts/card-account-service.ts';
import type { Card } from '../../../src/domains/cards/core/accounts/card-account-types.ts';
import { AuthorizationEngine } from '../../../src/domains/cards/core/authorization/authorization-engine.ts';
import { AuthorizationService } from '../../../src/domains/cards/core/authorization/authorization-service.ts';
import {
  AUTHORIZATION_STATUSES,
  type AuthorizationAdvice,
  type AuthorizationRequest,
} from '../../../src/domains/cards/core/authorization/authorization-types.ts';
import { HoldSweeper } from '../../../src/domains/cards/core/authorization/hold-sweeper.ts';
import { luhnValid as isLuhnValid } from '../../../src/domains/cards/core/card-number.ts';
import { AUTHORIZATION_MIGRATIONS } from '../../../src/domains/cards/sql/authorization-migrations.ts';
import { CARD_ACCOUNT_MIGRATIONS } from '../../../src/domains/cards/sql/card-account-migrations.ts';
import { isMainstayError } from '../../../src/errors/mainstay-error.ts';
import {
  cardAuthorizationHelpers,
  checkBatchedMoves,
  checkMoveErrorsInOneBatch,
  checkMoveIdempotency,
  checkMoveRace,
  checkTwoEnginesWithMoves,
  type HoldMoveBed,
  rejection,
  request,
} from '../../support/card-authorization-helpers.ts';
import { type FleetFixture, startFleet } from '../../support/fleet-fixture.ts';
import { OneTransactionAuthorizer } from '../../support/oracle/one-transaction-authorizer.ts';

type Helpers = ReturnType<typeof cardAuthorizationHelpers>;

let fixture: FleetFixture;
let router: Router;
let otherRouter: Router;
let accounts: CardAccountService;
let engine: AuthorizationEngine;
let oracle: OneTransactionAuthorizer;
let viaEngine: AuthorizationService;
let bed: HoldMoveBed;

let openAccount: Helpers['openAccount'];
let issue: Helpers['issue'];
let onPrimary: Helpers['onPrimary'];
let balances: Helpers['balances'];
let authorizationOnPrimary: Helpers['authorizationOnPrimary'];
let available: Helpers['available'];

describe('card accounts and the authorization engine', () => {
  before(async () => {
    fixture = await startFleet('cards-auth', {}, [
      IDEMPOTENCY_MIGRATIONS,
      CARD_ACCOUNT_MIGRATIONS,
      AUTHORIZATION_MIGRATIONS,
    ]);
    router = await fixture.router();
    otherRouter = await fixture.router();
    accounts = new CardAccountService(router);
    engine = new AuthorizationEngine(router, { holdTtlSeconds: 3_600 });
    oracle = new OneTransactionAuthorizer(router, { holdTtlSeconds: 3_600 });
    viaEngine = new AuthorizationService(router, { engine });
    bed = { router, otherRouter, accounts, engine, viaEngine, direct: oracle };
    ({ openAccount, issue, onPrimary, balances, authorizationOnPrimary, available } =
      cardAuthorizationHelpers(router, accounts));
  });
  after(async () => {
    await engine?.close();
    await fixture?.stop();
  });

  test('accounts and cards: idempotent writes, cards in the account bucket, no card number at rest', async () => {
    const key = randomUUID();
    const first = await accounts.createAccount(
      { currency: 'CNY', creditLimit: 50_000n },
      { idempotencyKey: key },
    );
    const again = await accounts.createAccount(
      { currency: 'CNY', creditLimit: 50_000n },
      { idempotencyKey: key },
    );
    assert.equal(again.value.id, first.value.id);
    assert.equal(again.replayed, true);
    assert.equal(first.value.availableCredit, 50_000n);
    assert.equal(
      await rejection(
        accounts.createAccount({ currency: 'CNY', creditLimit: 1n }, { idempotencyKey: key }),
      ),
      'idempotency_key_reused',
    );
    assert.equal(
      await rejection(
        accounts.createAccount(
          { currency: 'XXX', creditLimit: 1n },
          { idempotencyKey: randomUUID() },
        ),
      ),
      'currency_unsupported',
    );
    assert.equal(
      await rejection(
        accounts.createAccount(
          { currency: 'CNY', creditLimit: -1n },
          { idempotencyKey: randomUUID() },
        ),
      ),
      'invalid_amount',
    );
    const issued = await accounts.issueCard(
      first.value.id,
      { brand: 'mastercard' },
      { idempotencyKey: randomUUID() },
    );
    const card = issued.value;
    assert.equal(taggedBucket(card.id), taggedBucket(first.value.id));
    assert.match(card.last4, /^[0-9]{4}$/);
    assert.equal(card.status, 'active');
    assert.deepEqual(await accounts.getCard(card.id, issued.token), card);
    const stored = await onPrimary<{ row: string }>(
      card.id,
      'SELECT row_to_json(c)::text AS row FROM public.cards c WHERE id = $1',
      [card.id],
    );
    assert.doesNotMatch(stored[0]?.row ?? '', /[0-9]{12,}/, 'no card number in the cards row');
    const keys = await onPrimary<{ response: string }>(
      card.id,
      "SELECT response::text AS response FROM public.idempotency_keys WHERE scope = 'card_issue'",
      [],
    );
    for (const { response } of keys) assert.doesNotMatch(response, /[0-9]{12,}/);
    const blockKey = randomUUID();
    assert.equal(
      (await accounts.blockCard(card.id, { idempotencyKey: blockKey })).value.status,
      'blocked',
    );
    assert.equal((await accounts.blockCard(card.id, { idempotencyKey: blockKey })).replayed, true);
    const unblocked = await accounts.unblockCard(card.id, { idempotencyKey: randomUUID() });
    assert.equal((await accounts.getCard(card.id, unblocked.token)).status, 'active');
    assert.equal(await rejection(accounts.getCard(newEntityId('card', 0))), 'resource_not_found');
    assert.ok(isLuhnValid('4111111111111111') && !isLuhnValid('4111111111111112'));
  });

  test('every issuer status, with its ISO 8583 code', async () => {
    const account = await openAccount(10_000n);
    const card = await issue(account, { velocityCountMax: 3 });
    const check = async (req: AuthorizationRequest, status: string) => {
      const outcome = await engine.authorize(req);
      assert.equal(outcome.status, status, `${req.requestId}: ${outcome.status}`);
      assert.equal(outcome.responseCode, AUTHORIZATION_STATUSES[outcome.status]);
      return outcome;
    };
    const approved = await check(request(card, 4_000n, { merchantReference: 'ref-1' }), 'approved');
    assert.equal(approved.decidedBy, 'issuer');
    assert.equal(approved.heldAmount, 4_000n);
    assert.equal(approved.holdState, 'open');
    assert.equal(approved.accountId, account.id);
    assert.equal(taggedBucket(approved.id), taggedBucket(card.id));
    await check(request(card, 4_000n, { merchantReference: 'ref-1' }), 'duplicate');
    await check(request(card, 7_000n), 'insufficient_credit');
    await check(request(card, 100n, { currency: 'USD' }), 'currency_mismatch');
    await check(request(card, 0n), 'invalid_amount');
    await check(request(newEntityId('card', taggedBucket(card.id) ?? 0), 10n), 'unknown_card');
    await check(request(card, 1_000n), 'approved');
    await check(request(card, 1_000n), 'approved');
    await check(request(card, 1_000n), 'velocity_exceeded');
    // A card is never issued already expired (card_expiry_invalid): one whose expiry has since
    // passed is made by moving its expiry back on the primary.
    const expired = await issue(account);
    await router.write(expired.id, (tx) =>
      tx.query('UPDATE public.cards SET expiry_month = 1, expiry_year = 2020 WHERE id = $1', [
        expired.id,
      ]),
    );
    await check(request(expired, 10n), 'card_expired');
    const blocked = await issue(account);
    await accounts.blockCard(blocked.id, { idempotencyKey: randomUUID() });
    await check(request(blocked, 10n), 'card_blocked');
    await accounts.closeAccount(account.id, { idempotencyKey: randomUUID() });
    await check(request(blocked, 10n), 'account_closed');
    assert.equal(await rejection(issue(account)), 'state_conflict');
    assert.equal((await balances(account)).held, 6_000n);
  });

  for (const path of ['direct', 'engine'] as const) {
    test(`partial captures and reversals move credit exactly; wrong amounts and states are errors (${path})`, async () => {
      const authorizations = path === 'engine' ? viaEngine : bed.direct;
      const reads = viaEngine;
      const account = await openAccount(10_000n);
      const card = await issue(account);
      const auth = await engine.authorize(request(card, 6_000n));
      assert.equal(await available(account), 4_000n);
      const key = randomUUID();
      const first = await authorizations.capture(auth.id, 2_000n, { idempotencyKey: key });
      assert.equal(first.value.capturedAmount, 2_000n);
      assert.equal(first.value.heldAmount, 4_000n);
      assert.equal(await available(account), 4_000n);
      const replay = await authorizations.capture(auth.id, 2_000n, { idempotencyKey: key });
      assert.equal(replay.replayed, true);
      assert.equal(replay.value.heldAmount, 4_000n);
      assert.equal(
        await rejection(authorizations.capture(auth.id, 1n, { idempotencyKey: key })),
        'idempotency_key_reused',
      );
      await authorizations.capture(auth.id, 1_000n, { idempotencyKey: randomUUID() });
      const reversed = await authorizations.reverse(auth.id, 1_000n, {
        idempotencyKey: randomUUID(),
      });
      assert.equal(reversed.value.heldAmount, 2_000n);
      assert.equal(reversed.value.reversedAmount, 1_000n);
      const afterReverse = await accounts.getAccount(account.id, reversed.token);
      assert.equal(afterReverse.heldAmount, 2_000n);
      assert.equal(afterReverse.postedAmount, 3_000n);
      assert.equal(afterReverse.availableCredit, 5_000n);
      assert.equal(
        await rejection(authorizations.capture(auth.id, 2_001n, { idempotencyKey: randomUUID() })),
        'invalid_amount',
      );
      assert.equal(
        await rejection(authorizations.capture(auth.id, 0n, { idempotencyKey: randomUUID() })),
        'invalid_amount',
      );
      const closed = await authorizations.capture(auth.id, null, { idempotencyKey: randomUUID() });
      assert.equal(closed.value.holdState, 'closed');
      assert.equal(closed.value.capturedAmount, 5_000n);
      assert.equal(await available(account), 5_000n);
      assert.equal(
        await rejection(authorizations.reverse(auth.id, 1n, { idempotencyKey: randomUUID() })),
        'state_conflict',
      );
      const declined = await engine.authorize(request(card, 1_000_000n));
      assert.equal(declined.status, 'insufficient_credit');
      assert.equal(
        await rejection(authorizations.capture(declined.id, 1n, { idempotencyKey: randomUUID() })),
        'state_conflict',
      );
      const full = await engine.authorize(request(card, 500n));
      const released = await authorizations.reverse(full.id, null, {
        idempotencyKey: randomUUID(),
      });
      assert.equal(released.value.holdState, 'closed');
      assert.equal(await available(account), 5_000n);
      assert.deepEqual(await reads.getAuthorization(full.id, released.token), released.value);
      assert.equal(
        await rejection(reads.getAuthorization(newEntityId('auth', 1))),
        'resource_not_found',
      );
    });
  }

  test('a lapsed hold is released by the sweeper', async () => {
    const shortHolds = new AuthorizationEngine(router, { holdTtlSeconds: 5 });
    const sweeper = new HoldSweeper(router, { batchSizeMax: 2 });
    const account = await openAccount(10_000n);
    const card = await issue(account);
    const held = await Promise.all(
      [1, 2, 3].map(() => shortHolds.authorize(request(card, 1_000n))),
    );
    const captured = await viaEngine.capture(held[0]?.id ?? '', 400n, {
      idempotencyKey: randomUUID(),
    });
    assert.equal(await available(account), 7_000n);
    await shortHolds.close();
    // Ten seconds ahead: past these 5 s holds, far before the other tests' hour-long ones.
    assert.equal(await sweeper.expireHolds(new Date(Date.now() + 10_000)), 3);
    assert.deepEqual(await balances(account), { held: 0n, posted: 400n });
    assert.equal(await available(account), 9_600n);
    assert.equal(captured.value.heldAmount, 600n);
    const lapsed = await authorizationOnPrimary(captured.value.id);
    assert.equal(lapsed.holdState, 'expired');
    assert.equal(lapsed.heldAmount, 0n);
    assert.equal(
      await rejection(viaEngine.capture(lapsed.id, 1n, { idempotencyKey: randomUUID() })),
      'state_conflict',
    );
    await sweeper.stop();
  });

  test('retries return the first outcome; a reused request id fails that request alone', async () => {
    const account = await openAccount(10_000n);
    const card = await issue(account);
    const req = request(card, 3_000n);
    const first = await engine.authorize(req);
    const retry = await engine.authorizeWithToken({ ...req });
    assert.deepEqual(retry.value, first);
    assert.equal(retry.replayed, true);
    const other = request(card, 1_000n);
    const settled = await Promise.allSettled([
      engine.authorize({ ...req, amount: 3_001n }),
      engine.authorize(other),
      engine.authorize(other),
      engine.authorize({ ...other, merchantId: 'mch_2' }),
    ]);
    assert.equal(settled[0]?.status, 'rejected');
    assert.ok(
      settled[0]?.status === 'rejected' &&
        isMainstayError(settled[0].reason, 'idempotency_key_reused'),
    );
    assert.ok(settled[1]?.status === 'fulfilled' && settled[2]?.status === 'fulfilled');
    assert.equal(settled[1].value.id, settled[2].value.id);
    assert.ok(
      settled[3]?.status === 'rejected' &&
        isMainstayError(settled[3].reason, 'idempotency_key_reused'),
    );
    assert.equal(await available(account), 6_000n, 'one hold per request id');
  });

  test('concurrent authorizations on one card never overspend, from one engine or two', async () => {
    for (const twoEngines of [false, true]) {
      const account = await openAccount(100_000n);
      const card = await issue(account, { velocityCountMax: 10_000 });
      const second = twoEngines ? new AuthorizationEngine(otherRouter) : engine;
      const callers = Array.from({ length: 64 }, async (_, caller) => {
        const outcomes = [];
        for (let round = 0; round < 3; round += 1) {
          const via = caller % 2 === 0 ? engine : second;
          outcomes.push(await via.authorize(request(card, 1_000n)));
        }
        return outcomes;
      });
      const outcomes = (await Promise.all(callers)).flat();
      const approved = outcomes.filter((outcome) => outcome.status === 'approved');
      assert.equal(approved.length, 100, `exactly the limit's worth (two engines: ${twoEngines})`);
      assert.equal(outcomes.length - approved.length, 92);
      assert.ok(outcomes.every((o) => ['approved', 'insufficient_credit'].includes(o.status)));
      const [sums] = await onPrimary<{ held: string; holds: string; credit_limit: string }>(
        account.id,
        `SELECT a.held::text, a.credit_limit::text,
                (SELECT sum(held_amount) FROM public.authorizations WHERE account_id = a.id)::text AS holds
           FROM public.card_accounts a WHERE a.id = $1`,
        [account.id],
      );
      assert.equal(sums?.held, '100000');
      assert.equal(sums?.holds, '100000');
      if (twoEngines) await second.close();
    }
  });

  test('a hot account is served by few batches, and a full queue refuses at once', async () => {
    const account = await openAccount(10_000_000n);
    const card = await issue(account, { velocityCountMax: 10_000 });
    const before = engine.stats;
    const answers = await Promise.all(
      Array.from({ length: 300 }, () => engine.authorizeWithToken(request(card, 100n))),
    );
    const outcomes = answers.map((answer) => answer.value);
    assert.ok(outcomes.every((outcome) => outcome.status === 'approved'));
    const after = engine.stats;
    assert.equal(after.requests - before.requests, 300);
    assert.ok(after.batches - before.batches <= 10, `${after.batches - before.batches} batches`);
    assert.ok(after.batchSizeMax >= 30);
    const token = router.mergeTokens(...answers.map((answer) => answer.token));
    assert.equal((await accounts.getAccount(account.id, token)).heldAmount, 30_000n);
    const shardId = router.map.shardOf(card.id);
    assert.ok(engine.latency(shardId).sampleCount > 0);
    assert.equal(engine.queueDepth(shardId), 0);

    const small = new AuthorizationEngine(router, { queueDepthMax: 5, batchWindowMicros: 200_000 });
    const settled = await Promise.allSettled(
      Array.from({ length: 8 }, () => small.authorize(request(card, 100n))),
    );
    const refused = settled.filter(
      (s) => s.status === 'rejected' && isMainstayError(s.reason, 'overloaded'),
    );
    assert.equal(refused.length, 3);
    assert.equal(settled.filter((s) => s.status === 'fulfilled').length, 5);
    assert.equal(small.stats.batches, 1, 'the five queued requests went out in one batch');
    await small.close();
    assert.equal(await rejection(small.authorize(request(card, 1n))), 'service_unavailable');
  });

  test('stand-in advices: matched, exposure, declined, duplicate; idempotent re-application', async () => {
    const account = await openAccount(10_000n);
    const card = await issue(account);
    const blocked = await issue(account);
    await accounts.blockCard(blocked.id, { idempotencyKey: randomUUID() });
    const shardId = router.map.shardOf(card.id);
    const issuerDecided = await engine.authorize(request(card, 100n));
    const advice = (
      target: Card,
      amount: bigint,
      standInStatus: AuthorizationAdvice['standInStatus'],
      requestId: string = randomUUID(),
    ): AuthorizationAdvice => ({
      ...request(target, amount),
      requestId,
      authorizationId: newEntityId('auth', taggedBucket(target.id) ?? 0),
      standInStatus,
      decidedAt: new Date(Date.now() - 60_000).toISOString(),
    });
    const advices = [
      advice(card, 3_000n, 'approved'),
      advice(card, 8_000n, 'approved'),
      advice(blocked, 500n, 'approved'),
      advice(card, 200n, 'stand_in_limit_exceeded'),
      advice(card, 100n, 'approved', issuerDecided.requestId),
    ];
    const results = await engine.applyAdvices(shardId, advices);
    assert.deepEqual(
      results.map((r) => [r.result, r.issuerStatus, r.exposure]),
      [
        ['matched', 'approved', 0n],
        ['exposure', 'insufficient_credit', 8_000n - 6_900n],
        ['exposure', 'card_blocked', 500n],
        ['declined_recorded', 'insufficient_credit', 0n],
        ['duplicate_dropped', 'approved', 0n],
      ],
    );
    const afterFirst = await balances(account);
    assert.equal(afterFirst.held, 100n + 3_000n + 8_000n + 500n);
    assert.equal(await available(account), 10_000n - 11_600n);
    const matched = await authorizationOnPrimary(advices[0]?.authorizationId ?? '');
    assert.equal(matched.decidedBy, 'stand_in');
    assert.equal(matched.holdState, 'open');
    const exposed = await authorizationOnPrimary(advices[1]?.authorizationId ?? '');
    assert.equal(exposed.issuerStatus, 'insufficient_credit');
    assert.equal(exposed.exposureAmount, 1_100n);
    const declined = await authorizationOnPrimary(advices[3]?.authorizationId ?? '');
    assert.equal(declined.status, 'stand_in_limit_exceeded');
    assert.equal(declined.holdState, 'none');
    const report = await engine.reconciliationReport(shardId);
    const again = await engine.applyAdvices(shardId, advices);
    assert.ok(again.every((r) => r.result === 'duplicate_dropped' && r.exposure === 0n));
    assert.deepEqual(await engine.reconciliationReport(shardId), report);
    assert.equal((await balances(account)).held, afterFirst.held);
    assert.equal(report.counts.matched, 1);
    assert.equal(report.counts.exposure, 2);
    assert.equal(report.counts.declined_recorded, 1);
    assert.equal(report.counts.duplicate_dropped, 1);
    assert.equal(report.totalExposure, 1_600n);
    assert.equal(report.exposureByCurrency.CNY, 1_600n);
    const quarantined = advice(card, 5n, 'approved');
    const entry = { advice: quarantined, errorCode: 'invalid_request', errorMessage: 'bad' };
    await engine.quarantineAdvice(shardId, { ...entry, failureCount: 3 });
    await engine.quarantineAdvice(shardId, { ...entry, failureCount: 4 });
    assert.equal((await engine.reconciliationReport(shardId)).quarantined, 1, 'kept once');
    const latest = await engine.authorizeWithToken(request(card, 1n));
    assert.equal(latest.value.status, 'insufficient_credit');
    // GET of a stand-in id the issuer had decided itself: the issuer's authorization, its id.
    const dropped = await viaEngine.getAuthorization(
      advices[4]?.authorizationId ?? '',
      latest.token,
    );
    assert.deepEqual(dropped, await authorizationOnPrimary(issuerDecided.id));
    await assert.rejects(
      viaEngine.getAuthorization(quarantined.authorizationId, latest.token),
      (error) => isMainstayError(error, 'resource_not_found') && /quarantined/.test(error.message),
    );
    assert.equal(
      await rejection(
        engine.applyAdvices(shardId, [
          { ...advice(card, 1n, 'approved'), authorizationId: 'auth_bad' },
        ]),
      ),
      'invalid_request',
    );
  });

  test('bad input is declined or refused and writes nothing', async () => {
    const account = await openAccount(10_000n);
    const card = await issue(account);
    const bad: AuthorizationRequest[] = [
      request(card, 0n),
      request(card, -5n),
      request(card, 2n ** 53n),
      request(card, 1_000 as unknown as bigint),
    ];
    for (const req of bad) assert.equal((await engine.authorize(req)).status, 'invalid_amount');
    const accountId = account.id;
    const unknownIds = [
      'card_xyz',
      accountId,
      '',
      'card_'.padEnd(40, 'Z'),
      newEntityId('card', 32 ** 4 - 1),
    ];
    const unknown = unknownIds.map((cardId) => request(cardId, 10n));
    for (const req of unknown) {
      const outcome = await engine.authorize(req);
      assert.equal(outcome.status, 'unknown_card');
      assert.equal(outcome.responseCode, '14');
    }
    assert.equal(
      await rejection(engine.authorize({ ...request(card, 10n), requestId: '' })),
      'invalid_request',
    );
    assert.equal(
      await rejection(engine.authorize({ ...request(card, 10n), merchantCategory: '54' })),
      'invalid_request',
    );
    const ids = [...bad, ...unknown].map((req) => req.requestId);
    for (const shardId of router.map.shardIds) {
      const { value } = await router.readShard(
        shardId,
        (db) =>
          db.query<{ n: number }>(
            'SELECT count(*)::int AS n FROM public.authorizations WHERE request_id = ANY($1)',
            [ids],
          ),
        { consistency: 'primary' },
      );
      assert.equal(value.rows[0]?.n, 0);
    }
    assert.equal(await available(account), 10_000n);
  });

  test('batched moves: captures and reversals of one hot account in few batches add up exactly', () =>
    checkBatchedMoves(bed));

  test('a capture and a reversal racing on one hold: exactly one wins what remains', () =>
    checkMoveRace(bed));

  test('a move key: replayed whichever path wrote it, refused for another request', () =>
    checkMoveIdempotency(bed));

  test('failed moves fail alone; the rest of their batch is applied', () =>
    checkMoveErrorsInOneBatch(bed));

  test('two engines authorizing and moving holds beside the sweeper: no deadlock, no overspend', () =>
    checkTwoEnginesWithMoves(bed));
});
