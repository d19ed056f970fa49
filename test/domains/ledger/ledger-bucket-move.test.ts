/**
 * A bucket the ledger's books name moves to another shard (decision 58, "balance brought
 * forward"), on a real fleet: each account's balance leaves by a transfer to the source's
 * clearing stripe and arrives by one from the target's, in the cutover; transfers written to
 * the bucket's accounts throughout the move are all kept; every decided transfer is answered on
 * the new shard, never applied again; both shards' books balance and the clearing stripes
 * cancel; the statement and past balances read the history where it stayed; state that needs
 * both shards (an open pending transfer) refuses the move; and the bucket moves back.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type pg from 'pg';
import { bucketOf } from '../../../src/data/bucket-hash.ts';
import { newEntityId } from '../../../src/data/entity-id.ts';
import { IDEMPOTENCY_MIGRATIONS } from '../../../src/data/idempotency.ts';
import type { Router } from '../../../src/data/router.ts';
import { LedgerAccountService } from '../../../src/domains/ledger/core/ledger-account-service.ts';
import type { LedgerRequest, MoveRequest } from '../../../src/domains/ledger/core/ledger-types.ts';
import type { BatchLine } from '../../../src/domains/ledger/payments/core/batch-file.ts';
import {
  countBatchStatuses,
  insertBatch,
  readBatch,
} from '../../../src/domains/ledger/payments/store/batch-store.ts';
import {
  claimQrCode,
  endQrClaim,
  insertQrCode,
  readQrCode,
} from '../../../src/domains/ledger/payments/store/qr-store.ts';
import {
  insertWindowClose,
  readWindowClose,
} from '../../../src/domains/ledger/settlement/store/settlement-store.ts';
import { LEDGER_MIGRATIONS } from '../../../src/domains/ledger/sql/ledger-migrations.ts';
import { insertLedgerAccount } from '../../../src/domains/ledger/store/ledger-accounts.ts';
import { applyLedgerBatch } from '../../../src/domains/ledger/store/ledger-batch.ts';
import { CLEARING_CODE } from '../../../src/domains/ledger/store/ledger-bucket-carry.ts';
import { checkLedgerBooks } from '../../../src/domains/ledger/store/ledger-checks.ts';
import { isMainstayError } from '../../../src/errors/mainstay-error.ts';
import {
  abandonBucketMove,
  moveBucket,
  preflightBucketMove,
} from '../../../src/fleet/bucket-move.ts';
import type { BucketCarrier } from '../../../src/migrations/bucket-carry.ts';
import type { MigrationSet } from '../../../src/migrations/migration.ts';
import { eventually, type FleetFixture, startFleet } from '../../support/fleet-fixture.ts';

const CURRENCY = 'EUR';
/** The bucket moved (on shard 0), a bucket of shard 0 that stays, and where it goes. */
const BUCKET = 7;
const STAYING = 8;
const FROM = 0;
const TO = 1;

/** A bucket of shard 0 moved by a move whose target fails to commit the arrival. */
const CRASHED = 9;
/** A bucket of shard 0 whose QR codes, payment batch and window close move with it. */
const KEYED = 10;
/** A bucket of shard 0 whose move meets a target shard that hangs in the cutover. */
const HUNG = 11;

/**
 * The ledger's carrier, able to make the target's commit of one arrival fail after the source
 * committed its departure (a deferred unique check that fails at COMMIT): the window a crash
 * between the two commits leaves.
 */
const carrier = LEDGER_MIGRATIONS.bucketCarrier as BucketCarrier;
let breakNextArrivalCommit = false;
/** Run once as the next cutover begins its pause (a shard made to hang there). */
let atNextPause: (() => void) | null = null;
const LEDGER_WITH_FAULT: MigrationSet = {
  ...LEDGER_MIGRATIONS,
  bucketCarrier: {
    ...carrier,
    async hold(source, move, plan) {
      const fault = atNextPause;
      atNextPause = null;
      fault?.();
      return carrier.hold(source, move, plan);
    },
    async arrive(source, target, move, plan) {
      const arrived = await carrier.arrive(source, target, move, plan);
      if (breakNextArrivalCommit) {
        breakNextArrivalCommit = false;
        await target.query(
          'CREATE TEMP TABLE commit_breaker (id integer UNIQUE DEFERRABLE INITIALLY DEFERRED) ON COMMIT DROP',
        );
        await target.query('INSERT INTO commit_breaker VALUES (1), (1)');
      }
      return arrived;
    },
  },
};

