/**
 * Cross-shard transfers on a real fleet (decision 49, "Across shards"): leg 1 and the coordinator
 * row in one transaction on the debtor's shard, a driver that ends every transfer posted on both
 * sides or voided on both, a crash at every step and two drivers at once applying each leg once,
 * retries of the start answered the same, and the creditor's primary killed mid-drive.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { newEntityId } from '../../../src/data/entity-id.ts';
import { IDEMPOTENCY_MIGRATIONS } from '../../../src/data/idempotency.ts';
import type { Router } from '../../../src/data/router.ts';
import {
  type CrossShardAction,
  CrossShardDriver,
  type CrossShardDriverOptions,
} from '../../../src/domains/ledger/core/cross-shard/cross-shard-driver.ts';
import { CrossShardTransfers } from '../../../src/domains/ledger/core/cross-shard/cross-shard-transfers.ts';
import type { CrossShardState } from '../../../src/domains/ledger/core/cross-shard/cross-shard-types.ts';
import { LedgerAccountService } from '../../../src/domains/ledger/core/ledger-account-service.ts';
import { LedgerEngine } from '../../../src/domains/ledger/core/ledger-engine.ts';
import { LEDGER_MIGRATIONS } from '../../../src/domains/ledger/sql/ledger-migrations.ts';
import { readCrossShard } from '../../../src/domains/ledger/store/cross-shard-store.ts';
import { applyLedgerBatch } from '../../../src/domains/ledger/store/ledger-batch.ts';
import { checkLedgerBooks } from '../../../src/domains/ledger/store/ledger-checks.ts';
import { isMainstayError } from '../../../src/errors/mainstay-error.ts';
import { type FleetFixture, startFleet } from '../../support/fleet-fixture.ts';

const CURRENCY = 'CNY';
const TRANSIT = 'in-transit';

let fixture: FleetFixture;
let router: Router;
let engineRouter: Router;
let accounts: LedgerAccountService;
let transfers: CrossShardTransfers;
let shardA: number;
let shardB: number;
let counter = 0;
const engines: LedgerEngine[] = [];
const drivers: CrossShardDriver[] = [];

before(async () => {
  fixture = await startFleet('ledger-cross-shard', {}, [IDEMPOTENCY_MIGRATIONS, LEDGER_MIGRATIONS]);
  router = await fixture.router({ writeWaitMs: 1_000, connectTimeoutMs: 5_000 });
  engineRouter = await fixture.router({
    writeWaitMs: 1_000,
    connectTimeoutMs: 5_000,
    applicationName: 'ledger-engine',
  });
  accounts = new LedgerAccountService(router, { stripesPerShard: 2 });
  transfers = new CrossShardTransfers(router, { transitCode: TRANSIT });
  await accounts.openInstitutionAccount({ code: TRANSIT, kind: 'in_transit', currency: CURRENCY });
  await accounts.openInstitutionAccount({ code: 'funding', kind: 'suspense', currency: CURRENCY });
  // A on a shard homed in dc1, B on one homed in dc2: killing B's primary leaves A up.
  const homed = (dc: string) =>
    router.map.shardIds.find((id) => router.map.route(id).shard.homeDc === dc) as number;
  shardA = homed('dc1');
  shardB = homed('dc2');
  assert.notEqual(shardA, undefined);
  assert.notEqual(shardB, undefined);
});

after(async () => {
  await Promise.all(drivers.map((driver) => driver.stop()));
  await Promise.all(engines.map((engine) => engine.close()));
  await fixture?.stop();
});

function rid(label: string): string {
  counter += 1;
  return `${label}-${process.pid}-${counter}`;
}

function driverOf(options: CrossShardDriverOptions = {}): CrossShardDriver {
  const engine = new LedgerEngine(engineRouter, { writeWaitMs: 1_000 });
  engines.push(engine);
  const driver = new CrossShardDriver(router, engine, accounts, {
    transitCode: TRANSIT,
    backoffBaseMs: 50,
    backoffMaxMs: 400,
    ...options,
  });
  drivers.push(driver);
  return driver;
}

/** A customer's deposit account on `shardId`, in `currency`, funded with `funds`. */
async function customerOn(shardId: number, funds: bigint, currency = CURRENCY): Promise<string> {
  const bucket = router.map.snapshot.buckets.find((range) => range.shardId === shardId)?.first;
  assert.notEqual(bucket, undefined);
  const { value } = await accounts.openAccount(
    { currency, kind: 'deposit', ownerId: newEntityId('cus', bucket as number) },
    { idempotencyKey: rid('open') },
  );
  assert.equal(router.map.shardOf(value.id), shardId);
  if (funds > 0n) {
    const source = await accounts.stripeNear('funding', currency, value.id, 0);
    const [funded] = (
      await router.writeToShard(shardId, (tx) =>
        applyLedgerBatch(tx, [
          {
            kind: 'transfer',
            id: rid('fund'),
            debitAccountId: source,
            creditAccountId: value.id,
            amount: funds,
            currency,
          },
        ]),
      )
    ).value;
    assert.equal(funded?.status, 'posted');
  }
  return value.id;
}

