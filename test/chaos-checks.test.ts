/**
 * The fault suite's checks are oracles: each must fail on the failure it looks for. These plant
 * that failure in what the clients saw or in the books (no fleet needed) and show the check
 * catch it, and pass without it. The schedule and the client-seen RTO are checked here too.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { TopologySnapshot } from '../src/fleet/topology-snapshot.ts';
import type { AccountBooks } from './support/card-books.ts';
import { exposureCheck } from './support/chaos/account-checks.ts';
import { ClientLedger } from './support/chaos/client-ledger.ts';
import { rtoRows } from './support/chaos/client-rto.ts';
import { dcIsWhole, type InjectedFault } from './support/chaos/fault-injector.ts';
import { planFaults } from './support/chaos/fault-schedule.ts';
import {
  type AuthorizationBooks,
  type BookAuthorization,
  type LostWrites,
  noLostWrites,
  oneAnswerCheck,
} from './support/chaos/ledger-checks.ts';
import { lostWritesCheck } from './support/chaos/lost-writes-check.ts';
import { SeededRandom } from './support/chaos/seeded-random.ts';
import type { FleetEvent } from './support/chaos/tail-events.ts';

function ledgerWith(answers: { id: string; status: string; decidedBy: string }[]): ClientLedger {
  const ledger = new ClientLedger();
  const trail = {
    requestId: 'r1',
    cardId: 'card_1',
    accountId: 'acct_1',
    amount: 100,
    answers: [],
  };
  ledger.authorizations.set('r1', trail);
  for (const answer of answers) {
    ledger.decision(trail, { ...answer, heldAmount: 100, holdState: 'open' }, 'up');
  }
  return ledger;
}

function booksOf(rows: BookAuthorization[]): AuthorizationBooks {
  return {
    byId: new Map(rows.map((row) => [row.id, row])),
    byRequest: new Map(rows.map((row) => [`${row.cardId} ${row.requestId}`, row])),
  };
}

const book = (id: string, status: string): BookAuthorization => ({
  id,
  requestId: 'r1',
  cardId: 'card_1',
  status,
  holdState: status === 'approved' ? 'open' : 'none',
  captured: 0,
  reversed: 0,
});

describe('one answer per request id', () => {
  test('passes when every answer and the books agree', () => {
    const ledger = ledgerWith([
      { id: 'auth_1', status: 'approved', decidedBy: 'issuer' },
      { id: 'auth_1', status: 'approved', decidedBy: 'issuer' },
    ]);
    assert.equal(oneAnswerCheck(ledger, booksOf([book('auth_1', 'approved')]), []).outcome, 'pass');
  });

  test('fails on a second answer with another id, on books that disagree, on an id GET cannot find', () => {
    const twoAnswers = ledgerWith([
      { id: 'auth_1', status: 'insufficient_credit', decidedBy: 'issuer' },
      { id: 'auth_2', status: 'approved', decidedBy: 'stand_in' },
    ]);
    assert.equal(oneAnswerCheck(twoAnswers, booksOf([]), []).outcome, 'fail');
    const told = ledgerWith([{ id: 'auth_1', status: 'approved', decidedBy: 'stand_in' }]);
    const dropped = booksOf([book('auth_1', 'insufficient_credit')]);
    assert.equal(oneAnswerCheck(told, dropped, []).outcome, 'fail');
    const fine = booksOf([book('auth_1', 'approved')]);
    assert.equal(oneAnswerCheck(told, fine, ['GET auth_1 via api: 404']).outcome, 'fail');
    told.holdUnknownIds.push('capture auth_1');
    assert.equal(oneAnswerCheck(told, fine, []).outcome, 'fail');
  });
});

describe('no acknowledged write lost, or lost as reported', () => {
  const lost: LostWrites = {
    approvals: ['r1 auth_1 (issuer)'],
    declines: [],
    captures: [],
    reversals: [],
    binds: [],
    accounts: [],
    ledgerTransfers: [],
    byDatabase: { shard_0: 1 },
  };
  const none: LostWrites = noLostWrites();
  const event = (kind: string, detail: string): FleetEvent => ({
    at: '2026-01-01T00:00:00.000Z',
    kind,
    server: 'dc1-a',
    dc: 'dc1',
    detail,
  });
  const measured = (shard0: number) =>
    event(
      'lost_tail_measured',
      `lost tail of dc1-a past the switch point 0/1: 200 bytes of WAL, ${shard0} commits that changed rows in shard databases (shard_0: ${shard0}), 0 other commits`,
    );

  test('synchronous: nothing lost passes; any loss fails, whatever the events say', () => {
    assert.equal(lostWritesCheck(none, 10, [], () => false).outcome, 'pass');
    assert.equal(lostWritesCheck(lost, 10, [measured(1)], () => false).outcome, 'fail');
  });

  test('asynchronous: a loss passes only beside a tail reported above 0 in its database', () => {
    const exposed = () => true;
    assert.equal(lostWritesCheck(lost, 10, [measured(1)], exposed).outcome, 'pass');
    assert.equal(lostWritesCheck(lost, 10, [measured(0)], exposed).outcome, 'fail');
    assert.equal(lostWritesCheck(lost, 10, [], exposed).outcome, 'fail');
    const unknown = event(
      'lost_tail_unknown',
      'lost tail unknown: the data directory did not start',
    );
    assert.equal(lostWritesCheck(lost, 10, [unknown], exposed).outcome, 'pending');
    const moved = event('shard_moved', 'shard 0 homed in dc2; unreplicated tail about 4096 bytes');
    assert.equal(lostWritesCheck(lost, 10, [moved], exposed).outcome, 'pass');
  });
});

describe('held + posted within limit + cap', () => {
  const account = (held: bigint, posted: bigint): AccountBooks => ({
    limit: 30_000n,
    held,
    posted,
    openHolds: held,
    captured: posted,
  });

  test('fails beyond the cap, passes within it, is pending without one', () => {
    const within = new Map([['acct_1', account(30_000n, 9_000n)]]);
    const beyond = new Map([['acct_1', account(30_000n, 10_001n)]]);
    assert.equal(exposureCheck(within, 10_000).outcome, 'pass');
    assert.equal(exposureCheck(beyond, 10_000).outcome, 'fail');
    assert.equal(exposureCheck(beyond, null).outcome, 'pending');
  });
});

describe('schedule and client-seen RTO', () => {
  test('the same seed gives the same schedule, with every fault that must come', () => {
    const plan = {
      dataCentres: ['dc1', 'dc2'],
      once: ['kill_primary', 'hang_primary', 'pause_replay'] as const,
      seconds: 120,
      dcLoss: true,
    };
    const first = planFaults(new SeededRandom(7), plan);
    assert.deepEqual(planFaults(new SeededRandom(7), plan), first);
    assert.notDeepEqual(planFaults(new SeededRandom(8), plan), first);
    for (const kind of plan.once) assert.ok(first.some((fault) => fault.kind === kind));
    assert.equal(first.at(-1)?.kind, 'lose_dc');
  });

  test('a wait counts under the fault in force when it ended, with operations that gave up', () => {
    const ledger = new ClientLedger();
    const record = (startedAt: number, endedAt: number, answered: boolean) => {
      const op = ledger.begin('capture');
      Object.assign(op, { startedAt, endedAt, answered });
    };
    record(0, 100, true);
    record(900, 4_000, true);
    record(1_500, 9_000, false);
    const fault: InjectedFault = {
      kind: 'kill_primary',
      dc: 'dc1',
      holdMs: 0,
      servers: ['dc1-a'],
      pids: [1],
      injectedAt: 1_000,
      liftedAt: 1_000,
      skipped: null,
    };
    const [before, during] = rtoRows(ledger.operations, [fault]);
    assert.equal(before?.cells.capture.waitMsMax, 100);
    assert.equal(during?.cells.capture.waitMsMax, 7_500);
    assert.equal(during?.cells.capture.gaveUp, 1);
    assert.equal(during?.cells.authorize.waitMsMax, null);
  });

  test('after a DC loss the other DC is whole without the copies the lost DC held', () => {
    const server = (id: string, dc: string, role: string, state: string) => ({
      id,
      dc,
      role,
      state,
      fencedAtEpoch: null,
      streamingState: role === 'replica' ? 'streaming' : null,
    });
    const shard = (database: string, homeDc: string, copyDc: string, copyState: string) => ({
      database,
      homeDc,
      copyDc,
      copyState,
    });
    const topology = {
      servers: [
        server('dc1-a', 'dc1', 'primary', 'down'),
        server('dc2-a', 'dc2', 'primary', 'up'),
        server('dc2-b', 'dc2', 'replica', 'up'),
      ],
      shards: [shard('shard_0', 'dc2', 'dc1', 'quarantined')],
    } as unknown as TopologySnapshot;
    assert.equal(dcIsWhole(topology, 'dc2'), false);
    assert.equal(dcIsWhole(topology, 'dc2', ['dc1']), true);
    const unreplicated = {
      ...topology,
      shards: [...topology.shards, shard('shard_1', 'dc2', 'dc2', 'detached')],
    } as unknown as TopologySnapshot;
    assert.equal(dcIsWhole(unreplicated, 'dc2', ['dc1']), false);
  });
});
