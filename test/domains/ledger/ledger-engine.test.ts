/**
 * The ledger on the one batching engine (decision 49, "One engine"), on a real fleet: calls
 * share batches, a guarded account holds under concurrent withdrawals, linked chains are never
 * cut by the batch size bound, a malformed call is refused at the engine's edge while its
 * neighbours in the same window are applied, and a request PostgreSQL refuses fails alone.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { newEntityId } from '../../../src/data/entity-id.ts';
import type { Router } from '../../../src/data/router.ts';
import { LedgerEngine } from '../../../src/domains/ledger/core/ledger-engine.ts';
import type {
  LedgerOutcome,
  LedgerRequest,
  MoveRequest,
} from '../../../src/domains/ledger/core/ledger-types.ts';
import { LEDGER_MIGRATIONS } from '../../../src/domains/ledger/sql/ledger-migrations.ts';
import {
  insertLedgerAccount,
  type NewLedgerAccount,
  readLedgerTotals,
} from '../../../src/domains/ledger/store/ledger-accounts.ts';
import { isMainstayError, type MainstayError } from '../../../src/errors/mainstay-error.ts';
import { type FleetFixture, startFleet } from '../../support/fleet-fixture.ts';

/** The reference a trigger on the shard refuses (a row-level failure no edge check can see). */
const POISON = 'poison-reference';

let fixture: FleetFixture;
let router: Router;
let engineRouter: Router;
let shardId: number;
let bucket: number;
let counter = 0;
const engines: LedgerEngine[] = [];

before(async () => {
  fixture = await startFleet('ledger-engine', {}, [LEDGER_MIGRATIONS]);
  router = await fixture.router();
  engineRouter = await fixture.router({ applicationName: 'ledger-engine' });
  const range = router.map.snapshot.buckets[0];
  assert.ok(range);
  shardId = range.shardId;
  bucket = range.first;
});

after(async () => {
  await Promise.all(engines.map((engine) => engine.close()));
  await fixture?.stop();
});

function engineOf(options: ConstructorParameters<typeof LedgerEngine>[1] = {}): LedgerEngine {
  const engine = new LedgerEngine(engineRouter, options);
  engines.push(engine);
  return engine;
}

async function open(fields: Partial<NewLedgerAccount> = {}): Promise<string> {
  const id = newEntityId('lacc', bucket);
  await router.writeToShard(shardId, (tx) =>
    insertLedgerAccount(tx, { id, currency: 'CNY', kind: 'deposit', ...fields }),
  );
  return id;
}

/** A settlement stripe to fund accounts from (it may run negative). */
function openFunding(): Promise<string> {
  return open({ kind: 'settlement', stripe: { code: rid('funding'), number: 0 } });
}

function rid(label: string): string {
  counter += 1;
  return `${label}-${process.pid}-${counter}`;
}

const transfer = (
  debitAccountId: string,
  creditAccountId: string,
  amount: bigint,
  extra: Partial<MoveRequest> = {},
): MoveRequest => ({
  kind: 'transfer',
  id: rid('t'),
  debitAccountId,
  creditAccountId,
  amount,
  currency: 'CNY',
  ...extra,
});

async function totals(accountId: string) {
  const primary = router.map.route(shardId).primary;
  assert.ok(primary);
  const read = await router.queryServer(primary.id, `shard_${shardId}`, (db) =>
    readLedgerTotals(db, accountId),
  );
  assert.ok(read);
  return read;
}

const statuses = (outcomes: readonly LedgerOutcome[]) => outcomes.map((o) => o.status);

/** The code a settled call was rejected with, or `'fulfilled'`. */
function codeOf(settled: PromiseSettledResult<unknown>): string {
  if (settled.status === 'fulfilled') return 'fulfilled';
  return isMainstayError(settled.reason) ? settled.reason.code : String(settled.reason);
}