async function pair(funds = 1_000n) {
  return { debit: await customerOn(shardA, funds), credit: await customerOn(shardB, 0n) };
}

async function balanceOf(id: string): Promise<{ balance: bigint; pending: bigint }> {
  const account = await accounts.getAccount(id);
  return { balance: account.balance, pending: account.debitsPending + account.creditsPending };
}

/** Postings per step of transfer `id`, on both shards, as `step: count`. */
async function postingsOf(id: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const shardId of [shardA, shardB]) {
    const { value } = await router.readShard(
      shardId,
      (db) =>
        db.query<{ transfer_id: string; n: number }>(
          `SELECT transfer_id, count(*)::int AS n FROM public.ledger_postings
            WHERE left(transfer_id, length($1) + 1) = $1 || ':' GROUP BY transfer_id`,
          [id],
        ),
      { consistency: 'primary' },
    );
    for (const row of value.rows) counts[row.transfer_id.slice(id.length + 1)] = row.n;
  }
  return counts;
}

const POSTED_STEPS = { debit: 2, credit: 2, 'post-debit': 2, 'post-credit': 2 };

/** The books of every shard hold, and the in_transit account nets to zero with nothing held. */
async function assertBooksClean(): Promise<void> {
  for (const shardId of router.map.shardIds) {
    const { value } = await router.readShard(shardId, checkLedgerBooks, {
      consistency: 'primary',
    });
    assert.deepEqual(value, [], `the books of shard ${shardId}`);
  }
  const transit = await accounts.institutionAccount(TRANSIT, CURRENCY);
  assert.equal(transit.balance, 0n, 'in_transit nets to zero');
  assert.equal(transit.debitsPending, 0n);
  assert.equal(transit.creditsPending, 0n);
}

async function assertEnded(
  id: string,
  accountsOf: { debit: string; credit: string },
  state: CrossShardState,
  amount: bigint,
  funds = 1_000n,
): Promise<void> {
  const view = await transfers.get(id, accountsOf.debit);
  assert.equal(view.state, state, `${id}: ${view.lastError ?? ''}`);
  const moved = state === 'posted' ? amount : 0n;
  assert.deepEqual(await balanceOf(accountsOf.debit), { balance: funds - moved, pending: 0n });
  assert.deepEqual(await balanceOf(accountsOf.credit), { balance: moved, pending: 0n });
  const steps = await postingsOf(id);
  if (state === 'posted') assert.deepEqual(steps, POSTED_STEPS, 'each leg applied once');
  else assert.equal(steps['post-debit'] ?? 0, 0, 'nothing posted');
  await assertBooksClean();
}

/** The coordinator row of `id` on shard A, read on its primary (B may be down). */
async function coordinatorRow(id: string) {
  const { value } = await router.readShard(shardA, (db) => readCrossShard(db, id), {
    consistency: 'primary',
  });
  return value;
}

function crashAt(point: number): { options: CrossShardDriverOptions; seen: CrossShardAction[] } {
  const seen: CrossShardAction[] = [];
  return {
    seen,
    options: {
      onAction: (action) => {
        seen.push(action);
        if (seen.length === point) throw new Error(`crash after ${action}`);
      },
    },
  };
}

async function eventually(check: () => Promise<boolean>, what: string, ms = 30_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(100);
  }
  assert.fail(`never: ${what}`);
}

