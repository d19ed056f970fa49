import type { PinnedSide } from './pinned-side.ts';
import { keyAsText, keyRange, keyText, type RowKey, type TableShape } from './table-shape.ts';

export interface Range {
  readonly after: RowKey | null;
  readonly through: RowKey | null;
}

export interface RangeHash {
  readonly rows: number;
  readonly hash: string;
}

export type Verdict = 'missing' | 'extra' | 'different';

/** Sub-ranges a differing range is cut into. */
const FAN_OUT = 16;

/** `(after, b1], (b1, b2], ..., (bn, end)`: the ranges between consecutive boundaries. */
export function rangesOf(after: RowKey | null, bounds: readonly RowKey[]): Range[] {
  const ranges: Range[] = [];
  let from = after;
  for (const bound of bounds) {
    ranges.push({ after: from, through: bound });
    from = bound;
  }
  ranges.push({ after: from, through: null });
  return ranges;
}

/** Walks ranges of one table on two pinned sides, recording what differs. */
export class RangeWalker {
  constructor(
    readonly shape: TableShape,
    readonly rowHash: string,
    readonly source: PinnedSide,
    readonly target: PinnedSide,
    readonly leafRows: number,
    readonly found: Map<string, { key: RowKey; verdict: Verdict }>,
    readonly tally: { rowsRead: number },
  ) {}

  /** Every `step`-th key of `side` in `range`, in key order. */
  async boundaries(range: Range, step: number, side: PinnedSide): Promise<RowKey[]> {
    const values: unknown[] = [];
    const where = keyRange(this.shape, 't', range.after, range.through, values);
    values.push(step);
    const keys = this.shape.keyColumns.map((k) => `t.${k}`).join(', ');
    // The key's text is made only for the rows kept, not for every row the pass reads.
    const rows = await side.query<{ key: string[] }>(
      `SELECT ${keyAsText(this.shape, 's')} AS key FROM (
         SELECT ${keys}, row_number() OVER (ORDER BY ${keys}) AS n
           FROM ${this.shape.name} t WHERE ${where}) s
        WHERE s.n % $${values.length} = 0 ORDER BY s.n`,
      values,
    );
    return rows.map((row) => row.key);
  }

  async #hash(side: PinnedSide, range: Range): Promise<RangeHash> {
    const values: unknown[] = [];
    const where = keyRange(this.shape, 't', range.after, range.through, values);
    const [row] = await side.query<{ n: string; h: string }>(
      `SELECT count(*)::text AS n, coalesce(sum(${this.rowHash}), 0)::text AS h
         FROM ${this.shape.name} t WHERE ${where}`,
      values,
    );
    return { rows: Number(row?.n ?? 0), hash: row?.h ?? '0' };
  }

  /** Compares `range`; answers whether it differed. */
  async compare(range: Range): Promise<boolean> {
    const [a, b] = await Promise.all([
      this.#hash(this.source, range),
      this.#hash(this.target, range),
    ]);
    if (a.rows === b.rows && a.hash === b.hash) return false;
    if (Math.max(a.rows, b.rows) <= this.leafRows) {
      await this.#rows(range);
      return true;
    }
    const [side, rows] = a.rows >= b.rows ? [this.source, a.rows] : [this.target, b.rows];
    const bounds = await this.boundaries(range, Math.ceil(rows / FAN_OUT), side);
    const inner = rangesOf(
      range.after,
      bounds.filter((bound) => !sameKey(bound, range.through)),
    );
    const last = inner.at(-1);
    if (last) inner[inner.length - 1] = { after: last.after, through: range.through };
    await Promise.all(inner.map((part) => this.compare(part)));
    return true;
  }

  /**
   * Compares a chunk of a one-column key by buckets (`width_bucket` over `bounds`, the keys that
   * split it): unless `bucketsFirst`, the chunk's hash first; then each bucket's count and hash
   * in one query a side; then the rows of the buckets that differ. Answers whether it differed.
   */
  async compareBuckets(
    range: Range,
    bounds: readonly RowKey[],
    bucketsFirst: boolean,
  ): Promise<boolean> {
    if (!bucketsFirst) {
      const [a, b] = await Promise.all([
        this.#hash(this.source, range),
        this.#hash(this.target, range),
      ]);
      if (a.rows === b.rows && a.hash === b.hash) return false;
    }
    const bucketOf = (values: unknown[]) => {
      values.push(bounds.map((key) => key[0]));
      return `width_bucket(t.${this.shape.keyColumns[0]}, $${values.length}::text[]::${this.shape.keyTypes[0]}[])`;
    };
    const hashes = async (side: PinnedSide) => {
      const values: unknown[] = [];
      const where = keyRange(this.shape, 't', range.after, range.through, values);
      const rows = await side.query<{ b: number; n: string; h: string }>(
        `SELECT ${bucketOf(values)} AS b, count(*)::text AS n, sum(${this.rowHash})::text AS h
           FROM ${this.shape.name} t WHERE ${where} GROUP BY 1`,
        values,
      );
      return new Map(rows.map((row) => [row.b, `${row.n}:${row.h}`]));
    };
    const [a, b] = await Promise.all([hashes(this.source), hashes(this.target)]);
    const differing = [...new Set([...a.keys(), ...b.keys()])].filter((n) => a.get(n) !== b.get(n));
    if (differing.length === 0) return false;
    const leaf = async (side: PinnedSide) => {
      const values: unknown[] = [];
      const where = keyRange(this.shape, 't', range.after, range.through, values);
      const bucket = bucketOf(values);
      values.push(differing);
      const rows = await side.query<{ key: string[]; h: string }>(
        `SELECT ${keyAsText(this.shape, 't')} AS key, ${this.rowHash}::text AS h
           FROM ${this.shape.name} t WHERE ${where} AND ${bucket} = ANY ($${values.length}::integer[])`,
        values,
      );
      this.tally.rowsRead += rows.length;
      return new Map(rows.map((row) => [keyText(row.key), { key: row.key, h: row.h }]));
    };
    this.record(...(await Promise.all([leaf(this.source), leaf(this.target)])));
    return true;
  }

  async #leaf(side: PinnedSide, range: Range): Promise<Map<string, { key: RowKey; h: string }>> {
    const values: unknown[] = [];
    const where = keyRange(this.shape, 't', range.after, range.through, values);
    const rows = await side.query<{ key: string[]; h: string }>(
      `SELECT ${keyAsText(this.shape, 't')} AS key, ${this.rowHash}::text AS h
         FROM ${this.shape.name} t WHERE ${where}`,
      values,
    );
    this.tally.rowsRead += rows.length;
    return new Map(rows.map((row) => [keyText(row.key), { key: row.key, h: row.h }]));
  }

  async #rows(range: Range): Promise<void> {
    this.record(
      ...(await Promise.all([this.#leaf(this.source, range), this.#leaf(this.target, range)])),
    );
  }

  /** Records what differs between the same keys' rows read on the source (`a`) and target. */
  record(
    a: Map<string, { key: RowKey; h: string }>,
    b: Map<string, { key: RowKey; h: string }>,
  ): void {
    for (const [text, row] of a) {
      const other = b.get(text);
      if (other === undefined) this.found.set(text, { key: row.key, verdict: 'missing' });
      else if (other.h !== row.h) this.found.set(text, { key: row.key, verdict: 'different' });
    }
    for (const [text, row] of b)
      if (!a.has(text)) this.found.set(text, { key: row.key, verdict: 'extra' });
  }
}

export function sameKey(a: RowKey, b: RowKey | null): boolean {
  return b !== null && a.length === b.length && a.every((value, i) => value === b[i]);
}
