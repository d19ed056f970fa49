/**
 * The ops benchmark (decision 53): comparing a table of a few million rows between a shard's
 * home and its logical copy in the other data centre, while writes go on, side by side:
 *
 *   compare: `compareTable` (src/compare): for this bigint key, one grouped pass a side (a
 *            count and hash per group of about 128 keys inside PostgreSQL, both sides at
 *            once), then only the differing groups, cut in sixteenths, then their rows;
 *   fetch-all: every row of both sides fetched into Node in key order (keyset pages of 10,000,
 *            both sides at once) and diffed there, the way a script without checksums does it.
 *
 * Beside them, the floor of any comparison that hashes every row: one aggregate hash of the whole
 * table on both sides at once, which says only whether anything differs, not what; and the
 * floor of one that can find the rows: the compare's grouped query alone (a count and hash per
 * group of 128 keys), both sides at once. Then what the comparison's queries cost on one server,
 * in backend CPU (bench/ops-compare-cost.ts).
 *
 * With no differences, then with 0.1% of the rows changed on the copy. Both get the same
 * `settle` (wait until the copy applied what the home had written, then read the rows found
 * again), so writes in flight are not counted as differences by either.
 *
 * Then the workflow engine (bench/ops-workflow.ts): steps per second against a plain job queue,
 * and the time from a worker's SIGKILL to a standby resuming its run; then the time to a ready
 * two-DC environment (bench/ops-env.ts) against a cold `mainstay up`; then a planned
 * switchover's write downtime against a failover's (bench/ops-switchover.ts); then a bucket
 * move's write pause for a bucket the books name against one they do not (bench/ops-move.ts).
 *
 * Usage: npm run bench:ops [-- rows=2000000] [-- transfers=1000000]
 *          [-- compare|workflow|environments|switchover|move]
 */
import type pg from 'pg';
import { compareTable } from '../src/compare/table-compare.ts';
import { keyText, type RowKey } from '../src/compare/table-shape.ts';
import { subscriptionName, waitForCopyToApply } from '../src/fleet/shard-replication.ts';
import { startFleet } from '../test/support/fleet-fixture.ts';
import { compareCostFigures } from './ops-compare-cost.ts';
import { ENVIRONMENT_READY_TARGET_MS, runEnvironmentStage } from './ops-env.ts';
import { bucketMoveFigures } from './ops-move.ts';
import { switchoverFigures } from './ops-switchover.ts';
import { workflowFigures } from './ops-workflow.ts';
import { printTable } from './support/report.ts';
import { ScenarioRunner } from './support/scenario-runner.ts';

const argv = process.argv.slice(2);
const rowsArg = argv.find((word) => word.startsWith('rows='));
const ROWS = rowsArg ? Number(rowsArg.slice(5)) : 2_000_000;
const DIFFERENCE_SHARE = 0.001;
/** data-diff's published figure: 25 million identical rows in under 10 s. */
const DATA_DIFF_ROWS_PER_S = 2_500_000;
const SPEEDUP_MIN = 10;
const TABLE = 'public.ops_bench_rows';
const PAGE = 10_000;

const started = performance.now();
const transfersArg = argv.find((word) => word.startsWith('transfers='));
/** Decided transfers on the source shard's books for the bucket move. */
const TRANSFERS = transfersArg ? Number(transfersArg.slice(10)) : 1_000_000;
const runner = new ScenarioRunner(
  argv.filter((word) => !word.startsWith('rows=') && !word.startsWith('transfers=')),
);
const command = `npm run bench:ops${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}`;
const n0 = (value: number) => Math.round(value).toLocaleString('en-US');

console.log(
  `Ops benchmark, 2 cores (every server of the fleet on this machine), Node ${process.version}`,
);
console.log(`command: ${command}\n`);