describe('the ledger engine on a real fleet', () => {
  test('concurrent calls share batches: one transaction for many requests', async () => {
    const engine = engineOf();
    const funding = await openFunding();
    const wallets = await Promise.all(Array.from({ length: 4 }, () => open()));
    const calls = Array.from({ length: 120 }, (_, n) =>
      engine.submit([transfer(funding, wallets[n % 4] as string, BigInt(n + 1))]),
    );
    const outcomes = (await Promise.all(calls)).flat();
    assert.deepEqual(new Set(statuses(outcomes)), new Set(['posted']));
    const { stats } = engine;
    assert.equal(stats.requests, 120);
    assert.ok(stats.batches < stats.requests, `${stats.batches} batches for 120 requests`);
    assert.ok(stats.batchSizeMax > 1, 'a batch held more than one request');
    const credited = await Promise.all(wallets.map(totals));
    const sum = credited.reduce((all, t) => all + t.creditsPosted, 0n);
    assert.equal(sum, (120n * 121n) / 2n, 'every transfer applied once');
  });

  test('a guarded account is never overdrawn by 200 concurrent withdrawals', async () => {
    const engine = engineOf();
    const funding = await openFunding();
    const wallet = await open({ debitsMustNotExceedCredits: true });
    const shop = await open();
    await engine.submit([transfer(funding, wallet, 1_000n)]);
    const outcomes = (
      await Promise.all(
        Array.from({ length: 200 }, () => engine.submit([transfer(wallet, shop, 7n)])),
      )
    ).flat();
    const posted = outcomes.filter((o) => o.status === 'posted').length;
    assert.equal(posted, 142, '1,000 / 7 = 142 withdrawals fit');
    assert.equal(outcomes.length - posted, 58);
    assert.deepEqual(
      new Set(statuses(outcomes.filter((o) => o.status !== 'posted'))),
      new Set(['insufficient_funds']),
    );
    const w = await totals(wallet);
    assert.equal(w.debitsPosted, 994n);
    assert.ok(w.debitsPosted <= w.creditsPosted);
    assert.ok(engine.stats.batchSizeMax > 1);
  });

  test('linked chains stay whole under load and across a small batch size bound', async () => {
    const engine = engineOf({ batchSizeMax: 4 });
    const funding = await openFunding();
    const wallet = await open({ debitsMustNotExceedCredits: true });
    const a = await open();
    const b = await open();
    await engine.submit([transfer(funding, wallet, 900n)]);
    // 40 calls of a chain of three (30 each) and two unlinked requests (1 each): weights
    // 3, 1, 1, 3, 1, 1... so a batch of 4 often has room for 2 when a chain comes next, and the
    // chain must wait for the next batch rather than be cut.
    const calls = Array.from({ length: 40 }, () => [
      transfer(wallet, a, 10n, { linked: true }),
      transfer(wallet, b, 10n, { linked: true }),
      transfer(wallet, a, 10n),
      transfer(a, b, 1n),
      transfer(a, b, 1n),
    ]);
    const answers = await Promise.all(calls.map((call) => engine.submit(call)));
    let chainsPosted = 0;
    for (const outcomes of answers) {
      const chain = outcomes.slice(0, 3);
      assert.ok(
        !statuses(outcomes).includes('linked_chain_open'),
        'no chain was cut at a batch end',
      );
      const whole = new Set(chain.map((o) => o.createdAt.getTime()));
      assert.equal(whole.size, 1, 'a chain is decided in one transaction');
      if (chain.every((o) => o.status === 'posted')) chainsPosted += 1;
      else
        assert.deepEqual(
          statuses(chain).sort(),
          ['insufficient_funds', 'linked_event_failed', 'linked_event_failed'],
          'a failed chain is refused whole',
        );
    }
    assert.equal(chainsPosted, 30, '900 / 30 = 30 chains fit');
    const w = await totals(wallet);
    assert.equal(w.debitsPosted, 900n, 'only whole chains moved money');
    const { stats } = engine;
    assert.ok(stats.batchSizeMax <= 4, `largest batch ${stats.batchSizeMax}`);
    assert.ok(stats.batches >= 40, `${stats.batches} batches`);
    const tooLong = Array.from({ length: 5 }, (_, n) => transfer(wallet, a, 1n, { linked: n < 4 }));
    await assert.rejects(engine.submit(tooLong), (error: MainstayError) => {
      assert.equal(error.code, 'invalid_request');
      assert.deepEqual(
        error.errors.map((e) => e.pointer),
        ['/requests/3/linked'],
      );
      return true;
    });
  });

  test('a malformed call is refused at the edge; its neighbours in the window are applied', async () => {
    const engine = engineOf({ batchWindowMicros: 50_000 });
    const funding = await openFunding();
    const wallet = await open();
    const bad: { requests: LedgerRequest[]; shardKey?: string; pointers: string[] }[] = [
      { requests: [transfer(funding, wallet, 0n)], pointers: ['/requests/0/amount'] },
      {
        requests: [transfer(funding, wallet, 9_223_372_036_854_775_808n)],
        pointers: ['/requests/0/amount'],
      },
      {
        requests: [transfer(funding, wallet, 1n, { id: 'nul-\u0000-id' })],
        pointers: ['/requests/0/id'],
      },
      {
        requests: [transfer(funding, wallet, 1n, { id: 'x'.repeat(256) })],
        pointers: ['/requests/0/id'],
      },
      {
        requests: [transfer(funding, wallet, 1n, { currency: 'cny' })],
        pointers: ['/requests/0/currency'],
      },
      {
        requests: [transfer(funding, funding, 1n)],
        pointers: ['/requests/0/creditAccountId'],
      },
      {
        requests: [transfer(funding, wallet, 1n, { kind: 'pending' })],
        pointers: ['/requests/0/timeoutSeconds'],
      },
      {
        requests: [transfer(funding, wallet, 1n), transfer(funding, wallet, 1n, { linked: true })],
        pointers: ['/requests/1/linked'],
      },
      {
        requests: [{ kind: 'void', id: rid('v'), pendingId: rid('p') }],
        pointers: ['/shardKey'],
      },
      {
        requests: (() => {
          const twice = transfer(funding, wallet, 1n, { linked: true });
          return [twice, twice, transfer(funding, wallet, 1n)];
        })(),
        pointers: ['/requests/1/id'],
      },
      {
        requests: [transfer(funding, wallet, 1.5 as unknown as bigint)],
        pointers: ['/requests/0/amount'],
      },
    ];
    const good = Array.from({ length: 6 }, () => transfer(funding, wallet, 5n));
    const settled = await Promise.allSettled([
      ...bad.map((call) => engine.submit(call.requests, call.shardKey)),
      ...good.map((request) => engine.submit([request])),
    ]);
    bad.forEach((call, index) => {
      const answer = settled[index];
      assert.ok(answer?.status === 'rejected', `bad call ${index} is refused`);
      const error = answer.reason as MainstayError;
      assert.equal(error.code, 'invalid_request', `bad call ${index}`);
      assert.deepEqual(
        error.errors.map((e) => e.pointer),
        call.pointers,
        `bad call ${index}`,
      );
    });
    const applied = settled.slice(bad.length).map((answer) => {
      assert.equal(answer.status, 'fulfilled');
      return (answer as PromiseFulfilledResult<LedgerOutcome[]>).value[0];
    });
    assert.deepEqual(new Set(applied.map((o) => o?.status)), new Set(['posted']));
    assert.equal(new Set(applied.map((o) => o?.createdAt.getTime())).size, 1, 'one batch');
    assert.equal(engine.stats.requests, good.length, 'nothing of the bad calls was queued');
    assert.equal((await totals(wallet)).creditsPosted, 30n);
  });

  test('two-phase through the engine: a post or void names its shard key', async () => {
    const engine = engineOf();
    const funding = await openFunding();
    const wallet = await open({ debitsMustNotExceedCredits: true });
    const shop = await open();
    await engine.submit([transfer(funding, wallet, 500n)]);
    const hold = transfer(wallet, shop, 300n, { kind: 'pending', timeoutSeconds: 60 });
    assert.deepEqual(statuses(await engine.submit([hold])), ['pending']);
    const post = { kind: 'post' as const, id: rid('post'), pendingId: hold.id, amount: 200n };
    const [posted] = await engine.submit([post], wallet);
    assert.equal(`${posted?.status} ${posted?.amount}`, 'posted 200');
    const w = await totals(wallet);
    assert.deepEqual([w.debitsPosted, w.debitsPending], [200n, 0n]);
  });

  test('a request PostgreSQL refuses fails alone; the rest of its batch is applied', async () => {
    const engine = engineOf({ batchWindowMicros: 50_000 });
    const funding = await openFunding();
    const wallet = await open();
    await router.writeToShard(shardId, async (tx) => {
      await tx.query(`
        CREATE OR REPLACE FUNCTION public.test_refuse_poison() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION 'reference % refused by the test trigger', NEW.reference;
        END $$`);
      await tx.query(`
        CREATE OR REPLACE TRIGGER test_refuse_poison BEFORE INSERT ON public.ledger_transfers
        FOR EACH ROW WHEN (NEW.reference = '${POISON}')
        EXECUTE FUNCTION public.test_refuse_poison()`);
    });
    const before = engine.stats;
    const goodFirst = transfer(funding, wallet, 3n);
    const mixed = [goodFirst, transfer(funding, wallet, 100n, { reference: POISON })];
    // A chain with a refused member is retried alone, whole, and fails whole.
    const chain = [
      transfer(funding, wallet, 1_000n, { linked: true }),
      transfer(funding, wallet, 100n, { reference: POISON }),
    ];
    const singles = Array.from({ length: 8 }, () => transfer(funding, wallet, 1n));
    const settled = await Promise.allSettled([
      engine.submit(mixed),
      ...singles.map((request) => engine.submit([request])),
      engine.submit([transfer(funding, wallet, 100n, { reference: POISON })]),
      engine.submit(chain),
    ]);
    assert.deepEqual(settled.map(codeOf), [
      'internal_error',
      ...singles.map(() => 'fulfilled'),
      'internal_error',
      'internal_error',
    ]);
    const stats = engine.stats;
    assert.equal(stats.batches - before.batches, 1, 'all calls went in one batch');
    assert.equal(stats.batchesIsolated - before.batchesIsolated, 1);
    assert.equal(stats.itemsFailedAlone - before.itemsFailedAlone, 3);
    assert.equal(stats.batchesFailed, 0);
    // The good request of the mixed call was applied, nothing of the chain; a retry of the
    // call's good request answers it as stored.
    assert.equal((await totals(wallet)).creditsPosted, 3n + 8n);
    const [again] = await engine.submit([goodFirst]);
    assert.equal(`${again?.status} ${again?.replayed}`, 'posted true');
    await router.writeToShard(shardId, (tx) =>
      tx.query('DROP TRIGGER test_refuse_poison ON public.ledger_transfers'),
    );
  });

  test('a full queue refuses a call whole with overloaded; a closed engine refuses', async () => {
    const engine = engineOf({ queueDepthMax: 4, batchWindowMicros: 200_000 });
    const funding = await openFunding();
    const wallet = await open();
    const three = Array.from({ length: 3 }, () => transfer(funding, wallet, 1n));
    const first = engine.submit(three);
    await assert.rejects(
      engine.submit([transfer(funding, wallet, 1n), transfer(funding, wallet, 1n)]),
      (error) => isMainstayError(error, 'overloaded'),
    );
    assert.deepEqual(statuses(await first), ['posted', 'posted', 'posted']);
    assert.equal((await totals(wallet)).creditsPosted, 3n, 'nothing of the refused call');
    await engine.close();
    await assert.rejects(engine.submit([transfer(funding, wallet, 1n)]), (error) =>
      isMainstayError(error, 'service_unavailable'),
    );
  });
});
