/**
 * What the gate measures on the fleet (decision 55), as plain figures: per table, summed over
 * every shard database on every server that serves it (the shard's home primary and its
 * streaming replicas, whose reads count), and the replication lag of every standby and copy.
 * Read by the store (`store/fleet-statistics-reader.ts`); the rules only read these figures.
 */

/**
 * One table's figures since each server's statistics were last reset. Reads and writes are in
 * rows, one unit for both: rows read are `seq_tup_read + idx_tup_fetch` (rows returned by
 * sequential scans and fetched from the heap by index scans), rows written are
 * `n_tup_ins + n_tup_upd + n_tup_del`, from `pg_stat_user_tables`.
 */
export interface TableFigures {
  /** `schema.name`. */
  readonly table: string;
  readonly rowsRead: number;
  /** The part of {@link rowsRead} served by replicas. */
  readonly rowsReadOnReplicas: number;
  readonly rowsWritten: number;
  /** `pg_total_relation_size` (heap, indexes, TOAST) summed over the shards' primaries. */
  readonly bytes: number;
  /** The largest one shard holds. */
  readonly largestShardBytes: number;
  /** `n_live_tup` summed over the shards' primaries (an estimate, as PostgreSQL keeps it). */
  readonly liveRows: number;
  /** Shard databases that hold the table. */
  readonly shards: number;
  /** Bytes a day since the previous sample at least the configured age, or `null` without one. */
  readonly growthBytesPerDay: number | null;
  /** When that previous sample was taken. */
  readonly growthSince: string | null;
  /**
   * The rows read and written since that previous sample: the traffic of the recent past rather
   * than of the counters' whole life. `null` without a sample, or when a counter went backwards
   * since (a server's statistics were reset), so that the difference means nothing.
   */
  readonly window: TrafficWindow | null;
}

/** Rows read and written between a previous sample and now. */
export interface TrafficWindow {
  readonly since: string;
  readonly rowsRead: number;
  readonly rowsReadOnReplicas: number;
  readonly rowsWritten: number;
}

/** How far one standby or logical copy is behind the primary that feeds it. */
export interface ReplicationLag {
  /** The feeding primary. */
  readonly server: string;
  /** `application_name` of the standby or subscription (`dc1_b`, `shard_1_copy`). */
  readonly standby: string;
  readonly kind: 'physical' | 'logical';
  /** WAL bytes sent but not yet replayed (applied, for a copy). */
  readonly lagBytes: number;
  /** `replay_lag` in ms, `null` when PostgreSQL has none to report (an idle standby). */
  readonly replayLagMs: number | null;
}

/** One measurement of the fleet. */
export interface FleetStatistics {
  readonly takenAt: string;
  readonly tables: readonly TableFigures[];
  readonly replication: readonly ReplicationLag[];
  /** Servers whose figures are in the totals. */
  readonly serversRead: readonly string[];
  /** Servers that serve a shard but did not answer: their reads are missing from the totals. */
  readonly serversUnreachable: readonly string[];
}

/** A table's size and counters at a moment, kept to measure the next evaluation against. */
export interface TableSample {
  readonly table: string;
  readonly takenAt: string;
  readonly bytes: number;
  readonly rowsRead: number;
  readonly rowsReadOnReplicas: number;
  readonly rowsWritten: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** What `figures` records for the next evaluation. */
export function sampleOf(figures: TableFigures, takenAt: string): TableSample {
  const { table, bytes, rowsRead, rowsReadOnReplicas, rowsWritten } = figures;
  return { table, takenAt, bytes, rowsRead, rowsReadOnReplicas, rowsWritten };
}

/**
 * `tables` with their growth a day and their traffic window since `previous` (the latest sample
 * of each table at least the minimum age). A table that shrank grows by a negative figure; one
 * with no sample has neither.
 */
export function withHistory(
  tables: readonly TableFigures[],
  previous: readonly TableSample[],
  takenAt: string,
): TableFigures[] {
  const byTable = new Map(previous.map((sample) => [sample.table, sample]));
  return tables.map((figures) => {
    const sample = byTable.get(figures.table);
    const elapsedMs = sample ? Date.parse(takenAt) - Date.parse(sample.takenAt) : 0;
    if (!sample || elapsedMs <= 0) return figures;
    const window = {
      since: sample.takenAt,
      rowsRead: figures.rowsRead - sample.rowsRead,
      rowsReadOnReplicas: figures.rowsReadOnReplicas - sample.rowsReadOnReplicas,
      rowsWritten: figures.rowsWritten - sample.rowsWritten,
    };
    const reset = window.rowsRead < 0 || window.rowsReadOnReplicas < 0 || window.rowsWritten < 0;
    return {
      ...figures,
      growthBytesPerDay: Math.round(((figures.bytes - sample.bytes) * DAY_MS) / elapsedMs),
      growthSince: sample.takenAt,
      window: reset ? null : window,
    };
  });
}
