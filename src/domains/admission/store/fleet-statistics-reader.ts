/**
 * Reads the admission gate's figures from the fleet (decision 55): `pg_stat_user_tables` and
 * `pg_total_relation_size` in every shard database on every server that serves it (the shard's
 * home primary and its streaming replicas, as the router's shard map has them now), and
 * `pg_stat_replication` on every primary. A server that does not answer is named in
 * `serversUnreachable`; its figures are missing from the totals, never guessed.
 */
import type { Queryable, Router } from '../../../data/router.ts';
import type { ShardRoute } from '../../../data/shard-map.ts';
import { MainstayError } from '../../../errors/mainstay-error.ts';
import type { StatisticsSource } from '../core/admission-gate.ts';
import type { FleetStatistics, ReplicationLag, TableFigures } from '../core/fleet-statistics.ts';

/** Schemas whose tables are Mainstay's bookkeeping, not data: the migration ledger. */
const SKIPPED_SCHEMAS = ['mainstay'];

const TABLES_SQL = `
SELECT schemaname || '.' || relname AS table_name,
       seq_tup_read + coalesce(idx_tup_fetch, 0) AS rows_read,
       n_tup_ins + n_tup_upd + n_tup_del AS rows_written,
       n_live_tup AS live_rows,
       coalesce(pg_total_relation_size(relid), 0) AS bytes
FROM pg_stat_user_tables
WHERE schemaname <> ALL ($1::text[])`;

const REPLICATION_SQL = `
SELECT r.application_name AS standby,
       coalesce(s.slot_type, 'physical') AS kind,
       coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(),
         coalesce(r.replay_lsn, r.flush_lsn, r.write_lsn, r.sent_lsn)), 0) AS lag_bytes,
       extract(epoch FROM r.replay_lag) * 1000 AS replay_lag_ms
FROM pg_stat_replication r LEFT JOIN pg_replication_slots s ON s.active_pid = r.pid`;

interface TableRow {
  table_name: string;
  rows_read: string;
  rows_written: string;
  live_rows: string;
  bytes: string;
}

interface ServerRead {
  readonly server: string;
  readonly shardId: number;
  readonly role: 'primary' | 'replica';
  readonly rows: readonly TableRow[] | null;
}

/** {@link StatisticsSource} through a router: the servers its shard map routes to now. */
export class FleetStatisticsReader implements StatisticsSource {
  readonly #router: Router;

  constructor(router: Router) {
    this.#router = router;
  }

  async measure(): Promise<FleetStatistics> {
    const routes = this.#router.map.snapshot.shards.map((shard) =>
      this.#router.map.route(shard.id),
    );
    const [reads, replication] = await Promise.all([
      Promise.all(routes.flatMap((route) => this.#readRoute(route))),
      this.#replication(routes),
    ]);
    const answered = reads.filter((read) => read.rows !== null);
    if (answered.length === 0) {
      throw new MainstayError(
        'fleet_statistics_unavailable',
        'no server of the fleet answered for its statistics',
      );
    }
    const unreachable = reads.filter((read) => read.rows === null).map((read) => read.server);
    return {
      takenAt: new Date().toISOString(),
      tables: tableFigures(reads),
      replication: replication.lags,
      serversRead: [...new Set(answered.map((read) => read.server))].sort(),
      serversUnreachable: [...new Set([...unreachable, ...replication.unreachable])].sort(),
    };
  }

  #readRoute(route: ShardRoute): Promise<ServerRead>[] {
    const servers = [
      ...(route.primary ? [{ id: route.primary.id, role: 'primary' as const }] : []),
      ...route.replicas.map((replica) => ({ id: replica.id, role: 'replica' as const })),
    ];
    return servers.map(async ({ id, role }) => {
      const read = { server: id, shardId: route.shard.id, role };
      try {
        const rows = await this.#router.queryServer(id, route.shard.database, async (db) => {
          const result = await db.query<TableRow>(TABLES_SQL, [SKIPPED_SCHEMAS]);
          return result.rows;
        });
        return { ...read, rows };
      } catch {
        return { ...read, rows: null };
      }
    });
  }

  /** The lag of every standby and copy each primary feeds, asked of the primary. */
  async #replication(routes: readonly ShardRoute[]) {
    const primaries = new Map<string, string>();
    for (const route of routes) {
      if (route.primary) primaries.set(route.primary.id, route.shard.database);
    }
    const lags: ReplicationLag[] = [];
    const unreachable: string[] = [];
    await Promise.all(
      [...primaries].map(async ([server, database]) => {
        try {
          const rows = await this.#router.queryServer(server, database, lagRows);
          for (const row of rows) lags.push({ server, ...row });
        } catch {
          unreachable.push(server);
        }
      }),
    );
    lags.sort((a, b) => `${a.server} ${a.standby}`.localeCompare(`${b.server} ${b.standby}`));
    return { lags, unreachable };
  }
}

async function lagRows(db: Queryable): Promise<Omit<ReplicationLag, 'server'>[]> {
  const { rows } = await db.query<{
    standby: string;
    kind: string;
    lag_bytes: string;
    replay_lag_ms: string | null;
  }>(REPLICATION_SQL);
  return rows.map((row) => ({
    standby: row.standby,
    kind: row.kind === 'logical' ? 'logical' : 'physical',
    lagBytes: Number(row.lag_bytes),
    replayLagMs: row.replay_lag_ms === null ? null : Math.round(Number(row.replay_lag_ms)),
  }));
}

/**
 * Sums each table over the shards: rows read on every server, rows written, size and live rows
 * on each shard's primary (a replica holds the same bytes; its size stands in only when the
 * primary did not answer).
 */
function tableFigures(reads: readonly ServerRead[]): TableFigures[] {
  const tables = new Map<string, Mutable<TableFigures>>();
  const sized = new Set<string>();
  const ordered = [...reads].sort((a, b) =>
    a.role === b.role ? 0 : a.role === 'primary' ? -1 : 1,
  );
  for (const read of ordered) {
    for (const row of read.rows ?? []) {
      const figures = tables.get(row.table_name) ?? emptyFigures(row.table_name);
      tables.set(row.table_name, figures);
      figures.rowsRead += Number(row.rows_read);
      figures.rowsWritten += Number(row.rows_written);
      if (read.role === 'replica') figures.rowsReadOnReplicas += Number(row.rows_read);
      const shardKey = `${row.table_name} ${read.shardId}`;
      if (sized.has(shardKey)) continue;
      sized.add(shardKey);
      const bytes = Number(row.bytes);
      figures.bytes += bytes;
      figures.largestShardBytes = Math.max(figures.largestShardBytes, bytes);
      figures.liveRows += Number(row.live_rows);
      figures.shards += 1;
    }
  }
  return [...tables.values()].sort((a, b) => a.table.localeCompare(b.table));
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function emptyFigures(table: string): Mutable<TableFigures> {
  return {
    table,
    rowsRead: 0,
    rowsReadOnReplicas: 0,
    rowsWritten: 0,
    bytes: 0,
    largestShardBytes: 0,
    liveRows: 0,
    shards: 0,
    growthBytesPerDay: null,
    growthSince: null,
    window: null,
  };
}
