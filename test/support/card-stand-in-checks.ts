import assert from 'node:assert/strict';
import { newEntityId } from '../../src/data/entity-id.ts';
import type { Router } from '../../src/data/router.ts';
import { AuthorizationService } from '../../src/domains/cards/core/authorization/authorization-service.ts';
import type {
  AuthorizationOutcome,
  AuthorizationRequest,
} from '../../src/domains/cards/core/authorization/authorization-types.ts';
import {
  adviceIdOf,
  type StandInAdvice,
  toAuthorizationAdvice,
} from '../../src/domains/cards/core/stand-in/stand-in-advice.ts';
import type { StandInProcessor } from '../../src/domains/cards/core/stand-in/stand-in-processor.ts';
import { isMainstayError } from '../../src/errors/mainstay-error.ts';
import { request, type StandInBed } from './card-stand-in-fleet.ts';

/** The advice list of the capacity test: complete, forwarded, paged, and its bad queries. */
export async function assertAdviceList(
  processor: StandInProcessor,
  standIn: readonly AuthorizationOutcome[],
): Promise<void> {
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
}

/**
 * Reads of a stand-in id whose advice is pending: answered when the service is given the
 * processor; a 404 without it. (A capture of such an id puts the decision on the issuer's
 * books first: test/stand-in-one-answer.test.ts.)
 */
export async function assertPendingReads(
  router: Router,
  processor: StandInProcessor,
  pending: AuthorizationOutcome,
): Promise<void> {
  const reads = new AuthorizationService(router, { standIn: processor });
  assert.deepEqual(await reads.getAuthorization(pending.id), pending);
  await assert.rejects(new AuthorizationService(router).getAuthorization(pending.id), (e) =>
    isMainstayError(e, 'resource_not_found'),
  );
}

/** A hand-made advice on `shardId` from a stand-in outcome (`fields` make it malformed). */
export function refusedAdvice(
  router: Router,
  shardId: number,
  template: AuthorizationOutcome,
  request: AuthorizationRequest,
  fields: Partial<AuthorizationOutcome>,
): StandInAdvice {
  const id = newEntityId('auth', router.map.bucketOf(request.cardId));
  const { cardId, requestId } = request;
  const outcome = { ...template, ...fields, id, cardId, requestId };
  return { adviceId: adviceIdOf(request), shardId, request, outcome, reason: 'test' };
}

/** `bad` are listed quarantined (refused twice), `good` forwarded, the report counts `bad`. */
export async function assertQuarantined(
  processor: StandInProcessor,
  shardId: number,
  bad: readonly StandInAdvice[],
  good: readonly AuthorizationOutcome[],
): Promise<void> {
  const listed = (await processor.advices({ shardId, limit: 100 })).data;
  const view = (id: string) => listed.find((a) => a.authorizationId === id);
  for (const { outcome } of bad) {
    assert.equal(view(outcome.id)?.state, 'quarantined');
    const quarantine = view(outcome.id)?.quarantine;
    assert.deepEqual([quarantine?.errorCode, quarantine?.failureCount], ['invalid_request', 2]);
  }
  for (const o of good) assert.equal(view(o.id)?.result, 'matched');
  const report = await processor.reconciliationReport();
  const shard = report.shards.find((s) => s.shardId === shardId);
  assert.equal(shard?.quarantinedAdvices, bad.length);
}

/** After the outage: both stand-in paths were taken, forwarding clean, every circuit closed. */
export function assertRecovered(processor: StandInProcessor): void {
  const stats = processor.stats();
  assert.ok(stats.standInByTrigger.circuit_open > 0);
  assert.ok(stats.standInByTrigger.issuer_timeout + stats.standInByTrigger.issuer_failed > 0);
  assert.equal(stats.lastForwardError, null);
  assert.ok(Object.values(stats.circuits).every((state) => state === 'closed'));
}

/**
 * With the primary down: an account stand-in overspends, a cached blocked card, a card stand-in
 * cannot know (91), and a retry answered with the first decision. Returns the overspend.
 */
export async function whilePrimaryDown(
  bed: StandInBed,
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
  const stranger = newEntityId('card', bed.router.map.bucketOf(cards.accountId));
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
export async function assertApprovalsKept(
  bed: StandInBed,
  processor: StandInProcessor,
  outcomes: readonly AuthorizationOutcome[],
  overspend: readonly AuthorizationOutcome[],
): Promise<void> {
  const approved = outcomes.filter((o) => o.status === 'approved');
  const found = await bed.issuerAuthorizations(approved);
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
export async function assertForwardedOnce(
  bed: StandInBed,
  processor: StandInProcessor,
  accountIds: readonly string[],
): Promise<void> {
  const forwarded = processor.queue.forwarded();
  const approved = forwarded.find((f) => f.result.result === 'matched');
  assert.ok(approved);
  const service = new AuthorizationService(bed.router, { engine: bed.engine });
  await service.capture(approved.advice.outcome.id, 100n, {
    idempotencyKey: `stand-in-capture-${process.pid}`,
  });
  const before = await Promise.all(accountIds.map((id) => bed.creditCheck(id)));
  const byShard = new Map<number, ReturnType<typeof toAuthorizationAdvice>[]>();
  for (const f of forwarded) {
    byShard.set(f.advice.shardId, [
      ...(byShard.get(f.advice.shardId) ?? []),
      toAuthorizationAdvice(f.advice),
    ]);
  }
  for (const [shardId, advices] of byShard) {
    const again = await bed.engine.applyAdvices(shardId, advices);
    assert.ok(again.every((r) => r.result === 'duplicate_dropped'));
  }
  assert.equal(
    (await processor.forwardAll()).reduce((n, d) => n + d.forwarded, 0),
    0,
  );
  const after = await Promise.all(accountIds.map((id) => bed.creditCheck(id)));
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
