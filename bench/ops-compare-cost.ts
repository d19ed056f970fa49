/**
 * What the comparison's queries cost on ONE server, in the CPU time of its backend (read from
 * `/proc/<pid>/stat`, so a busy or drifting machine changes it less than wall time): the plain
 * aggregate hash of the whole table (the floor of any comparison that hashes every row, without
 * parallel workers, as a comparison runs), the grouped pass's query (a hash table of groups on
 * top), the same with 64 groups only, and the grouped query on each half of the heap (how a
 * side with two connections reads a whole table). Rounds interleave the queries; each figure
 * is the best of its rounds.
 *
 * It answers why the grouped pass sits above the floor: the hash aggregate's per-row cost, the
 * same for 64 groups as for 15,000.
 */
import type pg from 'pg';
import { processCpuMs } from './support/process-cpu.ts';
import type { SummaryRow } from './support/report.ts';
import { printTable } from './support/report.ts';

const ROUNDS = 7;

/** The per-query CPU of the comparison's queries over `table` (key `id`) on `db`. */
export async function compareCostFigures(db: pg.Pool, table: string): Promise<SummaryRow[]> {
  const client = await db.connect();
  try {
    const { rows } = await client.query<{ pid: number; blocks: string; n: string }>(
      `SELECT pg_backend_pid() AS pid,
              (pg_relation_size($1::regclass) / current_setting('block_size')::bigint)::text AS blocks,
              (SELECT reltuples::bigint FROM pg_class WHERE oid = $1::regclass)::text AS n`,
      [table],
    );
    const { pid, blocks, n } = rows[0] as { pid: number; blocks: string; n: string };
    await client.query('SET max_parallel_workers_per_gather = 0');
    const half = Math.ceil(Number(blocks) / 2);
    const width = Math.max(1, Math.round(Number(n) / 128));
    const grouped = (groupKeys: number, where = '') =>
      `SELECT (t.id - 1) / ${groupKeys} AS g, count(*), sum(hash_record_extended(t, 0))
         FROM ${table} t ${where} GROUP BY 1`;
    const probes: { label: string; sql: string }[] = [
      {
        label: 'whole table: count and hash sum',
        sql: `SELECT count(*), sum(hash_record_extended(t, 0)) FROM ${table} t`,
      },
      { label: 'grouped pass, groups of 128 rows', sql: grouped(128) },
      { label: 'grouped, 64 groups', sql: grouped(Math.ceil(Number(n) / 64)) },
      {
        label: 'grouped, first half of the heap',
        sql: grouped(128, `WHERE t.ctid < '(${half},0)'::tid`),
      },
      {
        label: 'grouped, second half of the heap',
        sql: grouped(128, `WHERE t.ctid >= '(${half},0)'::tid`),
      },
    ];
    const cpu = () => processCpuMs(pid);
    const best = probes.map(() => ({
      cpu: Number.POSITIVE_INFINITY,
      wall: Number.POSITIVE_INFINITY,
    }));
    for (let round = 0; round < ROUNDS; round += 1) {
      for (const [at, probe] of probes.entries()) {
        const [c0, w0] = [cpu(), performance.now()];
        await client.query(probe.sql);
        const entry = best[at] as { cpu: number; wall: number };
        entry.cpu = Math.min(entry.cpu, cpu() - c0);
        entry.wall = Math.min(entry.wall, performance.now() - w0);
      }
    }
    console.log(
      `${Number(n).toLocaleString('en-US')} rows, ${Number(blocks).toLocaleString('en-US')} blocks, ` +
        `one server, no parallel workers, best of ${ROUNDS} interleaved rounds (${width.toLocaleString('en-US')} groups of 128)\n`,
    );
    printTable(
      ['query', 'backend CPU ms', 'wall ms'],
      probes.map((probe, at) => [
        probe.label,
        String(Math.round(best[at]?.cpu ?? 0)),
        String(Math.round(best[at]?.wall ?? 0)),
      ]),
    );
    const [whole = 0, groups = 0, coarse = 0, first = 0, second = 0] = best.map(
      (entry) => entry.cpu,
    );
    return [
      {
        figure: 'grouped pass against the whole-table hash, backend CPU',
        value: `${(groups / whole).toFixed(2)}x (${Math.round(groups)} vs ${Math.round(whole)} ms)`,
        target: 'none set',
        met: null,
      },
      {
        figure: '64 groups against groups of 128 rows, backend CPU',
        value: `${(coarse / groups).toFixed(2)}x`,
        target: 'none set',
        met: null,
      },
      {
        figure: 'two halves of the heap against one grouped pass, backend CPU',
        value: `${((first + second) / groups).toFixed(2)}x`,
        target: 'none set',
        met: null,
      },
    ];
  } finally {
    await client.query('RESET max_parallel_workers_per_gather').catch(() => undefined);
    client.release();
  }
}
