/**
 * Table comparison and repair (`src/compare/`) between a shard's home and its logical copy in
 * the other data centre, on a real fleet: planted differences found exactly, repaired, found no
 * more; writes in flight while comparing not reported once the copy caught up; a comparison
 * resumed from its progress; a key of one integer column compared in one grouped pass a side
 * (found exactly, at the key's ends and beyond, keys bunched, in segments, resumed; a span too
 * wide for group numbers walked in chunks; an equal table answered by its whole sums, one
 * look); clear errors for a table without a primary key and an unknown one.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type pg from 'pg';
import { type CompareProgress, compareTable } from '../src/compare/table-compare.ts';
import { repairTable } from '../src/compare/table-repair.ts';
import type { RowKey } from '../src/compare/table-shape.ts';
import { isMainstayError } from '../src/errors/mainstay-error.ts';
import { waitForCopyToApply } from '../src/fleet/shard-replication.ts';
import { type FleetFixture, startFleet } from './support/fleet-fixture.ts';

const TABLE = 'public.demo_customers';
const ROWS = 6_000;

let fixture: FleetFixture;
let home: pg.Pool;
let copy: pg.Pool;
let database: string;

/** Waits until the copy applied everything the home had written when it was called. */
async function copyCaughtUp(): Promise<void> {
  assert.ok(await waitForCopyToApply(home, copy, database, 20_000), 'the copy never caught up');
}

const keyOf = (n: number): RowKey => [`cmp-${String(n).padStart(6, '0')}`];
const sorted = (keys: readonly RowKey[]) => keys.map((key) => key.join('|')).sort();
const ints = (...values: number[]): RowKey[] => values.map((value) => [String(value)]);

/** Runs `sql` on the home and on the copy alike (tables the copy does not subscribe to). */
async function bothSides(sql: string): Promise<void> {
  for (const db of [home, copy]) await db.query(sql);
}

before(async () => {
  fixture = await startFleet('compare');
  home = await fixture.fleet.shardPool(0, 'home');
  copy = await fixture.fleet.shardPool(0, 'copy');
  const catalog = await fixture.fleet.catalog.load();
  database = catalog?.shards.find((shard) => shard.id === 0)?.database as string;
  await home.query(
    `INSERT INTO demo_customers (id, bucket, full_name, country)
     SELECT 'cmp-' || lpad(n::text, 6, '0'), n % 64, 'Customer ' || n, 'SE'
       FROM generate_series(1, $1) n`,
    [ROWS],
  );
  await copyCaughtUp();
});

after(async () => {
  await fixture?.stop();
});