describe('cross-shard transfers', () => {
  test('a transfer ends posted on both sides; the books hold on every shard', async () => {
    const ends = await pair();
    const id = rid('x');
    const started = await transfers.start({
      id,
      ...accountsAs(ends),
      amount: 250n,
      currency: CURRENCY,
    });
    assert.deepEqual(started, { id, status: 'pending', replayed: false, state: 'pending_debit' });
    assert.deepEqual(await balanceOf(ends.debit), { balance: 1_000n, pending: 250n });
    const summary = await driverOf().runOnce();
    assert.ok(summary.posted >= 1);
    await assertEnded(id, ends, 'posted', 250n);
    const view = await transfers.get(id);
    assert.deepEqual(
      view.legs
        .map((leg) => `${leg.id.slice(id.length + 1)} ${leg.status} ${leg.pendingState}`)
        .sort(),
      [
        'credit pending posted',
        'debit pending posted',
        'post-credit posted null',
        'post-debit posted null',
      ],
    );
  });

  test('a refused credit leg ends voided: the debtor is whole again', async () => {
    for (const refusal of ['currency_mismatch', 'credit_account_not_found'] as const) {
      const debit = await customerOn(shardA, 1_000n);
      const credit =
        refusal === 'currency_mismatch'
          ? await customerOn(shardB, 0n, 'USD')
          : newEntityId(
              'lacc',
              router.map.snapshot.buckets.find((r) => r.shardId === shardB)?.first ?? 0,
            );
      const id = rid('refused');
      const started = await transfers.start({
        id,
        debitAccountId: debit,
        creditAccountId: credit,
        amount: 300n,
        currency: CURRENCY,
      });
      assert.equal(started.status, 'pending');
      const row = await driverOf().drive(id, debit);
      assert.equal(row.state, 'voided');
      assert.equal(row.voidReason, `credit leg ${refusal}`);
      assert.deepEqual(await balanceOf(debit), { balance: 1_000n, pending: 0n });
      assert.deepEqual(await postingsOf(id), { debit: 2, 'void-debit': 2 });
      await assertBooksClean();
    }
  });

  test('a crash after every action, then a fresh driver: posted or voided, each leg once', async () => {
    for (const path of ['posted', 'voided'] as const) {
      for (let point = 1; ; point += 1) {
        const ends =
          path === 'posted'
            ? await pair()
            : {
                debit: await customerOn(shardA, 1_000n),
                credit: await customerOn(shardB, 0n, 'USD'),
              };
        const id = rid(`crash-${path}-${point}`);
        await transfers.start({ id, ...accountsAs(ends), amount: 100n, currency: CURRENCY });
        const crash = crashAt(point);
        const crashed = await driverOf(crash.options)
          .drive(id, ends.debit)
          .then(
            () => false,
            () => true,
          );
        if (crashed) {
          // A fresh driver, as after a restart, finds the row due and finishes it.
          await driverOf().runOnce();
        }
        await assertEnded(id, ends, path, 100n);
        if (!crashed) {
          assert.equal(point, crash.seen.length + 1, 'every action was a crash point');
          assert.deepEqual(
            crash.seen,
            path === 'posted'
              ? [
                  'credit-transit',
                  'credit',
                  'state:credit_pending',
                  'post-debit',
                  'state:posting',
                  'post-credit',
                  'state:posted',
                ]
              : ['credit-transit', 'credit', 'state:voiding', 'void-debit', 'state:voided'],
          );
          break;
        }
      }
    }
  });

  test('two drivers at once on the same rows apply each leg once', async () => {
    const started: { id: string; ends: { debit: string; credit: string } }[] = [];
    for (let n = 0; n < 6; n += 1) {
      const ends = await pair();
      const id = rid('race');
      await transfers.start({
        id,
        ...accountsAs(ends),
        amount: 10n + BigInt(n),
        currency: CURRENCY,
      });
      started.push({ id, ends });
    }
    const [one, two] = [driverOf(), driverOf()];
    await Promise.all([
      one.runOnce(),
      two.runOnce(),
      ...started.map(({ id, ends }) => one.drive(id, ends.debit)),
      ...started.map(({ id, ends }) => two.drive(id, ends.debit)),
    ]);
    for (const [n, { id, ends }] of started.entries())
      await assertEnded(id, ends, 'posted', 10n + BigInt(n));
  });

  test('a retry of start answers the same; the same id with other fields is refused', async () => {
    const ends = await pair();
    const id = rid('retry');
    const input = { id, ...accountsAs(ends), amount: 40n, currency: CURRENCY, reference: 'rent' };
    assert.equal((await transfers.start(input)).replayed, false);
    assert.deepEqual(await transfers.start(input), {
      id,
      status: 'pending',
      replayed: true,
      state: 'pending_debit',
    });
    for (const other of [
      { amount: 41n },
      { creditAccountId: await customerOn(shardB, 0n) },
      { reference: 'gift' },
    ]) {
      const refused = await transfers.start({ ...input, ...other });
      assert.equal(refused.status, 'exists_with_different_fields');
    }
    await driverOf().drive(id, ends.debit);
    assert.deepEqual(await transfers.start(input), {
      id,
      status: 'pending',
      replayed: true,
      state: 'posted',
    });
    await assertEnded(id, ends, 'posted', 40n);
    // A start its first leg refuses writes no row, and a retry answers the same refusal.
    const poor = await pair(5n);
    const refusedId = rid('poor');
    const poorInput = { id: refusedId, ...accountsAs(poor), amount: 6n, currency: CURRENCY };
    assert.deepEqual(await transfers.start(poorInput), {
      id: refusedId,
      status: 'insufficient_funds',
      replayed: false,
      state: null,
    });
    assert.equal((await transfers.start(poorInput)).replayed, true);
    await assert.rejects(transfers.get(refusedId), (error) =>
      isMainstayError(error, 'resource_not_found'),
    );
    await assert.rejects(
      transfers.start({ ...poorInput, id: rid('same'), creditAccountId: poor.debit }),
      (error) => isMainstayError(error, 'invalid_request'),
    );
  });

  test('starts made at once share a batch and each answers as if alone', async () => {
    // One id started three times at once (a client's retries in flight) and once with another
    // amount, beside twelve other starts: the same batch, or a few, on shard A.
    const ends = await pair();
    const id = rid('burst');
    const input = { id, ...accountsAs(ends), amount: 30n, currency: CURRENCY };
    const others = await Promise.all(Array.from({ length: 12 }, () => pair()));
    const otherIds = others.map(() => rid('burst'));
    const answers = await Promise.all([
      transfers.start(input),
      transfers.start(input),
      transfers.start({ ...input, amount: 31n }),
      transfers.start(input),
      ...others.map((other, n) =>
        transfers.start({
          id: otherIds[n] as string,
          ...accountsAs(other),
          amount: 20n + BigInt(n),
          currency: CURRENCY,
        }),
      ),
    ]);
    const same = [answers[0], answers[1], answers[3]];
    assert.deepEqual(
      same.map((answer) => answer?.status),
      ['pending', 'pending', 'pending'],
    );
    assert.equal(same.filter((answer) => answer?.replayed === false).length, 1, 'one first');
    assert.equal(answers[2]?.status, 'exists_with_different_fields');
    for (const answer of answers.slice(4))
      assert.deepEqual(answer && { status: answer.status, replayed: answer.replayed }, {
        status: 'pending',
        replayed: false,
      });
    // One leg reserved for the id, not three.
    assert.deepEqual(await balanceOf(ends.debit), { balance: 1_000n, pending: 30n });
    const driver = driverOf();
    await driver.drive(id, ends.debit);
    await Promise.all(others.map((other, n) => driver.drive(otherIds[n] as string, other.debit)));
    await assertEnded(id, ends, 'posted', 30n);
    for (const [n, other] of others.entries())
      await assertEnded(otherIds[n] as string, other, 'posted', 20n + BigInt(n));
  });

  test("A's primary hung (SIGSTOP) with starts, retries and drives in flight: each transfer posted once", async () => {
    const before: { id: string; ends: { debit: string; credit: string } }[] = [];
    const during: { id: string; ends: { debit: string; credit: string } }[] = [];
    for (let n = 0; n < 3; n += 1) {
      const ends = await pair();
      const id = rid('hung');
      await transfers.start({ id, ...accountsAs(ends), amount: 60n, currency: CURRENCY });
      before.push({ id, ends });
      during.push({ id: rid('hung'), ends: await pair() });
    }
    const primaryA = router.map.route(shardA).primary?.id as string;
    const victim = fixture.fleet.server(primaryA);
    assert.ok(victim);
    const driver = driverOf();
    victim.signalAll('SIGSTOP');
    let resumed = false;
    try {
      const start = ({ id, ends }: (typeof during)[number]) =>
        transfers.start({ id, ...accountsAs(ends), amount: 60n, currency: CURRENCY });
      // While A hangs: drives of the started ones, new starts, and each new start again (a
      // client's retry while its first attempt is in flight), all on the hung shard.
      const inFlight = Promise.allSettled([
        ...before.map(({ id, ends }) => driver.drive(id, ends.debit)),
        ...during.map(start),
        ...during.map(async (transfer) => {
          await sleep(200);
          return start(transfer);
        }),
      ]);
      // Hostile text is refused at once, hung shard or not, and fails nothing else.
      for (const reference of ['nul\u0000', 'lone \ud800'])
        await assert.rejects(
          transfers.start({
            id: rid('bad'),
            ...accountsAs(during[0]?.ends as { debit: string; credit: string }),
            amount: 1n,
            currency: CURRENCY,
            reference,
          }),
          (error) => isMainstayError(error, 'invalid_request'),
        );
      await sleep(1_500);
      victim.signalAll('SIGCONT');
      resumed = true;
      for (const outcome of await inFlight)
        if (outcome.status === 'rejected')
          assert.ok(
            isMainstayError(outcome.reason, 'primary_unavailable') ||
              isMainstayError(outcome.reason, 'write_outcome_unknown'),
            String(outcome.reason),
          );
    } finally {
      if (!resumed) victim.signalAll('SIGCONT');
    }
    // Every client retries what it did not see end, with the same ids, then drives it.
    for (const { id, ends } of during) {
      const again = await transfers.start({
        id,
        ...accountsAs(ends),
        amount: 60n,
        currency: CURRENCY,
      });
      assert.equal(again.status, 'pending', `${id}: ${again.status}`);
    }
    for (const { id, ends } of [...before, ...during]) await driver.drive(id, ends.debit);
    for (const { id, ends } of [...before, ...during]) await assertEnded(id, ends, 'posted', 60n);
  });

  test("B's primary killed mid-drive: the driver backs off and finishes once B is back", async () => {
    const started: { id: string; ends: { debit: string; credit: string } }[] = [];
    for (let n = 0; n < 3; n += 1) {
      const ends = await pair();
      const id = rid('outage');
      await transfers.start({ id, ...accountsAs(ends), amount: 70n, currency: CURRENCY });
      started.push({ id, ends });
    }
    // The first is half way (both legs pending) when B goes.
    const first = started[0] as (typeof started)[number];
    const stepper = driverOf(crashAt(3).options);
    await assert.rejects(stepper.drive(first.id, first.ends.debit));
    const primaryB = router.map.route(shardB).primary?.id as string;
    fixture.fleet.server(primaryB)?.signalAll('SIGKILL');
    const driver = driverOf({ intervalMs: 100 });
    driver.start();
    await eventually(async () => {
      const rows = await Promise.all(started.map(({ id }) => coordinatorRow(id)));
      return rows.every((row) => row !== null && row.attempts >= 2 && row.lastError !== null);
    }, 'failed attempts recorded while B is down');
    const half = await coordinatorRow(first.id);
    assert.equal(half?.state, 'posting', 'leg 1 posted on A, leg 2 waits for B');
    assert.match(half?.lastError ?? '', /primary|unavailable|reach/i);
    const snapshot = driver.jobs.snapshot()[0];
    assert.ok((snapshot?.failureCount ?? 0) >= 1, 'the job counts the failed runs');
    await fixture.fleet.startServer(primaryB);
    await eventually(async () => router.monitor.observe(primaryB).healthy, `${primaryB} healthy`);
    await eventually(async () => {
      const views = await Promise.all(started.map(({ id, ends }) => transfers.get(id, ends.debit)));
      return views.every((view) => view.state === 'posted');
    }, 'every transfer posted after B is back');
    await driver.stop();
    for (const { id, ends } of started) await assertEnded(id, ends, 'posted', 70n);
  });
});

function accountsAs(ends: { debit: string; credit: string }) {
  return { debitAccountId: ends.debit, creditAccountId: ends.credit };
}