let fixture: FleetFixture;
let router: Router;
let accounts: LedgerAccountService;
let counter = 0;

function rid(label: string): string {
  counter += 1;
  return `${label}-${process.pid}-${counter}`;
}

/** Opens an account in `bucket`, guarded (debits within credits) or not. */
async function openIn(bucket: number, guarded: boolean): Promise<string> {
  const id = newEntityId('lacc', bucket);
  await router.write(id, (tx) =>
    insertLedgerAccount(tx, {
      id,
      currency: CURRENCY,
      kind: 'wallet',
      debitsMustNotExceedCredits: guarded,
    }),
  );
  return id;
}

function transfer(id: string, debit: string, credit: string, amount: bigint): MoveRequest {
  return {
    kind: 'transfer',
    id,
    debitAccountId: debit,
    creditAccountId: credit,
    amount,
    currency: CURRENCY,
  };
}

/** Applies requests on the shard of `key` (the router retries a write the fence refused). */
async function apply(key: string, requests: readonly LedgerRequest[]) {
  return (await router.write(key, (tx) => applyLedgerBatch(tx, requests))).value;
}

async function onShard<T>(shardId: number, work: (db: pg.ClientBase) => Promise<T>): Promise<T> {
  return (await router.writeToShard(shardId, work)).value;
}

async function balanceOf(id: string): Promise<bigint> {
  return (await accounts.getAccount(id)).balance;
}

/** Every line of the account's statement, newest first, walked in pages of `limit`. */
async function wholeStatement(id: string, limit: number) {
  const lines = [];
  let startingAfter: string | undefined;
  for (;;) {
    const page = await accounts.statement(id, {
      limit,
      ...(startingAfter === undefined ? {} : { startingAfter }),
    });
    lines.push(...page.data);
    if (!page.hasMore) return lines;
    startingAfter = page.nextCursor as string;
  }
}

/** The clearing stripes' balances over every shard, per shard. */
async function clearing(): Promise<Map<number, bigint>> {
  const found = new Map<number, bigint>();
  for (const shardId of router.map.shardIds) {
    const rows = await onShard(shardId, async (db) => {
      const { rows } = await db.query<{ b: string }>(
        `SELECT coalesce(sum(credits_posted - debits_posted), 0)::text AS b
           FROM public.ledger_accounts WHERE code = $1`,
        [CLEARING_CODE],
      );
      return rows;
    });
    found.set(shardId, BigInt(rows[0]?.b ?? '0'));
  }
  return found;
}

async function assertBooksBalance(): Promise<void> {
  for (const shardId of router.map.shardIds) {
    const breaks = await onShard(shardId, (db) => checkLedgerBooks(db));
    assert.deepEqual(breaks, [], `shard ${shardId} books`);
  }
  const total = [...(await clearing()).values()].reduce((a, b) => a + b, 0n);
  assert.equal(total, 0n, 'the clearing stripes cancel over the fleet');
}

before(async () => {
  fixture = await startFleet('ledger-bucket-move', {}, [IDEMPOTENCY_MIGRATIONS, LEDGER_WITH_FAULT]);
  router = await fixture.router({ writeWaitMs: 10_000, connectTimeoutMs: 5_000 });
  accounts = new LedgerAccountService(router, { stripesPerShard: 1 });
  await accounts.openInstitutionAccount({ code: 'funding', kind: 'suspense', currency: CURRENCY });
  assert.equal(router.map.shardOf(newEntityId('lacc', BUCKET)), FROM);
  assert.equal(router.map.shardOf(newEntityId('lacc', STAYING)), FROM);
  assert.equal(router.map.shardOf(newEntityId('lacc', CRASHED)), FROM);
  assert.equal(router.map.shardOf(newEntityId('lacc', KEYED)), FROM);
  assert.equal(router.map.shardOf(newEntityId('lacc', HUNG)), FROM);
});

after(async () => {
  await fixture?.stop();
});

