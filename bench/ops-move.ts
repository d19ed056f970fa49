/**
 * A bucket move's write pause for the ops benchmark (decision 58), on a real fleet whose
 * source shard keeps books of `transfers` decided transfers:
 *
 *   books:    a bucket holding ledger accounts, with transfers between two of them written
 *             throughout the move: the cutover closes each account out on the source, brings its
 *             balance forward on the target and copies the transfers naming it as answers;
 *   no books: the baseline on the same fleet: a bucket no ledger row names, moved the same way
 *             (capture, copy, catch up, cutover), with nothing to carry.
 *
 * Each bucket is moved there and back. Reported: the cutover's pause (from asking for the
 * bucket's lock to the map change), the whole move, and the writers' acknowledged transfers.
 */
import type pg from 'pg';
import { newEntityId } from '../src/data/entity-id.ts';
import { IDEMPOTENCY_MIGRATIONS } from '../src/data/idempotency.ts';
import type { Router } from '../src/data/router.ts';
import { LedgerAccountService } from '../src/domains/ledger/core/ledger-account-service.ts';
import { LEDGER_MIGRATIONS } from '../src/domains/ledger/sql/ledger-migrations.ts';
import { insertLedgerAccount } from '../src/domains/ledger/store/ledger-accounts.ts';
import { applyLedgerBatch } from '../src/domains/ledger/store/ledger-batch.ts';
import { checkLedgerBooks } from '../src/domains/ledger/store/ledger-checks.ts';
import { moveBucket } from '../src/fleet/bucket-move.ts';
import { startFleet } from '../test/support/fleet-fixture.ts';
import { printTable, type SummaryRow } from './support/report.ts';

const CURRENCY = 'EUR';
/** On shard 0: a bucket the books name, one they do not, and one written throughout. */
const BOOKED = 7;
const BARE = 11;
const BUSY = 8;
const n0 = (value: number) => Math.round(value).toLocaleString('en-US');

async function openIn(router: Router, bucket: number): Promise<string> {
  const id = newEntityId('lacc', bucket);
  await router.write(id, (tx) =>
    insertLedgerAccount(tx, { id, currency: CURRENCY, kind: 'wallet' }),
  );
  return id;
}

/** Transfers of 1 between `a` and `b` until stopped; the acknowledged count. */
function writeBetween(router: Router, a: string, b: string) {
  let running = true;
  let acked = 0;
  let n = 0;
  const done = (async () => {
    while (running) {
      n += 1;
      const id = `bench-move-${a}-${process.pid}-${n}`;
      const [debit, credit] = n % 2 === 0 ? [a, b] : [b, a];
      try {
        const { value } = await router.write(debit, (tx) =>
          applyLedgerBatch(tx, [
            {
              kind: 'transfer',
              id,
              debitAccountId: debit,
              creditAccountId: credit,
              amount: 1n,
              currency: CURRENCY,
            },
          ]),
        );
        if (value[0]?.status === 'posted') acked += 1;
      } catch {
        // A refusal is not acknowledged; the figure counts acknowledgements.
      }
    }
  })();
  return {
    stop: async () => {
      running = false;
      await done;
      return acked;
    },
  };
}

/** `count` decided transfers (refusals: no postings) between accounts of `bucket`, in SQL. */
async function seedHistory(db: pg.ClientBase, a: string, b: string, count: number) {
  await db.query(
    `INSERT INTO public.ledger_transfers (id, kind, debit_account_id, credit_account_id, amount,
            currency, status, created_at, updated_at)
     SELECT 'history-' || g, 'transfer', $1, $2, 1, $3, 'insufficient_funds', now(), now()
       FROM generate_series(1, $4::int) g`,
    [a, b, CURRENCY, count],
  );
}

