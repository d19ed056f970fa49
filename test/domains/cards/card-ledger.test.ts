/**
 * Cards on the ledger (decision 52) on a real fleet: every change of a hold or a capture leaves
 * an outbox row in its own transaction; the drain posts it to the ledger once (a crash between
 * posting and marking repeats nothing); captures post, reversals and expiries release, stand-in
 * advices post once forwarded; after a stream, each card account equals its receivable and
 * every shard's trial balance is zero.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { newEntityId, taggedBucket } from '../../../src/data/entity-id.ts';
import type { Router } from '../../../src/data/router.ts';
import { CardAccountService } from '../../../src/domains/cards/core/accounts/card-account-service.ts';
import type { CardAccount } from '../../../src/domains/cards/core/accounts/card-account-types.ts';
import { AuthorizationEngine } from '../../../src/domains/cards/core/authorization/authorization-engine.ts';
import { AuthorizationService } from '../../../src/domains/cards/core/authorization/authorization-service.ts';
import { HoldSweeper } from '../../../src/domains/cards/core/authorization/hold-sweeper.ts';
import { checkCardAccountsOnLedger } from '../../../src/domains/cards/core/ledger/card-ledger-check.ts';
import {
  CardLedgerDrain,
  type CardLedgerDrainOptions,
} from '../../../src/domains/cards/core/ledger/card-ledger-drain.ts';
import type { CardLedgerEvent } from '../../../src/domains/cards/core/ledger/card-ledger-port.ts';
import { CARD_MIGRATIONS } from '../../../src/domains/cards/services.ts';
import { DerivedAccounts } from '../../../src/domains/ledger/core/derived-accounts.ts';
import { LedgerAccountService } from '../../../src/domains/ledger/core/ledger-account-service.ts';
import { LedgerEngine } from '../../../src/domains/ledger/core/ledger-engine.ts';
import { EndOfDayService } from '../../../src/domains/ledger/settlement/core/end-of-day.ts';
import { LEDGER_MIGRATIONS } from '../../../src/domains/ledger/sql/ledger-migrations.ts';
import { checkLedgerBooks } from '../../../src/domains/ledger/store/ledger-checks.ts';
import {
  CARD_ACCOUNT_BREAK_KIND,
  cardLedgerEndOfDayCheck,
} from '../../../src/links/card-ledger-end-of-day.ts';
import {
  LedgerCardPostings,
  merchantSettlementCodeOf,
} from '../../../src/links/ledger-card-postings.ts';
import { cardAuthorizationHelpers, request } from '../../support/card-authorization-helpers.ts';
import { type FleetFixture, startFleet } from '../../support/fleet-fixture.ts';
import { OneTransactionAuthorizer } from '../../support/oracle/one-transaction-authorizer.ts';

const CURRENCY = 'CNY';
let fixture: FleetFixture;
let router: Router;
let cards: CardAccountService;
let engine: AuthorizationEngine;
let viaEngine: AuthorizationService;
/** Moves in a transaction of their own (another writer of holds than the engine). */
let direct: OneTransactionAuthorizer;
let ledgerEngine: LedgerEngine;
let ledgerAccounts: LedgerAccountService;
let postings: LedgerCardPostings;
let helpers: ReturnType<typeof cardAuthorizationHelpers>;
const drains: CardLedgerDrain[] = [];

before(async () => {
  fixture = await startFleet('card-ledger', {}, [...CARD_MIGRATIONS, LEDGER_MIGRATIONS]);
  router = await fixture.router({ writeWaitMs: 1_000, connectTimeoutMs: 5_000 });
  const engineRouter = await fixture.router({ applicationName: 'card-engine' });
  const ledgerRouter = await fixture.router({ applicationName: 'ledger-engine' });
  cards = new CardAccountService(router);
  engine = new AuthorizationEngine(engineRouter, { holdTtlSeconds: 3_600 });
  viaEngine = new AuthorizationService(router, { engine });
  direct = new OneTransactionAuthorizer(router, { holdTtlSeconds: 3_600 });
  ledgerEngine = new LedgerEngine(ledgerRouter);
  ledgerAccounts = new LedgerAccountService(router, { stripesPerShard: 2 });
  postings = new LedgerCardPostings(ledgerEngine, ledgerAccounts, new DerivedAccounts(router));
  helpers = cardAuthorizationHelpers(router, cards);
});

