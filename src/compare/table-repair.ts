import type pg from 'pg';
import { keyListJoin, keyText, type RowKey, tableShapeOf } from './table-shape.ts';

/** What {@link repairTable} changed on the target. */
export interface TableRepair {
  /** Rows written from the source (inserted or overwritten). */
  readonly written: number;
  /** Rows deleted from the target (extra there). */
  readonly deleted: number;
}

/** The keys to repair, as a comparison found them. */
export interface RepairList {
  readonly missing: readonly RowKey[];
  readonly extra: readonly RowKey[];
  readonly different: readonly RowKey[];
}

/** Rows per round trip when copying rows across. */
const ROWS_PER_STATEMENT = 1_000;

/**
 * Makes the target's rows of `table` equal to the source's for the listed keys, in ONE
 * transaction on the target: each missing or different row copied from the source as it is now
 * (a row deleted there since the comparison is deleted here too), each extra row deleted. With
 * `asReplica` the transaction runs as a replication apply would
 * (`session_replication_role = replica`: no triggers, no foreign-key checks, needs a superuser),
 * which a logical copy needs, since its rows arrive in any order. Compare again afterwards.
 */
export async function repairTable(
  source: pg.Pool,
  target: pg.Pool,
  table: string,
  list: RepairList,
  options: { readonly asReplica?: boolean } = {},
): Promise<TableRepair> {
  const shape = await tableShapeOf(source, table);
  const wanted = [...list.missing, ...list.different];
  const rows: string[] = [];
  const gone: RowKey[] = [...list.extra];
  for (let at = 0; at < wanted.length; at += ROWS_PER_STATEMENT) {
    const keys = wanted.slice(at, at + ROWS_PER_STATEMENT);
    const values: unknown[] = [];
    const join = keyListJoin(shape, 't', keys, values);
    // Rows travel as jsonb text, never parsed in JavaScript, so every value keeps its digits.
    const { rows: found } = await source.query<{ row: string; key: string[] }>(
      `SELECT to_jsonb(t)::text AS row, ARRAY[${shape.keyColumns.map((_, i) => `u.k${i}`).join(', ')}] AS key
         FROM ${shape.name} t ${join}`,
      values,
    );
    rows.push(...found.map((r) => r.row));
    const present = new Set(found.map((r) => keyText(r.key)));
    gone.push(...keys.filter((key) => !present.has(keyText(key))));
  }
  const columns = shape.columns.join(', ');
  const others = shape.columns.filter((column) => !shape.keyColumns.includes(column));
  const onConflict =
    others.length === 0
      ? 'DO NOTHING'
      : `DO UPDATE SET ${others.map((c) => `${c} = EXCLUDED.${c}`).join(', ')}`;
  const client = await target.connect();
  let ended = false;
  try {
    // READ WRITE: a copy's database may default to read-only (a DC switchover's old home).
    await client.query('BEGIN READ WRITE');
    if (options.asReplica) await client.query('SET LOCAL session_replication_role = replica');
    for (let at = 0; at < rows.length; at += ROWS_PER_STATEMENT) {
      await client.query(
        `INSERT INTO ${shape.name} (${columns})
         SELECT ${columns} FROM jsonb_populate_recordset(NULL::${shape.name}, $1::jsonb)
         ON CONFLICT (${shape.keyColumns.join(', ')}) ${onConflict}`,
        [`[${rows.slice(at, at + ROWS_PER_STATEMENT).join(',')}]`],
      );
    }
    let deleted = 0;
    for (let at = 0; at < gone.length; at += ROWS_PER_STATEMENT) {
      const values: unknown[] = [];
      const join = keyListJoin(shape, 't', gone.slice(at, at + ROWS_PER_STATEMENT), values);
      const result = await client.query(
        `DELETE FROM ${shape.name} d USING (SELECT t.ctid FROM ${shape.name} t ${join}) x
          WHERE d.ctid = x.ctid`,
        values,
      );
      deleted += result.rowCount ?? 0;
    }
    await client.query('COMMIT');
    ended = true;
    return { written: rows.length, deleted };
  } finally {
    if (!ended) await client.query('ROLLBACK').catch(() => undefined);
    client.release();
  }
}
