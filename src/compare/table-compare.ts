import type pg from 'pg';
import { groupedPassApplies, walkGroups } from './grouped-pass.ts';
import { PinnedSide } from './pinned-side.ts';
import { type Range, RangeWalker, rangesOf, type Verdict } from './range-walker.ts';
import {
  keyAsText,
  keyListJoin,
  keyText,
  type RowKey,
  type TableShape,
  tableShapeOf,
} from './table-shape.ts';

/** Tuning and hooks of {@link compareTable}; every field is optional. */
export interface CompareOptions {
  /** Source rows per top-level chunk (one hash per side each). Default 10,000. */
  readonly chunkRows?: number;
  /**
   * With a one-column key, a differing chunk is hashed again in buckets of about this many rows
   * (one query a side) and only the differing buckets are read row by row; with one integer
   * column, the grouped pass hashes groups of about this many rows. Default 128.
   */
  readonly bucketRows?: number;
  /**
   * A key of one integer column is compared in one grouped pass a side (`grouped-pass.ts`)
   * unless this is `false`; then, and for every other key, in chunks. Default true.
   */
  readonly grouped?: boolean;
  /**
   * Before the grouped pass, compare a sample of groups and then, when it agrees, the whole table
   * (one not cut into segments, not resumed) by its row count and hash sum on each side, and
   * group it only when they differ. For a table no one writes to: an equal one costs about two
   * thirds. Under writes a row in flight between the two sides' snapshots makes the whole sums
   * differ, and the grouped pass follows at full cost. Default false.
   */
  readonly wholeFirst?: boolean;
  /** The grouped pass walks a larger table in segments of about this many rows. Default 4,000,000. */
  readonly segmentRows?: number;
  /** A differing range of at most this many rows is read row by row. Default 2,048. */
  readonly leafRows?: number;
  /** Connections per side reading at once, sharing one snapshot. Default 2. */
  readonly parallel?: number;
  /** Resume after this key (a progress report's `throughKey`): earlier rows are not compared. */
  readonly resumeAfter?: RowKey | null;
  /** Awaited before each top-level chunk: wait here while the source is lagging. */
  readonly throttle?: () => Promise<void>;
  /** Told after each top-level chunk, in key order, with what is done so far. */
  readonly onProgress?: (progress: CompareProgress) => void | Promise<void>;
  /**
   * Awaited before rows found different are read again, unpinned: wait here until the target
   * has applied what the source had committed (a copy's or replica's lag). Rows that then agree
   * were in flight, not different. Without it nothing is read again.
   */
  readonly settle?: () => Promise<void>;
  /** Rounds of reading again (with `settle`). Default 3. */
  readonly recheckRounds?: number;
  readonly signal?: AbortSignal;
}

/** How far a comparison is. */
export interface CompareProgress {
  readonly chunksDone: number;
  readonly chunksTotal: number;
  /** Every key up to and including this one is compared (`null`: none yet). */
  readonly throughKey: RowKey | null;
  readonly differences: number;
}

/** What differs between the source and the target, by primary key. */
export interface TableDifferences {
  readonly table: string;
  readonly keyColumns: readonly string[];
  /** On the source, not on the target. */
  readonly missing: RowKey[];
  /** On the target, not on the source. */
  readonly extra: RowKey[];
  /** On both, with other values. */
  readonly different: RowKey[];
  /** Top-level chunks compared, and how many of them differed. */
  readonly chunks: number;
  readonly chunksDiffering: number;
  /** Rows the comparison read one by one (both sides), drilling into differing ranges. */
  readonly rowsRead: number;
}

const DEFAULTS = {
  chunkRows: 10_000,
  bucketRows: 128,
  leafRows: 2_048,
  parallel: 2,
  recheckRounds: 3,
  grouped: true,
  wholeFirst: false,
  segmentRows: 4_000_000,
};
/**
 * Compares `table` between `source` and `target` by primary key, the way bisected checksums do:
 * the source's keys cut the table into chunks; each chunk's row count and hash (the sum of its
 * rows' 64-bit hashes, see `rowHashOf`) is computed inside PostgreSQL on both sides at once; only a
 * chunk that differs is cut again, down to ranges small enough to read row by row. Each side is
 * read in one snapshot (`PinnedSide`). Rows found different can be read again once the target
 * caught up (`settle`), so writes in flight while comparing are not reported.
 */
export async function compareTable(
  source: pg.Pool,
  target: pg.Pool,
  table: string,
  options: CompareOptions = {},
): Promise<TableDifferences> {
  const settings = { ...DEFAULTS, ...options };
  const shape = await tableShapeOf(source, table);
  await tableShapeOf(target, shape.name);
  const rowHash = await rowHashOf(shape, source, target);
  const sides = await Promise.all([
    PinnedSide.open(source, settings.parallel),
    PinnedSide.open(target, settings.parallel),
  ]);
  const found = new Map<string, { key: RowKey; verdict: Verdict }>();
  const tally = { chunks: 0, chunksDiffering: 0, rowsRead: 0 };
  try {
    const walker = new RangeWalker(
      shape,
      rowHash,
      sides[0],
      sides[1],
      settings.leafRows,
      found,
      tally,
    );
    const grouped =
      settings.grouped &&
      groupedPassApplies(walker) &&
      (await walkGroups(walker, settings, tally, async (progress) => {
        await settings.onProgress?.({
          chunksDone: progress.segmentsDone,
          chunksTotal: progress.segmentsTotal,
          throughKey: progress.throughKey,
          differences: found.size,
        });
      }));
    if (!grouped) await walkChunks(walker, settings, tally, () => found.size);
  } finally {
    await Promise.all(sides.map((side) => side.close()));
  }
  if (options.settle !== undefined && found.size > 0)
    await recheck(shape, rowHash, source, target, found, options.settle, settings.recheckRounds);
  const of = (verdict: Verdict) =>
    [...found.values()].filter((f) => f.verdict === verdict).map((f) => f.key);
  return {
    table: shape.name,
    keyColumns: shape.keyColumns,
    missing: of('missing'),
    extra: of('extra'),
    different: of('different'),
    ...tally,
  };
}

