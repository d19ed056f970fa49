/**
 * Each shard's home equals its logical copy in the other data centre: per published table,
 * the row count and a hash of every row as text, compared once the copy has caught up.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { TopologySnapshot } from '../../../src/fleet/topology-snapshot.ts';
import type { FleetAccess } from './fleet-access.ts';
import type { CheckResult } from './ledger-checks.ts';

/** How long a copy may take to catch up before a difference counts. */
const CATCH_UP_MS_MAX = 30_000;
const POLL_MS = 1_000;
const PUBLICATION = 'mainstay_shard';

interface TableFigure {
  readonly table: string;
  readonly rows: number;
  readonly hash: string;
}

async function tableFigures(
  access: FleetAccess,
  server: string,
  database: string,
  tables: readonly string[],
): Promise<TableFigure[]> {
  const figures: TableFigure[] = [];
  for (const table of tables) {
    const [row] = await access.sql<{ n: number; h: string }>(
      server,
      database,
      `SELECT count(*)::int AS n,
              md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS h
         FROM public.${JSON.stringify(table)} t`,
    );
    figures.push({ table, rows: row?.n ?? -1, hash: row?.h ?? '' });
  }
  return figures;
}

/** Tables of the shard's publication on its home, differing on its copy, or a reason. */
async function shardDifferences(
  access: FleetAccess,
  topology: TopologySnapshot,
  shard: TopologySnapshot['shards'][number],
): Promise<string[]> {
  const primaryOf = (dc: string) => topology.dataCentres.find((d) => d.id === dc)?.primary;
  const home = primaryOf(shard.homeDc);
  const copy = primaryOf(shard.copyDc);
  if (!home || !copy) return [`${shard.database}: no primary for home or copy`];
  const tables = (
    await access.sql<{ tablename: string }>(
      home,
      shard.database,
      'SELECT tablename FROM pg_publication_tables WHERE pubname = $1 ORDER BY 1',
      [PUBLICATION],
    )
  ).map((row) => row.tablename);
  const [atHome, atCopy] = await Promise.all([
    tableFigures(access, home, shard.database, tables),
    tableFigures(access, copy, shard.database, tables),
  ]);
  return atHome.flatMap((figure, n) => {
    const other = atCopy[n];
    return other && other.rows === figure.rows && other.hash === figure.hash
      ? []
      : [`${shard.database}.${figure.table}: home ${figure.rows} rows, copy ${other?.rows} rows`];
  });
}

/** Compares every shard whose copy is held in a data centre not lost. */
export async function homeEqualsCopyCheck(
  access: FleetAccess,
  lostDcs: readonly string[],
): Promise<CheckResult> {
  const deadline = Date.now() + CATCH_UP_MS_MAX;
  let differences: string[] = ['not compared'];
  let skipped: string[] = [];
  let compared = 0;
  while (Date.now() < deadline) {
    const topology = await access.topology();
    if (topology) {
      const shards = topology.shards.filter((shard) => !lostDcs.includes(shard.copyDc));
      skipped = topology.shards.filter((s) => lostDcs.includes(s.copyDc)).map((s) => s.database);
      compared = shards.length;
      differences = [];
      try {
        for (const shard of shards)
          differences.push(...(await shardDifferences(access, topology, shard)));
      } catch (error) {
        differences.push(`not read: ${(error as Error).message}`);
      }
      if (differences.length === 0) break;
    }
    await sleep(POLL_MS);
  }
  const skippedNote =
    skipped.length > 0 ? `; not compared (copy in a lost DC): ${skipped.join(', ')}` : '';
  return {
    name: "each shard's home equals its copy",
    outcome: differences.length === 0 ? 'pass' : 'fail',
    detail: `${differences.length} differing tables over ${compared} shards${skippedNote}`,
    examples: differences.slice(0, 5),
  };
}