describe('a bucket the books name moves with its balances', () => {
  let payer: string;
  let payee: string;
  let neighbour: string;
  let funding: string;
  const decided: { key: string; request: LedgerRequest; status: string }[] = [];
  let balancesBefore: [bigint, bigint];
  let beforeMove: Date;

  test('the accounts of the bucket, with transfers of every outcome', async () => {
    payer = await openIn(BUCKET, true);
    payee = await openIn(BUCKET, false);
    neighbour = await openIn(STAYING, false);
    [funding] = (await accounts.stripesOn('funding', CURRENCY, FROM)) as [string];
    const requests: [string, LedgerRequest][] = [
      [payer, transfer(rid('fund'), funding, payer, 10_000n)],
      [payer, transfer(rid('pay'), payer, payee, 1_000n)],
      [payer, transfer(rid('neighbour'), payer, neighbour, 2_500n)],
      [payer, transfer(rid('too-much'), payer, payee, 1_000_000n)],
      [
        payer,
        { ...transfer(rid('hold'), payer, payee, 500n), kind: 'pending', timeoutSeconds: 600 },
      ],
    ];
    for (const [key, request] of requests) {
      const [outcome] = await apply(key, [request]);
      decided.push({ key, request, status: outcome?.status as string });
    }
    const hold = decided.at(-1)?.request.id as string;
    const postId = rid('post');
    const [posted] = await apply(payer, [{ kind: 'post', id: postId, pendingId: hold }]);
    decided.push({
      key: payer,
      request: { kind: 'post', id: postId, pendingId: hold },
      status: posted?.status as string,
    });
    assert.deepEqual(
      decided.map((d) => d.status),
      ['posted', 'posted', 'posted', 'insufficient_funds', 'pending', 'posted'],
    );
    // More decided refusals than one page of the answers' copy (2,000), written as the engine
    // stores a refusal: a transfer row, no postings.
    const refusedPrefix = `${rid('refused')}-`;
    await onShard(FROM, (db) =>
      db.query(
        `INSERT INTO public.ledger_transfers (id, kind, debit_account_id, credit_account_id,
                amount, currency, status, created_at, updated_at)
         SELECT $1 || g, 'transfer', $2, $3, 1000000, $4, 'insufficient_funds', now(), now()
           FROM generate_series(1, 2500) g`,
        [refusedPrefix, payer, payee, CURRENCY],
      ),
    );
    for (const n of [1, 2_500])
      decided.push({
        key: payer,
        request: transfer(`${refusedPrefix}${n}`, payer, payee, 1_000_000n),
        status: 'insufficient_funds',
      });
    balancesBefore = [await balanceOf(payer), await balanceOf(payee)];
    assert.deepEqual(balancesBefore, [6_000n, 1_500n]);
    beforeMove = new Date();
  });

  test('an open pending transfer naming the bucket refuses the move; once voided it moves', async () => {
    const hold = rid('open-hold');
    await apply(payer, [
      { ...transfer(hold, payer, payee, 100n), kind: 'pending', timeoutSeconds: 600 },
    ]);
    await assert.rejects(
      preflightBucketMove(fixture.fleet, { bucket: BUCKET, toShard: TO }),
      (error) => {
        assert.ok(
          isMainstayError(error) && error.code === 'bucket_move_unattributed',
          String(error),
        );
        assert.match(error.message, /ledger_transfers \(1 open pending transfers name bucket 7/);
        return true;
      },
    );
    const voidId = rid('void');
    const [voided] = await apply(payer, [{ kind: 'void', id: voidId, pendingId: hold }]);
    assert.equal(voided?.status, 'voided');
    decided.push({
      key: payer,
      request: { kind: 'void', id: voidId, pendingId: hold },
      status: 'voided',
    });
    await preflightBucketMove(fixture.fleet, { bucket: BUCKET, toShard: TO });
  });

  test('moved while transfers go on: every acknowledged one kept, every one answered once', async () => {
    let writing = true;
    const acknowledged: LedgerRequest[] = [];
    const refused: string[] = [];
    const writer = (async () => {
      while (writing) {
        const request = transfer(rid('during'), payer, payee, 1n);
        try {
          const [outcome] = await apply(payer, [request]);
          if (outcome?.status === 'posted') acknowledged.push(request);
          else refused.push(outcome?.status ?? 'none');
        } catch (error) {
          refused.push(String(error));
        }
      }
    })();
    const report = await moveBucket(fixture.fleet, { bucket: BUCKET, toShard: TO });
    await new Promise((resolve) => setTimeout(resolve, 300));
    writing = false;
    await writer;
    console.log(
      `moved: pause ${report.cutover?.pauseMs.toFixed(0)} ms, carried ${JSON.stringify(report.cutover?.carried)}; ` +
        `${acknowledged.length} transfers acknowledged during the move, ${refused.length} refused ${JSON.stringify(refused.slice(0, 3))}`,
    );
    assert.equal(report.verification.ok, true, JSON.stringify(report.verification));
    assert.ok((report.cutover?.carried.departed ?? 0) >= 2);
    assert.ok(acknowledged.length > 0, 'transfers were written during the move');
    await router.refresh();
    assert.equal(router.map.shardOf(payer), TO);

    const n = BigInt(acknowledged.length);
    assert.deepEqual(
      [await balanceOf(payer), await balanceOf(payee)],
      [balancesBefore[0] - n, balancesBefore[1] + n],
    );
    // Every decided transfer, retried now, is answered from its record on the new shard.
    for (const { key, request, status } of decided) {
      const [again] = await apply(key, [request]);
      assert.equal(again?.status, status, request.id);
      assert.equal(again?.replayed, true, request.id);
    }
    for (const request of acknowledged) {
      const [again] = await apply(payer, [request]);
      assert.deepEqual([again?.status, again?.replayed], ['posted', true], request.id);
    }
    assert.deepEqual(
      [await balanceOf(payer), await balanceOf(payee)],
      [balancesBefore[0] - n, balancesBefore[1] + n],
    );
    // The account left on the source is closed there, naming where it went.
    const left = await onShard(FROM, async (db) => {
      const { rows } = await db.query<{ closed: boolean; to: number; b: string }>(
        `SELECT closed, (carried_to->>'shard')::int AS to, (credits_posted - debits_posted)::text AS b
           FROM public.ledger_accounts WHERE id = $1`,
        [payer],
      );
      return rows[0];
    });
    assert.deepEqual(left, { closed: true, to: TO, b: '0' });
    await assertBooksBalance();
    const stripes = await clearing();
    assert.equal(stripes.get(FROM), balancesBefore[0] + balancesBefore[1]);

    // New transfers go on at the new shard, the guard holding as before.
    const [more] = await apply(payer, [transfer(rid('after'), payer, payee, 1n)]);
    assert.equal(more?.status, 'posted');
    const [tooMuch] = await apply(payer, [
      transfer(rid('after-too-much'), payer, payee, 1_000_000n),
    ]);
    assert.equal(tooMuch?.status, 'insufficient_funds');
  });

  test('the statement reads on through the shard the history stayed on; past balances too', async () => {
    const lines = await wholeStatement(payer, 2);
    // Here: the balance brought forward, the transfers after it. There: everything before.
    const transfers = lines.map((line) => line.transferId);
    const carriedIn = transfers.findIndex(
      (id) => id.startsWith(`${CLEARING_CODE}:`) && id.endsWith(':in'),
    );
    const carriedOut = transfers.findIndex(
      (id) => id.startsWith(`${CLEARING_CODE}:`) && id.endsWith(':out'),
    );
    assert.ok(carriedIn >= 0 && carriedOut === carriedIn + 1, transfers.join(' '));
    assert.equal(lines[carriedIn]?.balance, lines[carriedOut - 1 + 1 - 1]?.balance);
    assert.equal(lines[carriedOut]?.balance, 0n);
    assert.equal(lines.at(-1)?.transferId, decided[0]?.request.id);
    // Newest first, the balance moving by each line's amounts.
    for (let i = 0; i + 1 < lines.length; i += 1) {
      const [newer, older] = [lines[i], lines[i + 1]] as [(typeof lines)[0], (typeof lines)[0]];
      if (i === carriedOut - 1) continue; // the pair: out to zero, then in from zero
      assert.equal(newer.balance - older.balance, newer.credit - newer.debit, `line ${i}`);
    }
    assert.deepEqual(
      lines.map((l) => l.transferId),
      (await wholeStatement(payer, 100)).map((l) => l.transferId),
      'pages of 2 and of 100 agree',
    );
    // A cursor is `<seq>` or `<part>.<seq>`; anything else, hostile bytes too, is refused.
    for (const bad of ['0.5', '1.', '.5', '1.\u0000', '\u00001', '10000.1', '1.2.3', '1.-2'])
      await assert.rejects(accounts.statement(payer, { limit: 2, startingAfter: bad }), (error) =>
        isMainstayError(error, 'invalid_request'),
      );
    const past = await accounts.balanceAt(payer, beforeMove);
    assert.equal(past.balance, balancesBefore[0]);
  });

  test('the bucket moves back; the account continues where it lived before', async () => {
    const balances = [await balanceOf(payer), await balanceOf(payee)];
    const before = await wholeStatement(payer, 100);
    const report = await moveBucket(fixture.fleet, { bucket: BUCKET, toShard: FROM });
    assert.equal(report.verification.ok, true, JSON.stringify(report.verification));
    await router.refresh();
    assert.equal(router.map.shardOf(payer), FROM);
    assert.deepEqual([await balanceOf(payer), await balanceOf(payee)], balances);
    const after = await wholeStatement(payer, 3);
    assert.equal(after.length, before.length + 2, 'one more pair: out of shard 1, into shard 0');
    assert.deepEqual(
      after.slice(2).map((l) => l.transferId),
      before.map((l) => l.transferId),
    );
    for (const { key, request, status } of decided) {
      const [again] = await apply(key, [request]);
      assert.deepEqual([again?.status, again?.replayed], [status, true], request.id);
    }
    await assertBooksBalance();
  });
});

describe("a bucket's QR codes, payment batches and window closes move with it", () => {
  test('copied by their own keys while claims go on; references to the bucket stay put', async () => {
    const merchant = await openIn(KEYED, false);
    const payer = await openIn(KEYED, true);
    const elsewhere = await openIn(STAYING, false);
    const qr = (bucket: number, merchantAccountId: string) => ({
      id: newEntityId('pqr', bucket),
      merchantAccountId,
      amount: 700n,
      currency: CURRENCY,
      reference: `qr ${rid('ref')}`,
      expiresAt: new Date(Date.now() + 3_600_000),
    });
    // Open; claimed by a payment in flight; and one of another merchant that names the bucket
    // only as its payer (it stays with its own bucket).
    const [open, claimed, named] = [
      qr(KEYED, merchant),
      qr(KEYED, merchant),
      qr(STAYING, elsewhere),
    ];
    for (const code of [open, claimed, named])
      await router.write(code.id, (tx) => insertQrCode(tx, code));
    const claim = { payerAccountId: payer, digest: rid('digest'), paymentId: rid('payment') };
    await router.write(claimed.id, (tx) => claimQrCode(tx, { id: claimed.id, ...claim }));
    await router.write(named.id, (tx) =>
      claimQrCode(tx, { id: named.id, payerAccountId: payer, digest: 'd', paymentId: 'p' }),
    );
    const batchId = newEntityId('pbat', KEYED);
    const item = (line: number, debit: string, credit: string): BatchLine => ({
      line,
      item: {
        debitAccountId: debit,
        creditAccountId: credit,
        amount: 5n,
        currency: CURRENCY,
        reference: null,
      },
    });
    await router.write(batchId, (tx) =>
      insertBatch(tx, { id: batchId, format: 'jsonl', lineCount: 4 }, [
        item(1, payer, merchant),
        item(2, payer, elsewhere),
        { line: 3, error: 'malformed_line', detail: 'not a JSON object' },
        item(4, elsewhere, payer),
      ]),
    );
    let counterparty = '';
    for (
      let n = 0;
      bucketOf(`ledger_window:${counterparty}`, router.map.snapshot.bucketCount) !== KEYED;
      n += 1
    )
      counterparty = `network-${n}`;
    const window = { counterparty, number: 3n };
    await router.write(`ledger_window:${counterparty}`, (tx) => insertWindowClose(tx, window, 25));

    // While the bucket moves, the open code is claimed and released over and over.
    let claiming = true;
    let cycles = 0;
    const claims = (async () => {
      while (claiming) {
        const digest = rid('cycle');
        await router.write(open.id, async (tx) => {
          await claimQrCode(tx, { id: open.id, payerAccountId: payer, digest, paymentId: digest });
          await endQrClaim(tx, open.id, digest, false);
        });
        cycles += 1;
      }
    })();
    const report = await moveBucket(fixture.fleet, { bucket: KEYED, toShard: TO });
    await new Promise((resolve) => setTimeout(resolve, 200));
    claiming = false;
    await claims;
    assert.equal(report.verification.ok, true, JSON.stringify(report.verification));
    assert.ok(cycles > 0, 'claims went on during the move');
    await router.refresh();
    assert.equal(router.map.shardOf(open.id), TO);

    const read = async <T>(key: string, work: (db: pg.ClientBase) => Promise<T>) =>
      (await router.write(key, work)).value;
    const openNow = await read(open.id, (db) => readQrCode(db, open.id));
    assert.deepEqual([openNow?.claimDigest, openNow?.paidAt], [null, null]);
    const claimedNow = await read(claimed.id, (db) => readQrCode(db, claimed.id));
    assert.deepEqual(
      [claimedNow?.claimDigest, claimedNow?.payerAccountId, claimedNow?.amount],
      [claim.digest, payer, 700n],
    );
    // The payment in flight finishes on the new shard.
    await router.write(claimed.id, (tx) => endQrClaim(tx, claimed.id, claim.digest, true));
    assert.notEqual((await read(claimed.id, (db) => readQrCode(db, claimed.id)))?.paidAt, null);
    assert.equal((await read(batchId, (db) => readBatch(db, batchId)))?.itemCount, 3);
    assert.deepEqual(
      Object.fromEntries(await read(batchId, (db) => countBatchStatuses(db, batchId))),
      { waiting: 3, malformed_line: 1 },
    );
    assert.equal(
      (await read(`ledger_window:${counterparty}`, (db) => readWindowClose(db, window)))
        ?.reserveBasisPoints,
      25,
    );
    // Nothing of the bucket is left on the source; the code that only names it stayed there.
    const left = await onShard(FROM, async (db) => {
      const { rows } = await db.query<{ n: number }>(
        `SELECT ((SELECT count(*) FROM public.ledger_qr_codes WHERE id = ANY ($1::text[])) +
                 (SELECT count(*) FROM public.ledger_payment_batches WHERE id = $2) +
                 (SELECT count(*) FROM public.ledger_payment_batch_items WHERE batch_id = $2) +
                 (SELECT count(*) FROM public.ledger_window_closes WHERE counterparty = $3))::int AS n`,
        [[open.id, claimed.id], batchId, counterparty],
      );
      return rows[0]?.n;
    });
    assert.equal(left, 0);
    assert.equal(router.map.shardOf(named.id), FROM);
    assert.equal((await read(named.id, (db) => readQrCode(db, named.id)))?.payerAccountId, payer);
  });
});

describe('a move whose target fails to commit after the source did', () => {
  test('cannot be given up, and run again it brings every balance forward once', async () => {
    const [funding] = (await accounts.stripesOn('funding', CURRENCY, FROM)) as [string];
    const saver = await openIn(CRASHED, true);
    const other = await openIn(CRASHED, false);
    await apply(saver, [transfer(rid('fund'), funding, saver, 5_000n)]);
    await apply(saver, [transfer(rid('pay'), saver, other, 1_200n)]);
    const input = { bucket: CRASHED, toShard: TO };

    breakNextArrivalCommit = true;
    await assert.rejects(moveBucket(fixture.fleet, input), /commit_breaker|duplicate key/);
    // The source closed the accounts out with the fence; the map still names it.
    await router.refresh();
    assert.equal(router.map.shardOf(saver), FROM);
    const onTarget = await onShard(TO, async (db) => {
      const { rows } = await db.query('SELECT 1 FROM public.ledger_accounts WHERE id = $1', [
        saver,
      ]);
      return rows.length;
    });
    assert.equal(onTarget, 0, 'nothing arrived: the target rolled back');
    await assert.rejects(abandonBucketMove(fixture.fleet, input), (error) => {
      assert.ok(isMainstayError(error) && error.code === 'state_conflict', String(error));
      assert.match(error.message, /run the move again/);
      return true;
    });

    const report = await moveBucket(fixture.fleet, input);
    assert.equal(report.verification.ok, true, JSON.stringify(report.verification));
    await router.refresh();
    assert.equal(router.map.shardOf(saver), TO);
    assert.deepEqual([await balanceOf(saver), await balanceOf(other)], [3_800n, 1_200n]);
    await assertBooksBalance();
    const lines = await wholeStatement(saver, 100);
    assert.equal(
      lines.filter((line) => line.transferId.startsWith(`${CLEARING_CODE}:`)).length,
      2,
      'one departure and one arrival, however often the move ran',
    );
  });
});

describe('a target shard that hangs (SIGSTOP) in the cutover', () => {
  test('the pause ends at its bound, the writes go on at the source and the move fails while the shard still hangs; it is given up and made again', async () => {
    const [funding] = (await accounts.stripesOn('funding', CURRENCY, FROM)) as [string];
    const spender = await openIn(HUNG, true);
    const receiver = await openIn(HUNG, false);
    await apply(spender, [transfer(rid('fund'), funding, spender, 100_000n)]);
    const input = { bucket: HUNG, toShard: TO };
    const target = fixture.fleet.server(router.map.route(TO).primary?.id as string);
    assert.ok(target?.pid, 'the target shard has a running primary');
    let hungAt = -1;
    const acknowledged: LedgerRequest[] = [];
    atNextPause = () => {
      target.signalAll('SIGSTOP');
      hungAt = acknowledged.length;
    };
    let writing = true;
    const writer = (async () => {
      while (writing) {
        const request = transfer(rid('during-hang'), spender, receiver, 1n);
        try {
          const [outcome] = await apply(spender, [request]);
          if (outcome?.status === 'posted') acknowledged.push(request);
        } catch {
          // Not acknowledged: not counted.
        }
      }
    })();
    let settled = false;
    const moving = moveBucket(fixture.fleet, input).then(
      () => null,
      (error: unknown) => error,
    );
    void moving.finally(() => {
      settled = true;
    });
    try {
      await eventually(async () => hungAt >= 0, 60_000, 'the cutover reached its pause');
      // Held by the pause, then going on at the source while the target still hangs.
      await eventually(
        async () => acknowledged.length > hungAt + 10,
        60_000,
        'writes acknowledged again with the target hung',
      );
      // The move answers at its bound too, not once the shard answers again.
      await eventually(async () => settled, 60_000, 'the move gave up with the target hung');
    } finally {
      target.signalAll('SIGCONT');
    }
    const refusal = await moving;
    writing = false;
    await writer;
    assert.ok(isMainstayError(refusal, 'bucket_move_aborted'), String(refusal));
    await router.refresh();
    assert.equal(router.map.shardOf(spender), FROM);
    const state = await onShard(FROM, async (db) => {
      const { rows } = await db.query<{ carried: boolean; closed: boolean }>(
        'SELECT carried_to IS NOT NULL AS carried, closed FROM public.ledger_accounts WHERE id = $1',
        [spender],
      );
      return rows[0];
    });
    assert.deepEqual(state, { carried: false, closed: false }, 'nothing departed');
    const n = BigInt(acknowledged.length);
    assert.deepEqual([await balanceOf(spender), await balanceOf(receiver)], [100_000n - n, n]);

    assert.equal(await abandonBucketMove(fixture.fleet, input), true);
    const report = await moveBucket(fixture.fleet, input);
    assert.equal(report.verification.ok, true, JSON.stringify(report.verification));
    await router.refresh();
    assert.equal(router.map.shardOf(spender), TO);
    assert.deepEqual([await balanceOf(spender), await balanceOf(receiver)], [100_000n - n, n]);
    for (const request of acknowledged.slice(-3)) {
      const [again] = await apply(spender, [request]);
      assert.deepEqual([again?.status, again?.replayed], ['posted', true], request.id);
    }
    await assertBooksBalance();
  });
});