type Settings = typeof DEFAULTS & CompareOptions;
type Chunk = Range & { readonly buckets: RowKey[] | null };

/** The table's chunks from `resumeAfter` on (with their buckets' bounds for a one-column key). */
async function chunksOf(walker: RangeWalker, settings: Settings) {
  // A one-column key: chunks of whole buckets, the buckets' bounds kept for the second look.
  const bucketed = walker.shape.keyColumns.length === 1;
  const step = bucketed ? settings.bucketRows : settings.chunkRows;
  const perChunk = bucketed ? Math.max(1, Math.round(settings.chunkRows / step)) : 1;
  const after = settings.resumeAfter ?? null;
  const fine = await walker.boundaries({ after, through: null }, step, walker.source);
  const bounds = fine.filter((_, i) => (i + 1) % perChunk === 0);
  // Chunk i ends at fine[(i + 1) * perChunk - 1]; the bounds inside it split its buckets.
  const chunks: Chunk[] = rangesOf(after, bounds).map((range, i) => ({
    ...range,
    buckets: bucketed ? fine.slice(i * perChunk, (i + 1) * perChunk - 1) : null,
  }));
  return { chunks, lastBound: bounds.at(-1) ?? after };
}

/** Compares every chunk, `parallel` in flight (each side has as many connections), in order. */
async function walkChunks(
  walker: RangeWalker,
  settings: Settings,
  tally: { chunks: number; chunksDiffering: number },
  differences: () => number,
): Promise<void> {
  const { chunks, lastBound } = await chunksOf(walker, settings);
  const inFlight: Promise<boolean>[] = [];
  // Once most chunks differ (differences spread thin), go to the buckets at once.
  const dense = () => tally.chunks > 0 && tally.chunksDiffering * 2 > tally.chunks;
  for (let n = 0; n < chunks.length; n += 1) {
    while (inFlight.length < settings.parallel && n + inFlight.length < chunks.length) {
      const next = chunks[n + inFlight.length] as Chunk;
      settings.signal?.throwIfAborted();
      await settings.throttle?.();
      const comparing =
        next.buckets === null || next.buckets.length === 0
          ? walker.compare(next)
          : walker.compareBuckets(next, next.buckets, dense());
      comparing.catch(() => undefined);
      inFlight.push(comparing);
    }
    if (await inFlight.shift()) tally.chunksDiffering += 1;
    tally.chunks += 1;
    await settings.onProgress?.({
      chunksDone: n + 1,
      chunksTotal: chunks.length,
      throughKey: chunks[n]?.through ?? lastBound,
      differences: differences(),
    });
  }
}

/**
 * The SQL of a row's 64-bit hash: `hash_record_extended(t, 0)`, which hashes each column's value
 * with its type's own hash function, when every column's type has one on both sides; else
 * `hashtextextended(t::text, 0)`. No row is formatted as text; in a query plan it cost about
 * half of the columns' own hash functions combined in SQL. Values a type's equality holds equal
 * (numeric 1.0 and 1.00) hash alike, and are not reported as different.
 */
async function rowHashOf(shape: TableShape, source: pg.Pool, target: pg.Pool): Promise<string> {
  const record = 'hash_record_extended(t, 0)';
  const works = (db: pg.Pool) =>
    db.query(`SELECT ${record} FROM ${shape.name} t LIMIT 1`).then(
      () => true,
      () => false,
    );
  const [a, b] = await Promise.all([works(source), works(target)]);
  return a && b ? record : 'hashtextextended(t::text, 0)';
}

/** The hash of each listed row on `db`, now (unpinned). */
async function rowHashes(
  shape: TableShape,
  rowHash: string,
  db: pg.Pool,
  keys: readonly RowKey[],
): Promise<Map<string, string>> {
  const values: unknown[] = [];
  const join = keyListJoin(shape, 't', keys, values);
  const { rows } = await db.query<{ key: string[]; h: string }>(
    `SELECT ${keyAsText(shape, 't')} AS key, ${rowHash}::text AS h
       FROM ${shape.name} t ${join}`,
    values,
  );
  return new Map(rows.map((row) => [keyText(row.key), row.h]));
}

/** Reads the differing rows again after `settle`, keeping only those that still differ. */
async function recheck(
  shape: TableShape,
  rowHash: string,
  source: pg.Pool,
  target: pg.Pool,
  found: Map<string, { key: RowKey; verdict: Verdict }>,
  settle: () => Promise<void>,
  rounds: number,
): Promise<void> {
  for (let round = 0; round < rounds && found.size > 0; round += 1) {
    await settle();
    const keys = [...found.values()].map((f) => f.key);
    const [a, b] = await Promise.all([
      rowHashes(shape, rowHash, source, keys),
      rowHashes(shape, rowHash, target, keys),
    ]);
    for (const [text, entry] of found) {
      const [onSource, onTarget] = [a.get(text), b.get(text)];
      if (onSource === onTarget) found.delete(text);
      else if (onSource === undefined) entry.verdict = 'extra';
      else if (onTarget === undefined) entry.verdict = 'missing';
      else entry.verdict = 'different';
    }
  }
}