describe('table comparison and repair', () => {
  test('equal copies compare equal, in several chunks', async () => {
    const result = await compareTable(home, copy, TABLE, { chunkRows: 1_000 });
    assert.deepEqual([result.missing, result.extra, result.different], [[], [], []]);
    assert.ok(result.chunks >= 6, `${result.chunks} chunks`);
    assert.equal(result.chunksDiffering, 0);
    assert.equal(result.rowsRead, 0, 'no row read one by one');
  });

  test('planted differences are found exactly, repaired, and found no more', async () => {
    const missing = [17, 18, 2_500, 4_001, 5_999, 6_000, 1].map(keyOf);
    const different = [2, 1_000, 1_001, 3_333, 4_444, 5_000].map(keyOf);
    const extra = [['cmp-000000'], ['cmp-004000x'], ['cmp-999999'], ['zzz']] as RowKey[];
    await copy.query('DELETE FROM demo_customers WHERE id = ANY ($1)', [missing.flat()]);
    await copy.query(
      "UPDATE demo_customers SET full_name = full_name || ' (edited)' WHERE id = ANY ($1)",
      [different.flat()],
    );
    await copy.query(
      "INSERT INTO demo_customers (id, bucket, full_name, country) SELECT id, 0, 'Ghost', 'NO' FROM unnest($1::text[]) id",
      [extra.flat()],
    );
    const found = await compareTable(home, copy, TABLE, { chunkRows: 250, leafRows: 50 });
    assert.deepEqual(sorted(found.missing), sorted(missing));
    assert.deepEqual(sorted(found.different), sorted(different));
    assert.deepEqual(sorted(found.extra), sorted(extra));
    assert.ok(found.chunksDiffering < found.chunks, 'only differing chunks drilled into');
    assert.ok(found.rowsRead < ROWS / 2, `${found.rowsRead} rows read one by one`);

    const repair = await repairTable(home, copy, TABLE, found, { asReplica: true });
    assert.deepEqual(repair, { written: missing.length + different.length, deleted: extra.length });
    const again = await compareTable(home, copy, TABLE, { chunkRows: 1_000 });
    assert.deepEqual([again.missing, again.extra, again.different], [[], [], []]);
  });

  test('rows written while comparing are not reported once the copy caught up', async () => {
    let writing = true;
    let n = 0;
    const writer = (async () => {
      while (writing) {
        n += 1;
        await home.query(
          `INSERT INTO demo_customers (id, bucket, full_name, country)
           VALUES ($1, 1, 'Late', 'DK')`,
          [`cmp-late-${n}`],
        );
        await home.query("UPDATE demo_customers SET full_name = 'Moved ' || $2 WHERE id = $1", [
          keyOf(1 + (n % ROWS))[0],
          n,
        ]);
      }
    })();
    try {
      const result = await compareTable(home, copy, TABLE, {
        chunkRows: 500,
        settle: async () => {
          writing = false;
          await writer;
          await copyCaughtUp();
        },
      });
      assert.ok(n > 0, 'writes went on while comparing');
      assert.deepEqual([result.missing, result.extra, result.different], [[], [], []]);
    } finally {
      writing = false;
      await writer;
    }
  });

  test('a comparison resumes after its last reported key and finds the rest', async () => {
    const planted = [keyOf(300), keyOf(4_800)];
    await copy.query("UPDATE demo_customers SET country = 'FI' WHERE id = ANY ($1)", [
      planted.flat(),
    ]);
    const seen: CompareProgress[] = [];
    const stop = new AbortController();
    await assert.rejects(
      compareTable(home, copy, TABLE, {
        chunkRows: 1_000,
        signal: stop.signal,
        onProgress: (progress) => {
          seen.push(progress);
          if (progress.chunksDone === 2) stop.abort();
        },
      }),
      (error: Error) => error.name === 'AbortError',
    );
    const through = seen.at(-1)?.throughKey ?? null;
    assert.ok(through !== null && (through[0] as string) > (keyOf(300)[0] as string));
    assert.equal(seen.at(-1)?.differences, 1, 'the first planted row, before the stop');
    const rest = await compareTable(home, copy, TABLE, { chunkRows: 1_000, resumeAfter: through });
    assert.deepEqual(sorted(rest.different), sorted([keyOf(4_800)]));
    await repairTable(home, copy, TABLE, { missing: [], extra: [], different: planted });
  });

  test('a key of two columns: differing chunks cut by key ranges, found exactly, repaired', async () => {
    // Written on each side alone (the copy never subscribed to this table's changes).
    for (const db of [home, copy]) {
      await db.query(
        'CREATE TABLE public.compare_pairs (a integer, b text, v text, PRIMARY KEY (a, b))',
      );
      await db.query(
        `INSERT INTO public.compare_pairs
         SELECT n / 3, 'k' || (n % 3), 'value ' || n FROM generate_series(1, 3000) n`,
      );
    }
    await copy.query("DELETE FROM public.compare_pairs WHERE (a, b) IN ((5, 'k0'), (700, 'k2'))");
    await copy.query("UPDATE public.compare_pairs SET v = 'changed' WHERE (a, b) = (333, 'k1')");
    await copy.query(
      "INSERT INTO public.compare_pairs VALUES (333, 'k9', 'extra'), (5000, 'k0', 'x')",
    );
    const found = await compareTable(home, copy, 'public.compare_pairs', {
      chunkRows: 500,
      leafRows: 40,
    });
    assert.deepEqual(
      sorted(found.missing),
      sorted([
        ['5', 'k0'],
        ['700', 'k2'],
      ]),
    );
    assert.deepEqual(sorted(found.different), sorted([['333', 'k1']]));
    assert.deepEqual(
      sorted(found.extra),
      sorted([
        ['333', 'k9'],
        ['5000', 'k0'],
      ]),
    );
    assert.ok(found.rowsRead < 1_000, `${found.rowsRead} rows read one by one`);
    await repairTable(home, copy, 'public.compare_pairs', found);
    const again = await compareTable(home, copy, 'public.compare_pairs', { chunkRows: 500 });
    assert.deepEqual([again.missing, again.extra, again.different], [[], [], []]);
  });

  test('an integer key: one grouped pass a side finds planted rows exactly, at both ends and beyond', async () => {
    await bothSides(`CREATE TABLE public.compare_ints (id bigint PRIMARY KEY, v text NOT NULL)`);
    await bothSides(
      `INSERT INTO public.compare_ints SELECT n, 'value ' || n FROM generate_series(-500, 19500) n`,
    );
    await copy.query('DELETE FROM public.compare_ints WHERE id IN (-500, 7, 8, 12345, 19500)');
    await copy.query("UPDATE public.compare_ints SET v = 'changed' WHERE id IN (-1, 0, 9000)");
    // Beyond the source's keys at both ends, and inside a gap-free stretch.
    await copy.query(
      "INSERT INTO public.compare_ints VALUES (-9000000, 'x'), (25000, 'y'), (4000000000, 'z')",
    );
    const found = await compareTable(home, copy, 'public.compare_ints', { leafRows: 4_096 });
    assert.deepEqual(sorted(found.missing), sorted(ints(-500, 7, 8, 12345, 19500)));
    assert.deepEqual(sorted(found.different), sorted(ints(-1, 0, 9000)));
    assert.deepEqual(sorted(found.extra), sorted(ints(-9000000, 25000, 4000000000)));
    // The same with the chunked walk, which reads the keys first, and with the whole look first.
    for (const options of [{ grouped: false }, { wholeFirst: true, leafRows: 4_096 }]) {
      const again = await compareTable(home, copy, 'public.compare_ints', options);
      assert.deepEqual(
        [again.missing, again.extra, again.different].map(sorted),
        [found.missing, found.extra, found.different].map(sorted),
        JSON.stringify(options),
      );
    }
    await repairTable(home, copy, 'public.compare_ints', found);
    const again = await compareTable(home, copy, 'public.compare_ints');
    assert.deepEqual([again.missing, again.extra, again.different], [[], [], []]);
    assert.equal(again.rowsRead, 0, 'no row read one by one when nothing differs');
    assert.ok(again.chunks > 100, `${again.chunks} groups compared`);
    // Equal and quiet: with wholeFirst, a sample of groups and then the whole table's sums
    // answer, one look a side, no group compared after the sample.
    const whole = await compareTable(home, copy, 'public.compare_ints', { wholeFirst: true });
    assert.deepEqual([whole.missing, whole.extra, whole.different], [[], [], []]);
    assert.equal(whole.chunks, 1, 'the whole table looked at once');
  });

  test('an integer key: the differing groups only are read, and keys bunched in one group are bisected', async () => {
    await bothSides('CREATE TABLE public.compare_bunched (id integer PRIMARY KEY, v text)');
    // 20,000 rows: 10,000 spread thin over a wide span, 10,000 packed into one stretch of it.
    await bothSides(
      `INSERT INTO public.compare_bunched
       SELECT n * 1000, 'spread ' || n FROM generate_series(1, 10000) n
       UNION ALL SELECT 20000000 + n, 'packed ' || n FROM generate_series(1, 10000) n`,
    );
    await bothSides('ANALYZE public.compare_bunched');
    await copy.query(
      "UPDATE public.compare_bunched SET v = 'changed' WHERE id IN (3000000, 20000500, 20009999)",
    );
    const found = await compareTable(home, copy, 'public.compare_bunched', {
      bucketRows: 64,
      leafRows: 256,
    });
    assert.deepEqual(sorted(found.different), sorted(ints(3000000, 20000500, 20009999)));
    assert.deepEqual([found.missing, found.extra], [[], []]);
    assert.ok(found.chunksDiffering <= 3, `${found.chunksDiffering} groups differed`);
    assert.ok(found.rowsRead < 2_000, `${found.rowsRead} rows read one by one`);
  });

  test('an integer key in segments: progress per segment, stopped and resumed after its last key', async () => {
    await bothSides('CREATE TABLE public.compare_segments (id smallint PRIMARY KEY, v text)');
    await bothSides(
      "INSERT INTO public.compare_segments SELECT n, 'v' || n FROM generate_series(-32768, 32767) n",
    );
    await bothSides('ANALYZE public.compare_segments');
    await copy.query(
      "UPDATE public.compare_segments SET v = 'changed' WHERE id IN (-32768, 32767)",
    );
    const seen: CompareProgress[] = [];
    const stop = new AbortController();
    await assert.rejects(
      compareTable(home, copy, 'public.compare_segments', {
        segmentRows: 8_000,
        signal: stop.signal,
        onProgress: (progress) => {
          seen.push(progress);
          if (progress.chunksDone === 2) stop.abort();
        },
      }),
      (error: Error) => error.name === 'AbortError',
    );
    assert.ok((seen.at(-1)?.chunksTotal ?? 0) >= 8, `${seen.at(-1)?.chunksTotal} segments`);
    assert.equal(seen.at(-1)?.differences, 1, 'the lowest key, in the first segment');
    const through = seen.at(-1)?.throughKey ?? null;
    assert.ok(through !== null && Number(through[0]) < 0);
    const rest = await compareTable(home, copy, 'public.compare_segments', {
      segmentRows: 8_000,
      resumeAfter: through,
    });
    assert.deepEqual(sorted(rest.different), sorted(ints(32767)));
  });

  test('a bigint key spanning the whole type is walked in chunks instead, exactly', async () => {
    await bothSides('CREATE TABLE public.compare_wide (id bigint PRIMARY KEY, v text)');
    await bothSides(
      `INSERT INTO public.compare_wide VALUES (-9223372036854775808, 'min'), (0, 'zero'),
              (9223372036854775807, 'max')`,
    );
    await copy.query("UPDATE public.compare_wide SET v = 'changed' WHERE id = 9223372036854775807");
    await copy.query('DELETE FROM public.compare_wide WHERE id = -9223372036854775808');
    const found = await compareTable(home, copy, 'public.compare_wide');
    assert.deepEqual(sorted(found.different), sorted([['9223372036854775807']]));
    assert.deepEqual(sorted(found.missing), sorted([['-9223372036854775808']]));
    const empty = await compareTable(home, copy, 'public.compare_wide', {
      resumeAfter: ['9223372036854775807'],
    });
    assert.deepEqual([empty.missing, empty.extra, empty.different], [[], [], []]);
  });

  test('a table without a primary key, and an unknown table, are refused clearly', async () => {
    await home.query('CREATE TABLE IF NOT EXISTS public.compare_no_key (a integer)');
    await assert.rejects(compareTable(home, home, 'public.compare_no_key'), (error) => {
      assert.ok(isMainstayError(error, 'invalid_request'), String(error));
      assert.match(error.message, /no primary key/);
      return true;
    });
    await assert.rejects(compareTable(home, copy, 'public.no_such_table'), (error) =>
      isMainstayError(error, 'resource_not_found'),
    );
  });
});