const COMPARE_TITLE = '1. compare a table while writes go on: chunked vs fetch-all';
const fixture = runner.selected(COMPARE_TITLE) ? await startFleet('bench-ops') : null;
if (fixture) {
  try {
    const home = await fixture.fleet.shardPool(0, 'home');
    const copy = await fixture.fleet.shardPool(0, 'copy');
    const catalog = await fixture.fleet.catalog.load();
    const database = catalog?.shards.find((shard) => shard.id === 0)?.database as string;
    /** Waits until the copy applied what the home had written when called. */
    const settle = async () => {
      if (!(await waitForCopyToApply(home, copy, database, 300_000)))
        throw new Error('the copy did not catch up in 5 minutes');
    };

    await loadTable(home, copy, database, settle);

    await runner.run(COMPARE_TITLE, async () => {
      const writer = startWriter(home);
      const table: string[][] = [];
      const figures: {
        label: string;
        chunked: number;
        fetched: number;
        floorS: number;
        groupedS: number;
      }[] = [];
      try {
        for (const [label, planted] of [
          ['no differences', 0],
          ['0.1% different', Math.round(ROWS * DIFFERENCE_SHARE)],
        ] as const) {
          if (planted > 0) await plant(copy, planted);
          const a = performance.now();
          const chunked = await compareTable(home, copy, TABLE, { settle });
          const chunkedS = (performance.now() - a) / 1_000;
          const b = performance.now();
          const fetched = await fetchAllDiff(home, copy, settle);
          const fetchedS = (performance.now() - b) / 1_000;
          const found = chunked.missing.length + chunked.extra.length + chunked.different.length;
          const floorS = await hashFloor(home, copy);
          const groupedS = await groupedFloor(home, copy);
          table.push(row('compare (src/compare)', label, planted, found, chunkedS));
          table.push(row('fetch-all (Node diff)', label, planted, fetched, fetchedS));
          table.push(row('floor: one hash of all rows', label, planted, null, floorS));
          table.push(row('floor: grouped hashes only', label, planted, null, groupedS));
          figures.push({
            label,
            chunked: ROWS / chunkedS,
            fetched: ROWS / fetchedS,
            floorS,
            groupedS,
          });
        }
      } finally {
        await writer.stop();
      }
      console.log(
        `${n0(ROWS)} rows (bigint key, four columns); a writer updated ${n0(writer.count())} rows ` +
          'on the home throughout; the copy applied them by logical replication\n',
      );
      printTable(['system', 'table', 'planted', 'found', 'seconds', 'rows/s'], table);
      return figures.flatMap(({ label, chunked, fetched, floorS, groupedS }) => [
        {
          figure: `compare vs fetch-all, ${label}`,
          value: `${(chunked / fetched).toFixed(1)}x (${n0(chunked)} vs ${n0(fetched)} rows/s)`,
          target: `>= ${SPEEDUP_MIN}x`,
          met: chunked / fetched >= SPEEDUP_MIN,
        },
        {
          figure: `floor (one hash of every row, both sides) vs fetch-all, ${label}`,
          value: `${(ROWS / floorS / fetched).toFixed(1)}x`,
          target: 'none set',
          met: null,
        },
        {
          figure: `floor (grouped hashes of every row, both sides) vs fetch-all, ${label}`,
          value: `${(ROWS / groupedS / fetched).toFixed(1)}x`,
          target: 'none set',
          met: null,
        },
        {
          figure: `compare rows/s, ${label}, beside data-diff's published rate`,
          value: `${n0(chunked)} vs ${n0(DATA_DIFF_ROWS_PER_S)}`,
          target: 'none set',
          met: null,
        },
      ]);
    });
    await runner.run(
      '1b. compare: what its queries cost on one server (the home backend CPU)',
      async () => compareCostFigures(home, TABLE),
    );
  } finally {
    await fixture.stop();
  }
}
await runner.run(
  '2. workflow engine: steps per second, and a worker killed mid-step',
  workflowFigures,
);
await runner.run(
  '3. environments: a ready two-DC environment against a cold mainstay up',
  async () => {
    const result = await runEnvironmentStage({ rounds: 3 });
    const median = (values: readonly number[]) =>
      [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
    const env = median(result.environmentMs);
    const cold = median(result.baselineMs);
    return [
      {
        figure: 'ready two-DC environment, median of 3, against a cold mainstay up',
        value: `${(env / 1000).toFixed(2)} s vs ${(cold / 1000).toFixed(2)} s`,
        target: `< ${ENVIRONMENT_READY_TARGET_MS / 1000} s`,
        met: result.met,
      },
    ];
  },
);
await runner.run('4. switchover: planned write downtime against a failover', switchoverFigures);
await runner.run('5. bucket move: the write pause with books against without', () =>
  bucketMoveFigures(TRANSFERS),
);
runner.finish(started);
console.log(`command: ${command}`);

function row(
  system: string,
  label: string,
  planted: number,
  found: number | null,
  seconds: number,
) {
  const foundText = found === null ? '-' : n0(found);
  return [system, label, n0(planted), foundText, seconds.toFixed(2), n0(ROWS / seconds)];
}

/**
 * The floor of a comparison that finds the differing rows: the grouped query of the compare's
 * first pass (groups of 128 keys, no parallel workers, as `compareTable` runs it) on both sides
 * at once, and nothing else: no snapshot export, no look into differing groups, no rows read
 * again. Answers seconds.
 */
async function groupedFloor(home: pg.Pool, copy: pg.Pool): Promise<number> {
  const a = performance.now();
  await Promise.all(
    [home, copy].map(async (db) => {
      const client = await db.connect();
      try {
        await client.query('BEGIN');
        await client.query("SELECT set_config('max_parallel_workers_per_gather', '0', true)");
        await client.query(
          `SELECT (t.id - 1) / 128 AS g, count(*), sum(hash_record_extended(t, 0))
             FROM ${TABLE} t GROUP BY 1`,
        );
        await client.query('COMMIT');
      } finally {
        client.release();
      }
    }),
  );
  return (performance.now() - a) / 1_000;
}

/**
 * The floor of a comparison that hashes every row: the count and hash sum of the whole table,
 * on both sides at once (the rows' hash as `compareTable` makes it). Answers seconds.
 */
async function hashFloor(home: pg.Pool, copy: pg.Pool): Promise<number> {
  const a = performance.now();
  await Promise.all(
    [home, copy].map((db) =>
      db.query(`SELECT count(*), sum(hash_record_extended(t, 0)) FROM ${TABLE} t`),
    ),
  );
  return (performance.now() - a) / 1_000;
}

/** The table on both sides, its rows written on the home and carried to the copy by replication. */
async function loadTable(
  home: pg.Pool,
  copy: pg.Pool,
  database: string,
  settle: () => Promise<void>,
): Promise<void> {
  const a = performance.now();
  for (const db of [home, copy]) {
    await db.query(`CREATE TABLE ${TABLE} (id bigint PRIMARY KEY, account text NOT NULL,
                      amount bigint NOT NULL, note text, updated_at timestamptz NOT NULL)`);
  }
  await copy.query(`ALTER SUBSCRIPTION "${subscriptionName(database)}" REFRESH PUBLICATION`);
  for (let from = 1; from <= ROWS; from += 100_000) {
    await home.query(
      `INSERT INTO ${TABLE}
       SELECT n, 'acct-' || (n % 9973), n * 7 % 100003, 'row ' || n, '2026-01-01'::timestamptz
         FROM generate_series($1::bigint, $2::bigint) n`,
      [from, Math.min(ROWS, from + 99_999)],
    );
  }
  await settle();
  // Vacuumed as autovacuum would leave a settled table: whichever system scanned the freshly
  // loaded rows first would otherwise pay for setting every row's hint bits.
  await Promise.all([
    home.query(`VACUUM (ANALYZE) ${TABLE}`),
    copy.query(`VACUUM (ANALYZE) ${TABLE}`),
  ]);
  const { rows } = await copy.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${TABLE}`);
  if (Number(rows[0]?.n) !== ROWS) throw new Error(`the copy holds ${rows[0]?.n} rows`);
  console.log(
    `loaded ${n0(ROWS)} rows on the home, replicated to the copy, in ${((performance.now() - a) / 1_000).toFixed(1)} s\n`,
  );
}

/** Changes `count` random rows on the copy only. */
async function plant(copy: pg.Pool, count: number): Promise<void> {
  await copy.query(
    `UPDATE ${TABLE} SET note = 'planted' WHERE id IN (
       SELECT (1 + floor(random() * $1))::bigint FROM generate_series(1, $2 * 2) LIMIT $2)`,
    [ROWS, count],
  );
}

/** Updates random rows on the home, one per statement, until stopped. */
function startWriter(home: pg.Pool) {
  let running = true;
  let count = 0;
  const loop = (async () => {
    while (running) {
      await home.query(
        `UPDATE ${TABLE} SET amount = amount + 1, updated_at = now() WHERE id = $1`,
        [1 + Math.floor(Math.random() * ROWS)],
      );
      count += 1;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  return {
    count: () => count,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

/**
 * The baseline: every row of both sides fetched in key order (keyset pages, both sides at once)
 * and diffed in Node as text; then, like the chunked compare, the rows found read again after
 * `settle`. Answers how many still differ.
 */
async function fetchAllDiff(home: pg.Pool, copy: pg.Pool, settle: () => Promise<void>) {
  const page = async (db: pg.Pool, after: string) =>
    (
      await db.query<{ id: string; row: string }>(
        `SELECT t.id::text AS id, t::text AS row FROM ${TABLE} t
          WHERE t.id > $1::bigint ORDER BY t.id LIMIT $2`,
        [after, PAGE],
      )
    ).rows;
  const found = new Set<string>();
  let after = '0';
  for (;;) {
    const [a, b] = await Promise.all([page(home, after), page(copy, after)]);
    if (a.length === 0 && b.length === 0) break;
    // A full page may have more after it: compare only up to the lower of the full pages' ends.
    const lastA = a.length === PAGE ? BigInt(a.at(-1)?.id as string) : null;
    const lastB = b.length === PAGE ? BigInt(b.at(-1)?.id as string) : null;
    const through = lastA === null ? lastB : lastB === null ? lastA : lastA < lastB ? lastA : lastB;
    const within = (id: string) => through === null || BigInt(id) <= through;
    const other = new Map(b.filter((r) => within(r.id)).map((r) => [r.id, r.row]));
    for (const r of a.filter((r) => within(r.id))) {
      if (other.get(r.id) !== r.row) found.add(r.id);
      other.delete(r.id);
    }
    for (const id of other.keys()) found.add(id);
    if (through === null) break;
    after = through.toString();
  }
  if (found.size === 0) return 0;
  await settle();
  const keys: RowKey[] = [...found].map((id) => [id]);
  let still = 0;
  for (let at = 0; at < keys.length; at += PAGE) {
    const ids = keys.slice(at, at + PAGE).map((key) => key[0]);
    const read = async (db: pg.Pool) =>
      new Map(
        (
          await db.query<{ id: string; row: string }>(
            `SELECT id::text AS id, t::text AS row FROM ${TABLE} t WHERE id = ANY ($1::bigint[])`,
            [ids],
          )
        ).rows.map((r) => [keyText([r.id]), r.row]),
      );
    const [a, b] = await Promise.all([read(home), read(copy)]);
    for (const key of keys.slice(at, at + PAGE))
      if (a.get(keyText(key)) !== b.get(keyText(key))) still += 1;
  }
  return still;
}
