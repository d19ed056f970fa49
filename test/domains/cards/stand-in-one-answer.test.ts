import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AuthorizationService } from '../../../src/domains/cards/core/authorization/authorization-service.ts';
import type { AuthorizationOutcome } from '../../../src/domains/cards/core/authorization/authorization-types.ts';
import { toAuthorizationAdvice } from '../../../src/domains/cards/core/stand-in/stand-in-advice.ts';
import type { StandInProcessor } from '../../../src/domains/cards/core/stand-in/stand-in-processor.ts';
import {
  openStandInRegistry,
  type StandInRegistry,
} from '../../../src/domains/cards/store/stand-in-registry.ts';
import { CATALOG_DATABASE } from '../../../src/fleet/fleet.ts';
import {
  FLEET_LIMITS,
  openSpool,
  request,
  type StandInBed,
  spoolDir,
  startStandInBed,
} from '../../support/card-stand-in-fleet.ts';
import type { FleetFixture } from '../../support/fleet-fixture.ts';

/**
 * One request, one answer, whichever path and process decides it (decision 37), and stand-in
 * exposure bounded across API processes (decision 38). Each "process" is a processor with its
 * own spool and its own registry connection on the one fleet, as two API processes have.
 */
describe('stand-in across processes: one answer per request, shared exposure caps', () => {
  let fixture: FleetFixture;
  let bed: StandInBed;
  const registries: { registry: StandInRegistry; close: () => Promise<void> }[] = [];
  const processors: StandInProcessor[] = [];

  before(async () => {
    ({ fixture, bed } = await startStandInBed('stand-in-one-answer'));
  });
  after(async () => {
    for (const processor of processors) await processor.stop().catch(() => undefined);
    for (const registry of registries) await registry.close().catch(() => undefined);
    await bed?.engine.close().catch(() => undefined);
    await fixture?.stop();
  });

  /** A processor standing for one API process: its own spool and registry connection. */
  async function apiProcess(options: Parameters<StandInBed['startProcessor']>[1]) {
    const registry = await openStandInRegistry({
      ...fixture.fleet.connection(fixture.config.witness.id),
      database: CATALOG_DATABASE,
    });
    registries.push(registry);
    const processor = bed.startProcessor(await openSpool(spoolDir()), options, registry.registry);
    processors.push(processor);
    return processor;
  }

  /** Every request goes to stand-in (capacity diversion at queue depth 0); nothing forwards. */
  const ALL_STAND_IN = {
    queueDepthStandInMin: 0,
    forwarder: { forwardIntervalMs: 3_600_000 },
  };

  test('two processes standing in answer a request once, with one id', async () => {
    const { cardIds } = await bed.accountWithCards('dc1', 10_000_000n, 1);
    const cardId = cardIds[0] as string;
    const a = await apiProcess(ALL_STAND_IN);
    const b = await apiProcess(ALL_STAND_IN);
    // Warm both card caches through a replica read (stand-in decides from them).
    const first = await a.authorize(request(cardId, 'twice', { amount: 700n }));
    assert.deepEqual([first.decidedBy, first.status], ['stand_in', 'approved']);
    const second = await b.authorizeWithToken(request(cardId, 'twice', { amount: 700n }));
    assert.deepEqual(second.value, first, 'the second process gives the first answer');
    assert.equal(second.replayed, true);
    // Concurrent first attempts through both processes still agree.
    const together = await Promise.all([
      a.authorize(request(cardId, 'race', { amount: 800n })),
      b.authorize(request(cardId, 'race', { amount: 800n })),
    ]);
    assert.deepEqual(together[0], together[1]);
  });

  test('stand-in honours an answer the issuer acknowledged; the issuer honours stand-in answers', async () => {
    const { accountId, cardIds, shardId } = await bed.accountWithCards('dc1', 1_000n, 1);
    const cardId = cardIds[0] as string;
    const issuerSide = await apiProcess({
      forwarder: { forwardIntervalMs: 3_600_000 },
    });
    const standInSide = await apiProcess(ALL_STAND_IN);
    // The issuer declines (over the limit); a retry decided in stand-in must not approve it.
    const declined = await issuerSide.authorize(request(cardId, 'over', { amount: 5_000n }));
    assert.deepEqual([declined.decidedBy, declined.status], ['issuer', 'insufficient_credit']);
    const retried = await standInSide.authorize(request(cardId, 'over', { amount: 5_000n }));
    assert.deepEqual(retried, declined, 'the issuer answer is the answer');
    // Stand-in approves a request; the issuer path of another process gives that answer back
    // (before any forwarding), and its id reads and captures there.
    const promised = await standInSide.authorize(request(cardId, 'promised', { amount: 400n }));
    assert.deepEqual([promised.decidedBy, promised.status], ['stand_in', 'approved']);
    const again = await issuerSide.authorize(request(cardId, 'promised', { amount: 400n }));
    assert.deepEqual(again, promised, 'no second decision on the issuer path');
    const service = new AuthorizationService(bed.router, {
      standIn: issuerSide,
      engine: bed.engine,
    });
    const read = await service.getAuthorization(promised.id);
    assert.deepEqual([read.id, read.status], [promised.id, 'approved']);
    const captured = await service.capture(promised.id, 150n, {
      idempotencyKey: `cap-${promised.id}`,
    });
    assert.deepEqual([captured.value.id, captured.value.capturedAmount], [promised.id, 150n]);
    const credit = await bed.creditCheck(accountId);
    assert.deepEqual([credit.held, credit.posted], [250n, 150n], 'held and posted once');
    // The stand-in side's own forwarding later finds it applied: nothing changes.
    await standInSide.forwardNow(shardId);
    assert.deepEqual(await bed.creditCheck(accountId), credit);
  });

  test('reconciliation keeps the answer stand-in gave, unless the issuer hold was moved, and lists the conflict', async () => {
    const { accountId, cardIds, shardId } = await bed.accountWithCards('dc1', 10_000n, 1);
    const cardId = cardIds[0] as string;
    const issuerSide = await apiProcess({ forwarder: { forwardIntervalMs: 3_600_000 } });
    // Advices for requests the issuer decided otherwise: what a stand-in decision looks like
    // when an issuer attempt that had timed out here commits later.
    const adviceOf = (issued: AuthorizationOutcome, fields: Partial<AuthorizationOutcome>) => ({
      adviceId: `${cardId}:${issued.requestId}`,
      shardId,
      request: request(cardId, issued.requestId, { amount: issued.amount }),
      outcome: { ...issued, ...fields, decidedBy: 'stand_in' as const },
      reason: 'test',
    });
    const declined = await issuerSide.authorize(request(cardId, 'over', { amount: 20_000n }));
    assert.deepEqual([declined.decidedBy, declined.status], ['issuer', 'insufficient_credit']);
    const approved = await issuerSide.authorize(request(cardId, 'within', { amount: 3_000n }));
    assert.deepEqual([approved.decidedBy, approved.status], ['issuer', 'approved']);
    const captured = await issuerSide.authorize(request(cardId, 'moved', { amount: 1_000n }));
    const service = new AuthorizationService(bed.router, { engine: bed.engine });
    await service.capture(captured.id, 400n, { idempotencyKey: `cap-${captured.id}` });
    const advices = [
      adviceOf(declined, { status: 'approved', responseCode: '00', heldAmount: 20_000n }),
      adviceOf(approved, { status: 'stand_in_limit_exceeded', responseCode: '61', heldAmount: 0n }),
      adviceOf(captured, { status: 'stand_in_limit_exceeded', responseCode: '61', heldAmount: 0n }),
    ].map(toAuthorizationAdvice);
    const results = await bed.engine.applyAdvices(shardId, advices);
    assert.deepEqual(
      results.map((r) => r.result),
      ['answer_conflict', 'answer_conflict', 'answer_conflict'],
    );
    const { token } = await bed.engine.authorizeWithToken(request(cardId, 'token', { amount: 1n }));
    const kept = await service.getAuthorization(declined.id, token);
    assert.deepEqual(
      [kept.id, kept.status, kept.decidedBy, kept.issuerStatus, kept.heldAmount],
      [declined.id, 'approved', 'stand_in', 'insufficient_credit', 20_000n],
      'the stand-in approval the client received is the book entry',
    );
    const released = await service.getAuthorization(approved.id, token);
    assert.deepEqual(
      [released.id, released.status, released.decidedBy, released.heldAmount],
      [approved.id, 'stand_in_limit_exceeded', 'stand_in', 0n],
      "the stand-in decline the client received is the book entry: the issuer's hold is released",
    );
    const stands = await service.getAuthorization(captured.id, token);
    assert.deepEqual(
      [stands.status, stands.decidedBy, stands.capturedAmount],
      ['approved', 'issuer', 400n],
      'a hold someone already moved stays',
    );
    const credit = await bed.creditCheck(accountId);
    assert.deepEqual([credit.held, credit.posted], [20_600n, 400n]);
    const { value } = await bed.router.readShard(
      shardId,
      (db) =>
        db.query<{ authorization_id: string; resolution: string }>(
          `SELECT authorization_id, resolution FROM public.stand_in_conflicts
            WHERE authorization_id = ANY ($1) ORDER BY resolution`,
          [[declined.id, approved.id, captured.id]],
        ),
      { consistency: 'primary' },
    );
    assert.deepEqual(
      [...value.rows].sort((a, b) => a.authorization_id.localeCompare(b.authorization_id)),
      [
        { authorization_id: captured.id, resolution: 'issuer_answer_kept' },
        { authorization_id: approved.id, resolution: 'stand_in_answer_kept' },
        { authorization_id: declined.id, resolution: 'stand_in_answer_kept' },
      ].sort((a, b) => a.authorization_id.localeCompare(b.authorization_id)),
    );
    // Applying them again changes nothing.
    const again = await bed.engine.applyAdvices(shardId, advices);
    assert.deepEqual(
      again.map((r) => r.result),
      ['duplicate_dropped', 'duplicate_dropped', 'duplicate_dropped'],
    );
    assert.deepEqual(await bed.creditCheck(accountId), credit);
  });

  test('the stand-in exposure cap holds across processes: books stay within limit plus cap', async () => {
    const limit = 1_000n;
    const cap = 5_000n;
    const { accountId, cardIds, shardId } = await bed.accountWithCards('dc1', limit, 2);
    const limits = { ...FLEET_LIMITS, accountExposureMax: cap, cardExposureMax: 4_000n };
    const a = await apiProcess({ ...ALL_STAND_IN, limits });
    const b = await apiProcess({ ...ALL_STAND_IN, limits });
    const outcomes = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        (i % 2 === 0 ? a : b).authorize(
          request(cardIds[i % 4 < 2 ? 0 : 1] as string, `cap-${i}`, { amount: 1_000n }),
        ),
      ),
    );
    const approved = outcomes.filter((o) => o.status === 'approved');
    assert.equal(
      approved.length,
      5,
      `five approvals of 1,000 fill the 5,000 cap: ${outcomes.map((o) => o.status)}`,
    );
    assert.ok(
      outcomes.every((o) => o.status === 'approved' || o.status === 'stand_in_limit_exceeded'),
    );
    await a.forwardNow(shardId);
    await b.forwardNow(shardId);
    // Applied: the books overshoot the limit by 4,000; one more 1,000 fits the cap, then none.
    const more = await a.authorize(request(cardIds[1] as string, 'cap-more-1', { amount: 1_000n }));
    const most = await b.authorize(request(cardIds[1] as string, 'cap-more-2', { amount: 1_000n }));
    assert.deepEqual([more.status, most.status], ['approved', 'stand_in_limit_exceeded']);
    await a.forwardNow(shardId);
    const credit = await bed.creditCheck(accountId);
    assert.ok(
      credit.held + credit.posted <= limit + cap,
      `books ${credit.held} within ${limit + cap}`,
    );
    assert.equal(credit.held, 6_000n);
  });
});