export async function bucketMoveFigures(transfers: number): Promise<SummaryRow[]> {
  const fixture = await startFleet('bench-move', {}, [IDEMPOTENCY_MIGRATIONS, LEDGER_MIGRATIONS]);
  try {
    const router = await fixture.router({ writeWaitMs: 20_000 });
    const accounts = new LedgerAccountService(router, { stripesPerShard: 1 });
    await accounts.openInstitutionAccount({
      code: 'funding',
      kind: 'suspense',
      currency: CURRENCY,
    });
    const [funding] = (await accounts.stripesOn('funding', CURRENCY, 0)) as [string];
    const booked = [await openIn(router, BOOKED), await openIn(router, BOOKED)];
    const busy = [await openIn(router, BUSY), await openIn(router, BUSY)];
    for (const id of [...booked, ...busy])
      await router.write(id, (tx) =>
        applyLedgerBatch(tx, [
          {
            kind: 'transfer',
            id: `fund-${id}`,
            debitAccountId: funding,
            creditAccountId: id,
            amount: 1_000_000n,
            currency: CURRENCY,
          },
        ]),
      );
    // The shard's books: most of them name other buckets; a hundred name the moving one.
    const home = await fixture.fleet.shardPool(0, 'home');
    await router.writeToShard(0, (db) =>
      seedHistory(db, busy[0] as string, busy[1] as string, transfers),
    );
    await router.writeToShard(0, async (db) => {
      await db.query(
        `INSERT INTO public.ledger_transfers (id, kind, debit_account_id, credit_account_id,
                amount, currency, status, created_at, updated_at)
         SELECT 'booked-history-' || g, 'transfer', $1, $2, 1, $3, 'insufficient_funds', now(), now()
           FROM generate_series(1, 100) g`,
        [booked[0], booked[1], CURRENCY],
      );
    });
    await home.query('VACUUM ANALYZE public.ledger_transfers');
    const rows: string[][] = [];
    const pauses = { books: [] as number[], bare: [] as number[] };
    const background = writeBetween(router, busy[0] as string, busy[1] as string);
    try {
      for (const [label, bucket, toShard] of [
        ['books', BOOKED, 1],
        ['no books', BARE, 1],
        ['books', BOOKED, 0],
        ['no books', BARE, 0],
      ] as const) {
        const writer =
          label === 'books' ? writeBetween(router, booked[0] as string, booked[1] as string) : null;
        const started = performance.now();
        const report = await moveBucket(fixture.fleet, { bucket, toShard });
        const totalMs = performance.now() - started;
        await router.refresh();
        const acked = (await writer?.stop()) ?? 0;
        const pause = report.cutover?.pauseMs ?? Number.NaN;
        pauses[label === 'books' ? 'books' : 'bare'].push(pause);
        rows.push([
          label,
          `${report.fromShard} -> ${report.toShard}`,
          `${n0(pause)} ms`,
          `${n0(totalMs)} ms`,
          n0(report.cutover?.carried.arrived ?? 0),
          n0(acked),
          report.verification.ok ? 'yes' : report.verification.problems.join('; '),
        ]);
      }
    } finally {
      await background.stop();
    }
    let breaks = 0;
    for (const shardId of router.map.shardIds)
      breaks += (await router.writeToShard(shardId, (db) => checkLedgerBooks(db))).value.length;
    console.log(
      `\nshard 0 keeps ${n0(transfers)} decided transfers of other buckets; the booked bucket has 2 accounts and 100 transfers before the move, and transfers between them go on throughout; books breaks after: ${breaks}\n`,
    );
    printTable(
      ['bucket', 'shards', 'pause', 'whole move', 'rows carried', 'acked during', 'verified'],
      rows,
    );
    const mean = (values: readonly number[]) =>
      values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
    return [
      {
        figure: `bucket move's write pause with books (${n0(transfers)} transfers on the shard) vs without, mean of 2`,
        value: `${n0(mean(pauses.books))} ms vs ${n0(mean(pauses.bare))} ms; books breaks ${breaks}`,
        target: 'none set',
        met: null,
      },
    ];
  } finally {
    await fixture.stop();
  }
}