after(async () => {
  await Promise.all(drains.map((drain) => drain.stop()));
  await engine?.close();
  await ledgerEngine?.close();
  await fixture?.stop();
});

function drainOf(options: CardLedgerDrainOptions = {}): CardLedgerDrain {
  const drain = new CardLedgerDrain(router, { backoffBaseMs: 20, backoffMaxMs: 200, ...options });
  drains.push(drain);
  return drain;
}

/** Drains until the outbox is empty (a bounded number of passes). */
async function drainAll(drain = drainOf()): Promise<void> {
  for (let pass = 0; pass < 50; pass += 1) {
    await drain.runOnce(undefined, postings);
    if ((await outboxRows()) === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  const errors = await Promise.all(
    router.map.shardIds.map(async (shardId) => {
      const { value } = await router.readShard(
        shardId,
        (db) =>
          db.query<{ last_error: string | null }>(
            'SELECT DISTINCT last_error FROM public.card_ledger_outbox LIMIT 3',
          ),
        { consistency: 'primary' },
      );
      return value.rows.map((row) => row.last_error);
    }),
  );
  assert.fail(`the outbox still has ${await outboxRows()} rows: ${errors.flat().join('; ')}`);
}

async function outboxRows(accountId?: string): Promise<number> {
  let count = 0;
  for (const shardId of router.map.shardIds) {
    const { value } = await router.readShard(
      shardId,
      (db) =>
        db.query<{ n: string }>(
          `SELECT count(*)::text AS n FROM public.card_ledger_outbox
            WHERE $1::text IS NULL OR account_id = $1::text`,
          [accountId ?? null],
        ),
      { consistency: 'primary' },
    );
    count += Number(value.rows[0]?.n ?? 0);
  }
  return count;
}

/** The receivable of a card account as the ledger has it (zero when never opened). */
async function receivable(account: CardAccount) {
  const found = await postings.receivables([{ id: account.id, currency: account.currency }]);
  return found.get(account.id) ?? { pending: 0n, posted: 0n };
}

/** Ledger transfers whose ids derive from `authorizationId`, by kind of id. */
async function transfersOf(authorizationId: string): Promise<string[]> {
  const { value } = await router.read(
    authorizationId,
    (db) =>
      db.query<{ id: string }>(
        `SELECT id FROM public.ledger_transfers WHERE id LIKE $1 ORDER BY id`,
        [`card:${authorizationId}:%`],
      ),
    { consistency: 'primary' },
  );
  return value.rows.map((row) => row.id);
}

async function openCard(limit = 100_000n) {
  const account = await helpers.openAccount(limit, CURRENCY);
  const card = await helpers.issue(account, { velocityCountMax: 10_000 });
  return { account, card };
}

function key() {
  return { idempotencyKey: randomUUID() };
}

async function trialBalanceBreaks(): Promise<unknown[]> {
  const breaks: unknown[] = [];
  for (const shardId of router.map.shardIds) {
    const { value } = await router.readShard(shardId, checkLedgerBooks, {
      consistency: 'primary',
    });
    breaks.push(...value);
  }
  return breaks;
}

describe('cards on the ledger', () => {
  test('a hold reserves, captures post from the receivable to the merchant, each once', async () => {
    const { account, card } = await openCard();
    const merchantId = `mch_${randomUUID().slice(0, 8)}`;
    const hold = await engine.authorize(request(card, 1_000n, { merchantId }));
    assert.equal(hold.status, 'approved');
    assert.equal(await outboxRows(account.id), 1, 'the hold left one row in its transaction');
    await drainAll();
    assert.deepEqual(await receivable(account), { pending: 1_000n, posted: 0n });
    await viaEngine.capture(hold.id, 400n, key());
    await direct.capture(hold.id, 600n, key());
    await drainAll();
    assert.deepEqual(await receivable(account), { pending: 0n, posted: 1_000n });
    const merchant = await ledgerAccounts.institutionAccount(
      merchantSettlementCodeOf(merchantId),
      CURRENCY,
    );
    assert.equal(merchant.creditsPosted, 1_000n);
    assert.equal(merchant.creditsPending, 0n);
    assert.deepEqual(await transfersOf(hold.id), [
      `card:${hold.id}:0:hold`,
      `card:${hold.id}:1:capture`,
      `card:${hold.id}:1:hold`,
      `card:${hold.id}:2:capture`,
    ]);
    assert.deepEqual(await trialBalanceBreaks(), []);
  });

  test('a crash between posting and marking repeats the events and posts nothing twice', async () => {
    const { account, card } = await openCard();
    const holds = await Promise.all(
      Array.from({ length: 5 }, () => engine.authorize(request(card, 700n))),
    );
    await Promise.all(holds.map((hold) => viaEngine.capture(hold.id, 300n, key())));
    let crashes = 0;
    const crashing = drainOf({
      onPosted: (events: readonly CardLedgerEvent[]) => {
        if (events.some((event) => event.cardAccountId === account.id)) {
          crashes += 1;
          throw new Error('the process died before marking');
        }
      },
    });
    await assert.rejects(crashing.runOnce(undefined, postings), /could not be drained/);
    assert.ok(crashes >= 1);
    assert.ok((await outboxRows(account.id)) > 0, 'the rows are still there');
    const partly = await receivable(account);
    assert.ok(partly.pending + partly.posted > 0n, 'the sink did post before the crash');
    // The restarted drain hands the same events again: answered as replays, then marked.
    await drainAll();
    assert.deepEqual(await receivable(account), { pending: 5n * 400n, posted: 5n * 300n });
    for (const hold of holds) {
      assert.deepEqual(await transfersOf(hold.id), [
        `card:${hold.id}:0:hold`,
        `card:${hold.id}:1:capture`,
        `card:${hold.id}:1:hold`,
      ]);
    }
    // A sink asked again for already posted events answers posted and changes nothing.
    const again = await postings.post([
      {
        authorizationId: holds[0]?.id ?? '',
        generation: 1,
        cardAccountId: account.id,
        merchantId: 'mch_1',
        currency: CURRENCY,
        heldBefore: 700n,
        heldAfter: 400n,
        captured: 300n,
      },
    ]);
    assert.deepEqual(again, [{ posted: true }]);
    assert.deepEqual(await receivable(account), { pending: 5n * 400n, posted: 5n * 300n });
  });

  test('reversals and expiries release the reservation', async () => {
    const { account, card } = await openCard();
    const reversed = await engine.authorize(request(card, 1_000n));
    const lapsing = await engine.authorize(request(card, 500n));
    await viaEngine.reverse(reversed.id, 300n, key());
    await drainAll();
    assert.deepEqual(await receivable(account), { pending: 700n + 500n, posted: 0n });
    await direct.reverse(reversed.id, null, key());
    const released = await new HoldSweeper(router).expireHolds(new Date(Date.now() + 7_200_000));
    assert.ok(released >= 1);
    await drainAll();
    assert.deepEqual(await receivable(account), { pending: 0n, posted: 0n });
    assert.ok((await transfersOf(lapsing.id)).includes(`card:${lapsing.id}:1:release`));
    assert.deepEqual(await helpers.balances(account), { held: 0n, posted: 0n });
  });

  test('a stand-in advice posts when it is forwarded, not before', async () => {
    const { account, card } = await openCard(1_000n);
    const authorizationId = newEntityId('auth', taggedBucket(card.id) ?? 0);
    const advice = {
      ...request(card, 1_500n),
      authorizationId,
      standInStatus: 'approved' as const,
      decidedAt: new Date(Date.now() - 1_000).toISOString(),
    };
    await drainAll();
    assert.deepEqual(await receivable(account), { pending: 0n, posted: 0n });
    const [applied] = await engine.applyAdvices(router.map.shardOf(card.id), [advice]);
    assert.equal(applied?.result, 'exposure', 'over the limit: promised, so held anyway');
    await drainAll();
    assert.deepEqual(await receivable(account), { pending: 1_500n, posted: 0n });
    await viaEngine.capture(authorizationId, null, key());
    await drainAll();
    assert.deepEqual(await receivable(account), { pending: 0n, posted: 1_500n });
  });

  test('after a stream with the drain running, each card account equals the ledger', async () => {
    const running = drainOf({ intervalMs: 50 });
    running.start(postings);
    const opened = await Promise.all(Array.from({ length: 6 }, () => openCard(50_000n)));
    await Promise.all(
      opened.map(async ({ card }, index) => {
        for (let step = 0; step < 12; step += 1) {
          const amount = BigInt(100 + ((index * 37 + step * 53) % 400));
          const authorizer = (index + step) % 2 === 0 ? engine : direct;
          const hold = await authorizer.authorize(request(card, amount));
          if (hold.status !== 'approved') continue;
          const mover = step % 2 === 0 ? viaEngine : direct;
          if (step % 3 === 0) await mover.capture(hold.id, amount / 2n, key());
          if (step % 3 === 0 && step % 2 === 0) await mover.capture(hold.id, null, key());
          if (step % 3 === 1) await mover.reverse(hold.id, null, key());
        }
      }),
    );
    await running.stop();
    await drainAll();
    const check = await checkCardAccountsOnLedger(router, postings);
    assert.equal(check.name, 'card_accounts_equal_ledger');
    assert.deepEqual(check.breaks, []);
    assert.ok(check.ok);
    assert.ok(check.accountsChecked >= opened.length);
    assert.deepEqual(await trialBalanceBreaks(), []);
    const endOfDay = new EndOfDayService(router, {
      checks: [cardLedgerEndOfDayCheck(router, postings)],
    });
    const report = await endOfDay.run();
    assert.deepEqual(
      report.checks.map((one) => [one.name, one.ok]),
      [
        ['trial_balance', true],
        ['books', true],
        ['pending_past_timeout', true],
        ['card_accounts_equal_ledger', true],
      ],
    );
  });

  test('a receivable moved outside the cards is reported as a break with its figures', async () => {
    const { account, card } = await openCard();
    const hold = await engine.authorize(request(card, 800n));
    await viaEngine.capture(hold.id, 800n, key());
    await drainAll();
    const receivableId = postings.receivableIdOf(account.id, CURRENCY);
    const { merchant } = await postings.accountsOf({
      authorizationId: hold.id,
      generation: 99,
      cardAccountId: account.id,
      merchantId: 'mch_1',
      currency: CURRENCY,
      heldBefore: 0n,
      heldAfter: 0n,
      captured: 0n,
    });
    const [stray] = await ledgerEngine.submit([
      {
        kind: 'transfer',
        id: `stray-${randomUUID()}`,
        debitAccountId: receivableId,
        creditAccountId: merchant,
        amount: 25n,
        currency: CURRENCY,
      },
    ]);
    assert.equal(stray?.status, 'posted');
    const check = await checkCardAccountsOnLedger(router, postings, { recheckDelayMs: 10 });
    assert.equal(check.ok, false);
    const mine = check.breaks.filter((one) => one.cardAccountId === account.id);
    assert.deepEqual(mine, [
      {
        cardAccountId: account.id,
        currency: CURRENCY,
        cardHeld: 0n,
        cardPosted: 800n,
        inFlightHeld: 0n,
        inFlightCaptured: 0n,
        ledgerPending: 0n,
        ledgerPosted: 825n,
      },
    ]);
    assert.deepEqual(await trialBalanceBreaks(), [], 'the stray transfer itself balances');
    const report = await new EndOfDayService(router, {
      checks: [cardLedgerEndOfDayCheck(router, postings, { recheckDelayMs: 10 })],
    }).run();
    const cardCheck = report.checks.find((one) => one.name === 'card_accounts_equal_ledger');
    assert.equal(report.ok, false);
    assert.deepEqual(
      cardCheck?.breaks.filter((one) => one.subject.startsWith(account.id)),
      [
        {
          kind: CARD_ACCOUNT_BREAK_KIND,
          shardId: router.map.shardOf(account.id),
          subject: `${account.id} ${CURRENCY}`,
          expected: 'pending 0 posted 800 (card held 0, posted 800; in flight held 0, captured 0)',
          actual: 'pending 0 posted 825',
        },
      ],
    );
  });
});
