/**
 * The ledger's batch function on a real fleet (decision 49): every rule of
 * `ledger_apply_batch` through its one caller, `applyLedgerBatch`, in one shard transaction per
 * call, the way the engine will call it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { newEntityId } from '../../../src/data/entity-id.ts';
import type { Router } from '../../../src/data/router.ts';
import type {
  LedgerOutcome,
  LedgerRequest,
} from '../../../src/domains/ledger/core/ledger-types.ts';
import { LEDGER_MIGRATIONS } from '../../../src/domains/ledger/sql/ledger-migrations.ts';
import {
  insertLedgerAccount,
  type NewLedgerAccount,
  readLedgerTotals,
  readLedgerTotalsAt,
} from '../../../src/domains/ledger/store/ledger-accounts.ts';
import { applyLedgerBatch } from '../../../src/domains/ledger/store/ledger-batch.ts';
import { checkLedgerBooks } from '../../../src/domains/ledger/store/ledger-checks.ts';
import { type FleetFixture, startFleet } from '../../support/fleet-fixture.ts';

let fixture: FleetFixture;
let router: Router;
let shardId: number;
let bucket: number;
let counter = 0;

before(async () => {
  fixture = await startFleet('ledger-batch', {}, [LEDGER_MIGRATIONS]);
  router = await fixture.router();
  const range = router.map.snapshot.buckets[0];
  assert.ok(range);
  shardId = range.shardId;
  bucket = range.first;
});

after(async () => {
  await fixture?.stop();
});

/** Opens an account on the test shard. */
async function open(fields: Partial<NewLedgerAccount> = {}): Promise<string> {
  const id = newEntityId('lacc', bucket);
  await router.writeToShard(shardId, (tx) =>
    insertLedgerAccount(tx, { id, currency: 'CNY', kind: 'deposit', ...fields }),
  );
  return id;
}

/** A fresh client id. */
function rid(label: string): string {
  counter += 1;
  return `${label}-${process.pid}-${counter}`;
}

async function apply(requests: LedgerRequest[]): Promise<LedgerOutcome[]> {
  return (await router.writeToShard(shardId, (tx) => applyLedgerBatch(tx, requests))).value;
}

async function totals(accountId: string) {
  const read = await router.queryServer(primaryId(), `shard_${shardId}`, (db) =>
    readLedgerTotals(db, accountId),
  );
  assert.ok(read, `account ${accountId} exists`);
  return read;
}

function primaryId(): string {
  const primary = router.map.route(shardId).primary;
  assert.ok(primary);
  return primary.id;
}

const transfer = (
  debitAccountId: string,
  creditAccountId: string,
  amount: bigint,
  extra: Partial<LedgerRequest> = {},
): LedgerRequest =>
  ({
    kind: 'transfer',
    id: rid('t'),
    debitAccountId,
    creditAccountId,
    amount,
    currency: 'CNY',
    ...extra,
  }) as LedgerRequest;

const statuses = (outcomes: LedgerOutcome[]) => outcomes.map((o) => o.status);

describe('ledger_apply_batch on a real shard', () => {
  test('a transfer posts both sides; a guarded account cannot go below zero', async () => {
    const funding = await open({ kind: 'settlement', stripe: { code: rid('funding'), number: 0 } });
    const wallet = await open({ debitsMustNotExceedCredits: true });
    const other = await open({ debitsMustNotExceedCredits: true });
    const outcomes = await apply([
      transfer(funding, wallet, 1_000n),
      transfer(wallet, other, 600n),
      transfer(wallet, other, 600n),
      transfer(wallet, other, 400n),
    ]);
    assert.deepEqual(statuses(outcomes), ['posted', 'posted', 'insufficient_funds', 'posted']);
    const w = await totals(wallet);
    assert.equal(w.creditsPosted - w.debitsPosted, 0n);
    assert.equal(w.seq, 3n, 'one posting per change');
    const o = await totals(other);
    assert.equal(o.creditsPosted, 1_000n);
  });

  test('concurrent batches on the same guarded account never overdraw it', async () => {
    const funding = await open({ kind: 'settlement', stripe: { code: rid('funding'), number: 0 } });
    const wallet = await open({ debitsMustNotExceedCredits: true });
    const sink = await open({ kind: 'fees', stripe: { code: rid('sink'), number: 0 } });
    await apply([transfer(funding, wallet, 1_000n)]);
    const all = await Promise.all(
      Array.from({ length: 8 }, () =>
        apply(Array.from({ length: 5 }, () => transfer(wallet, sink, 30n))),
      ),
    );
    const posted = all.flat().filter((o) => o.status === 'posted').length;
    assert.equal(posted, 33, '1,000 / 30 = 33 withdrawals fit');
    const w = await totals(wallet);
    assert.equal(w.debitsPosted, 990n);
    assert.ok(w.debitsPosted <= w.creditsPosted);
  });

  test('two-phase: pending reserves; a partial post releases the rest; void; expiry', async () => {
    const funding = await open({ kind: 'settlement', stripe: { code: rid('funding'), number: 0 } });
    const wallet = await open({ debitsMustNotExceedCredits: true });
    const merchant = await open();
    await apply([transfer(funding, wallet, 1_000n)]);
    const hold = transfer(wallet, merchant, 700n, { kind: 'pending', timeoutSeconds: 60 });
    const [reserved] = await apply([hold, transfer(wallet, merchant, 400n)]);
    assert.equal(reserved?.status, 'pending');
    let w = await totals(wallet);
    assert.equal(w.debitsPending, 700n);
    assert.equal(w.debitsPosted, 0n, 'the second transfer did not fit beside the reservation');
    const post = { kind: 'post' as const, id: rid('post'), pendingId: hold.id, amount: 500n };
    const [posted] = await apply([post]);
    assert.equal(`${posted?.status} ${posted?.amount}`, 'posted 500');
    w = await totals(wallet);
    assert.deepEqual([w.debitsPosted, w.debitsPending], [500n, 0n], 'the other 200 released');
    const again = await apply([{ kind: 'void', id: rid('void'), pendingId: hold.id }]);
    assert.deepEqual(statuses(again), ['pending_transfer_already_posted']);
    const replay = await apply([post]);
    assert.deepEqual(
      replay.map((o) => `${o.status} ${o.replayed} ${o.amount}`),
      ['posted true 500'],
    );
    const second = transfer(wallet, merchant, 300n, { kind: 'pending', timeoutSeconds: 60 });
    await apply([second]);
    const [voided] = await apply([{ kind: 'void', id: rid('void'), pendingId: second.id }]);
    assert.equal(voided?.status, 'voided');
    w = await totals(wallet);
    assert.deepEqual([w.debitsPosted, w.debitsPending], [500n, 0n]);
    const short = transfer(wallet, merchant, 100n, { kind: 'pending', timeoutSeconds: 1 });
    await apply([short]);
    const early = await apply([{ kind: 'expire', id: rid('exp'), pendingId: short.id }]);
    assert.deepEqual(statuses(early), ['pending_transfer_not_expired']);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const late = await apply([
      { kind: 'post', id: rid('post'), pendingId: short.id },
      { kind: 'expire', id: rid('exp'), pendingId: short.id },
    ]);
    assert.deepEqual(statuses(late), ['pending_transfer_expired', 'expired']);
    w = await totals(wallet);
    assert.deepEqual([w.debitsPosted, w.debitsPending], [500n, 0n]);
  });

  test('linked requests are applied whole or not at all; a chain cut by the batch end is refused', async () => {
    const funding = await open({ kind: 'settlement', stripe: { code: rid('funding'), number: 0 } });
    const wallet = await open({ debitsMustNotExceedCredits: true });
    const a = await open();
    const b = await open();
    await apply([transfer(funding, wallet, 100n)]);
    const chain = [
      transfer(wallet, a, 60n, { linked: true }),
      transfer(wallet, b, 60n, { linked: true }),
      transfer(a, b, 1n),
    ];
    const outcomes = await apply([...chain, transfer(wallet, a, 10n)]);
    assert.deepEqual(statuses(outcomes), [
      'linked_event_failed',
      'insufficient_funds',
      'linked_event_failed',
      'posted',
    ]);
    assert.equal((await totals(wallet)).debitsPosted, 10n, 'only the unlinked transfer');
    assert.equal((await totals(b)).creditsPosted, 0n);
    const retried = await apply(chain);
    assert.deepEqual(
      retried.map((o) => `${o.status} ${o.replayed}`),
      ['linked_event_failed true', 'insufficient_funds true', 'linked_event_failed true'],
      'a retry of the chain answers its first outcome',
    );
    const good = [transfer(wallet, a, 40n, { linked: true }), transfer(wallet, b, 50n)];
    assert.deepEqual(statuses(await apply(good)), ['posted', 'posted']);
    const cut = await apply([transfer(a, b, 1n, { linked: true })]);
    assert.deepEqual(statuses(cut), ['linked_chain_open']);
  });

  test('a chain fails whole on an unknown pending id, a reused id or a changed retry, and no batch fails', async () => {
    const funding = await open({ kind: 'settlement', stripe: { code: rid('funding'), number: 0 } });
    const wallet = await open({ debitsMustNotExceedCredits: true });
    const a = await open();
    await apply([transfer(funding, wallet, 100n)]);
    // An unknown pending id fails the chain: the transfer before it is not applied.
    const unknown = await apply([
      transfer(wallet, a, 30n, { linked: true }),
      { kind: 'void', id: rid('v'), pendingId: rid('no-such-pending') },
    ]);
    assert.deepEqual(statuses(unknown), ['linked_event_failed', 'pending_transfer_not_found']);
    assert.equal((await totals(wallet)).debitsPosted, 0n, 'nothing of the chain moved');
    // A member after the failing one that reuses a stored id: answered as its replay, and the
    // batch (with an unlinked transfer after the chain) commits.
    const stored = transfer(funding, a, 5n);
    await apply([stored]);
    const reused = await apply([
      transfer(wallet, a, 500n, { linked: true }),
      { ...stored, linked: true } as LedgerRequest,
      transfer(wallet, a, 1n),
      transfer(wallet, a, 7n),
    ]);
    assert.deepEqual(
      reused.map((o) => `${o.status} ${o.replayed}`),
      ['insufficient_funds false', 'posted true', 'linked_event_failed false', 'posted false'],
    );
    // A changed retry inside a chain fails it; the first outcome of that id stays as it was.
    const changed = await apply([
      transfer(wallet, a, 20n, { linked: true }),
      { ...stored, amount: 6n } as LedgerRequest,
    ]);
    assert.deepEqual(statuses(changed), ['linked_event_failed', 'exists_with_different_fields']);
    const w = await totals(wallet);
    assert.equal(w.debitsPosted, 7n, 'only the unlinked transfer moved the wallet');
    const books = await router.queryServer(primaryId(), `shard_${shardId}`, (db) =>
      checkLedgerBooks(db),
    );
    assert.deepEqual(books, []);
  });

  test('retries: the same id and fields answer the first outcome; other fields are refused', async () => {
    const funding = await open({ kind: 'settlement', stripe: { code: rid('funding'), number: 0 } });
    const wallet = await open();
    const first = transfer(funding, wallet, 250n);
    const [once] = await apply([first]);
    const again = await apply([first, { ...first, amount: 251n } as LedgerRequest]);
    assert.deepEqual(
      again.map((o) => `${o.status} ${o.replayed}`),
      ['posted true', 'exists_with_different_fields false'],
    );
    assert.equal(again[0]?.createdAt.getTime(), once?.createdAt.getTime());
    const twin = transfer(funding, wallet, 5n);
    const inBatch = await apply([twin, twin, { ...twin, amount: 6n } as LedgerRequest]);
    assert.deepEqual(
      inBatch.map((o) => `${o.status} ${o.replayed}`),
      ['posted false', 'posted true', 'exists_with_different_fields false'],
    );
    assert.equal((await totals(wallet)).creditsPosted, 255n, 'each applied once');
  });

  test('refusals: unknown accounts, currencies, closed accounts, overflow; nothing moves', async () => {
    const funding = await open({ kind: 'settlement', stripe: { code: rid('funding'), number: 0 } });
    const wallet = await open();
    const dollars = await open({ currency: 'USD' });
    const missing = newEntityId('lacc', bucket);
    const outcomes = await apply([
      transfer(missing, wallet, 1n),
      transfer(funding, missing, 1n),
      transfer(funding, dollars, 1n),
      transfer(funding, wallet, 1n, { currency: 'USD' } as Partial<LedgerRequest>),
      transfer(funding, wallet, 9_223_372_036_854_775_807n),
      transfer(funding, wallet, 1n),
      transfer(funding, wallet, 9_223_372_036_854_775_807n),
    ]);
    assert.deepEqual(statuses(outcomes), [
      'debit_account_not_found',
      'credit_account_not_found',
      'currency_mismatch',
      'currency_mismatch',
      'posted',
      'overflows',
      'overflows',
    ]);
    await router.writeToShard(shardId, (tx) =>
      tx.query('UPDATE public.ledger_accounts SET closed = true WHERE id = $1', [dollars]),
    );
    const usd = await open({
      currency: 'USD',
      kind: 'settlement',
      stripe: { code: rid('usd'), number: 0 },
    });
    const closed = await apply([
      { ...transfer(usd, dollars, 1n), currency: 'USD' } as LedgerRequest,
    ]);
    assert.deepEqual(statuses(closed), ['account_closed']);
    assert.equal((await totals(dollars)).creditsPosted, 0n);
  });

  test('the balance at any past time equals the replay of the postings up to it', async () => {
    const funding = await open({ kind: 'settlement', stripe: { code: rid('funding'), number: 0 } });
    const wallet = await open({ debitsMustNotExceedCredits: true });
    const shop = await open();
    const marks: { at: Date; expected: bigint }[] = [];
    let balance = 0n;
    for (let step = 0; step < 12; step += 1) {
      const amount = BigInt(10 + step);
      const out = step % 3 === 2;
      await apply([out ? transfer(wallet, shop, amount) : transfer(funding, wallet, amount)]);
      balance += out ? -amount : amount;
      marks.push({ at: new Date(), expected: balance });
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const server = primaryId();
    for (const mark of marks) {
      const then = await router.queryServer(server, `shard_${shardId}`, (db) =>
        readLedgerTotalsAt(db, wallet, mark.at),
      );
      assert.equal(then.creditsPosted - then.debitsPosted, mark.expected);
    }
    const before = await router.queryServer(server, `shard_${shardId}`, (db) =>
      readLedgerTotalsAt(db, wallet, new Date(0)),
    );
    assert.equal(before.seq, 0n);
    // Every transfer's postings balance: debits equal credits over the shard.
    const sums = await router.queryServer(server, `shard_${shardId}`, (db) =>
      db.query<{ d: string; c: string; pd: string; pc: string }>(
        `SELECT sum(debit)::text AS d, sum(credit)::text AS c, sum(debit_pending)::text AS pd,
                sum(credit_pending)::text AS pc FROM public.ledger_postings`,
      ),
    );
    const row = sums.rows[0];
    assert.equal(row?.d, row?.c);
    assert.equal(row?.pd, row?.pc);
  });

  test('the end-of-day checks pass on these books, and name each break of altered ones', async () => {
    const server = primaryId();
    const database = `shard_${shardId}`;
    assert.deepEqual(await router.queryServer(server, database, checkLedgerBooks), []);
    const funding = await open({ kind: 'settlement', stripe: { code: rid('funding'), number: 0 } });
    const wallet = await open();
    await apply([transfer(funding, wallet, 77n)]);
    // Someone with the database's keys adds a yuan to one account behind the ledger's back.
    await router.writeToShard(shardId, (tx) =>
      tx.query(
        'UPDATE public.ledger_accounts SET credits_posted = credits_posted + 1 WHERE id = $1',
        [wallet],
      ),
    );
    const breaks = await router.queryServer(server, database, checkLedgerBooks);
    assert.deepEqual(breaks.map((b) => `${b.check} ${b.subject}`).sort(), [
      `account_totals ${wallet}`,
      `last_posting_totals ${wallet}`,
      'trial_balance_posted CNY',
    ]);
    await router.writeToShard(shardId, (tx) =>
      tx.query(
        'UPDATE public.ledger_accounts SET credits_posted = credits_posted - 1 WHERE id = $1',
        [wallet],
      ),
    );
    assert.deepEqual(await router.queryServer(server, database, checkLedgerBooks), []);

    // A unit moved from one transfer's leg to another's on the same account: every account's
    // totals, its last posting and the trial balance still hold; the legs and the running
    // totals of the posting in between do not.
    const first = transfer(funding, wallet, 10n);
    const second = transfer(funding, wallet, 20n);
    await apply([first, second]);
    const moveUnit = (by: number) =>
      router.writeToShard(shardId, (tx) =>
        tx.query(
          `UPDATE public.ledger_postings
              SET credit = credit + CASE WHEN transfer_id = $2 THEN $4::bigint ELSE -$4::bigint END
            WHERE account_id = $1 AND transfer_id IN ($2, $3)`,
          [wallet, first.id, second.id, by],
        ),
      );
    await moveUnit(1);
    const shifted = await router.queryServer(server, database, checkLedgerBooks);
    const { rows: seqs } = await router.queryServer(server, database, (db) =>
      db.query<{ seq: string }>(
        'SELECT seq::text AS seq FROM public.ledger_postings WHERE account_id = $1 AND transfer_id = $2',
        [wallet, first.id],
      ),
    );
    assert.deepEqual(shifted.map((b) => `${b.check} ${b.subject}`).sort(), [
      `posting_running_totals ${wallet} #${seqs[0]?.seq}`,
      `transfer_legs ${first.id} CNY`,
      `transfer_legs ${second.id} CNY`,
    ]);
    await moveUnit(-1);
    assert.deepEqual(await router.queryServer(server, database, checkLedgerBooks), []);
  });

  test('settlement windows: each posting in the window open at its commit; a close is idempotent', async () => {
    const counterparty = rid('acquirer');
    const funding = await open({ kind: 'settlement', stripe: { code: rid('funding'), number: 0 } });
    const settlement = await open({
      kind: 'settlement',
      ownerId: counterparty,
      stripe: { code: rid('settle'), number: 0 },
    });
    const payer = await open();
    await apply([transfer(funding, payer, 1_000_000n)]);
    const close = (window: number) =>
      router.writeToShard(shardId, async (tx) => {
        const { rows } = await tx.query<{ o_outcome: string; o_current: string | null }>(
          'SELECT o_outcome, o_current::text FROM public.ledger_close_window($1, $2)',
          [counterparty, window],
        );
        return `${rows[0]?.o_outcome} ${rows[0]?.o_current}`;
      });
    // Payments stream while the window closes in the middle of them.
    let closing: Promise<unknown> | undefined;
    const payments = Array.from({ length: 12 }, async (_, index) => {
      if (index === 6) closing = close(1);
      return apply(Array.from({ length: 5 }, () => transfer(payer, settlement, 10n)));
    });
    await Promise.all(payments);
    const closed = (await closing) as { value: string };
    assert.equal(closed.value, 'closed 2');
    const { rows } = await router.queryServer(primaryId(), `shard_${shardId}`, (db) =>
      db.query<{ window_number: string }>(
        'SELECT window_number::text FROM public.ledger_postings WHERE account_id = $1 ORDER BY seq',
        [settlement],
      ),
    );
    assert.equal(rows.length, 60);
    const windows = rows.map((row) => Number(row.window_number));
    assert.deepEqual(
      [...windows].sort((a, b) => a - b),
      windows,
      `windows never go back along seq: ${windows.join('')}`,
    );
    const position = async (window: number) =>
      (
        await router.queryServer(primaryId(), `shard_${shardId}`, (db) =>
          db.query<{ o_credits: string; o_postings: string }>(
            'SELECT o_credits::text, o_postings::text FROM public.ledger_window_position($1, $2)',
            [counterparty, window],
          ),
        )
      ).rows[0];
    const first = await position(1);
    const second = await position(2);
    assert.equal(Number(first?.o_postings ?? 0) + Number(second?.o_postings ?? 0), 60);
    assert.equal(BigInt(first?.o_credits ?? 0) + BigInt(second?.o_credits ?? 0), 600n);
    assert.equal((await close(1)).value, 'already_closed 2');
    assert.equal((await close(5)).value, 'not_open_yet 2');
  });
});
