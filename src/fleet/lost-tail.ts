import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { formatLsn, parseLsn } from '../postgres/lsn.ts';
import { giveTo, type OsIdentity } from './os-user.ts';
import type { PostgresBinaries } from './postgres-binaries.ts';
import { type ConnectionInfo, PostgresServer } from './postgres-server.ts';
import { type ServerSettings, writeSettings } from './server-files.ts';

/**
 * The lost tail of an in-DC promotion, measured from the old primary's own WAL.
 *
 * The promoted replica's timeline history names its switch point: the end of the WAL it had
 * replayed when it became the primary. Whatever the old primary wrote past that point is lost
 * (it is never replayed anywhere, and the rebuild deletes it). Its data directory is started in
 * recovery with no primary (`standby.signal`, no `primary_conninfo`, on a port of its own,
 * read-only, routed by nothing), so it replays its own `pg_wal` to the end and stops there;
 * `pg_walinspect` then reads the WAL past the switch point.
 *
 * The count is of commit records past the switch point, made by clients of that server (commits
 * applied by logical replication carry a replication origin and are left out: the copies they
 * belong to resume or are re-seeded), that changed rows (heap inserts, updates, deletes) of a
 * shard database, attributed to that database through the transaction's xid and its
 * subtransactions. A Router write is one such commit; an engine batch is one for all its items.
 * Commits whose row changes are not found (none in a shard database, or written before the
 * WAL read) are counted apart.
 */

export const LOST_TAIL = {
  /** WAL read before the switch point, for the row changes of transactions committed past it. */
  lookbackBytesMax: 64 * 1024 * 1024,
  /** A longer tail is reported in bytes only: reading it would hold up the rebuild too long. */
  tailBytesMax: 256 * 1024 * 1024,
  /** How long the old data directory may take to replay its WAL and accept connections. */
  startTimeoutMs: 60_000,
} as const;

/** First relfilenode of objects users create: lower ones are system catalogs. */
const FIRST_NORMAL_OBJECT_ID = 16_384;
/** Heap record types that change rows. */
const ROW_CHANGES = ['INSERT', 'UPDATE', 'HOT_UPDATE', 'DELETE', 'MULTI_INSERT'];

export interface LostTail {
  /** The old primary whose WAL was read. */
  readonly server: string;
  /** Where the promoted server's timeline left the old one. */
  readonly switchLsn: string;
  /** The end of the old primary's WAL. */
  readonly endLsn: string;
  /** WAL past the switch point: every database's, and records other than commits. */
  readonly bytes: number;
  /** Commits that changed rows of a shard database (the sum of `commitsByDatabase`). */
  readonly commitCount: number;
  readonly commitsByDatabase: Readonly<Record<string, number>>;
  /** Other client commits past the switch point (no row change found in a shard database). */
  readonly otherCommitCount: number;
}

/** A measured tail, or why there is none. */
export type LostTailOutcome =
  | { readonly measured: true; readonly tail: LostTail }
  | { readonly measured: false; readonly reason: string };

/** What {@link measureLostTail} needs of the fleet. */
export interface LostTailInput {
  readonly server: string;
  readonly dataDir: string;
  readonly logFile: string;
  readonly binaries: PostgresBinaries;
  readonly identity: OsIdentity;
  /** Where the old data directory listens while it is read (a port nothing routes to). */
  readonly connection: ConnectionInfo;
  /** Its settings as the fleet writes them (upstream, standby and writes are taken out). */
  readonly settings: ServerSettings;
  /** A pool on the promoted server, for its switch point. */
  readonly promoted: pg.Pool;
  readonly shardDatabases: readonly string[];
}

/** Measures the lost tail (see above); never throws: a failure is an outcome with its reason. */
export async function measureLostTail(input: LostTailInput): Promise<LostTailOutcome> {
  let switchPoint: { parentTimeline: number; lsn: bigint };
  try {
    switchPoint = await readSwitchPoint(input.promoted);
  } catch (error) {
    return unknown(`the promoted server's switch point could not be read: ${message(error)}`);
  }
  const standbySignal = path.join(input.dataDir, 'standby.signal');
  const server = new PostgresServer({
    id: `${input.server} (lost tail)`,
    dataDir: input.dataDir,
    logFile: input.logFile,
    connection: input.connection,
    binaries: input.binaries,
    identity: input.identity,
  });
  try {
    writeSettings(input.dataDir, {
      ...input.settings,
      id: `${input.server}-lost-tail`,
      port: input.connection.port,
      upstream: null,
      synchronousStandby: null,
      synchronizedStandbySlot: null,
      extra: { ...input.settings.extra, default_transaction_read_only: 'on' },
    });
    writeFileSync(standbySignal, '');
    giveTo(standbySignal, input.identity);
    rmSync(path.join(input.dataDir, 'recovery.signal'), { force: true });
    await server.start(LOST_TAIL.startTimeoutMs);
    return await readTail(input, switchPoint);
  } catch (error) {
    return unknown(`${input.server}'s WAL could not be read: ${message(error)}`);
  } finally {
    await server.stop().catch(() => undefined);
    // Not a standby of anything: if the rebuild that follows does not happen, a restart
    // rebuilds this directory rather than starting it (fleet.ts, #restart).
    rmSync(standbySignal, { force: true });
  }
}

/** The promoted server's parent timeline and the LSN where it left it (its history file). */
async function readSwitchPoint(
  promoted: pg.Pool,
): Promise<{ parentTimeline: number; lsn: bigint }> {
  const { rows } = await promoted.query<{ history: string | null }>(
    `SELECT pg_read_file('pg_wal/' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)
                         || '.history', true) AS history`,
  );
  const lines = (rows[0]?.history ?? '')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const last = lines[lines.length - 1]?.split(/\s+/);
  const lsn = last?.[1] ? parseLsn(last[1]) : null;
  if (!last || lsn === null) throw new Error('no timeline history on the promoted server');
  return { parentTimeline: Number(last[0]), lsn };
}

async function readTail(
  input: LostTailInput,
  switchPoint: { parentTimeline: number; lsn: bigint },
): Promise<LostTailOutcome> {
  const client = new pg.Client({ ...input.connection, database: 'postgres' });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const { rows } = await client.query<{ end_lsn: string | null; timeline: number }>(
      `SELECT pg_last_wal_replay_lsn()::text AS end_lsn,
              (SELECT timeline_id FROM pg_control_checkpoint()) AS timeline`,
    );
    const end = rows[0]?.end_lsn ? parseLsn(rows[0].end_lsn) : null;
    if (end === null) return unknown(`${input.server} replayed no WAL`);
    if (rows[0]?.timeline !== switchPoint.parentTimeline) {
      return unknown(
        `${input.server}'s WAL is on timeline ${rows[0]?.timeline}, the promotion left timeline ${switchPoint.parentTimeline}`,
      );
    }
    const bytes = end > switchPoint.lsn ? Number(end - switchPoint.lsn) : 0;
    const base = {
      server: input.server,
      switchLsn: formatLsn(switchPoint.lsn),
      endLsn: formatLsn(end),
      bytes,
    };
    if (bytes === 0) {
      const tail = { ...base, commitCount: 0, commitsByDatabase: {}, otherCommitCount: 0 };
      return { measured: true, tail };
    }
    if (bytes > LOST_TAIL.tailBytesMax)
      return unknown(`${bytes} bytes of WAL past the switch point: too long to read for commits`);
    const commits = await countCommits(client, input.shardDatabases, switchPoint.lsn, end);
    return { measured: true, tail: { ...base, ...commits } };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Commits in [from, to) of the WAL, as described at the top of this file. */
async function countCommits(
  client: pg.Client,
  shardDatabases: readonly string[],
  from: bigint,
  to: bigint,
): Promise<Pick<LostTail, 'commitCount' | 'commitsByDatabase' | 'otherCommitCount'>> {
  const { rows: ext } = await client.query<{ schema: string }>(
    `SELECT quote_ident(extnamespace::regnamespace::text) AS schema
       FROM pg_extension WHERE extname = 'pg_walinspect'`,
  );
  const schema = ext[0]?.schema;
  if (!schema) throw new Error('pg_walinspect is not installed in its database postgres');
  const lookback = await lookbackStart(client, from);
  const { rows } = await client.query<{ total: number; by_db: Record<string, number> }>(
    commitsSql(schema),
    [formatLsn(lookback), formatLsn(from), formatLsn(to), shardDatabases, ROW_CHANGES],
  );
  const total = rows[0]?.total ?? 0;
  const commitsByDatabase = rows[0]?.by_db ?? {};
  const commitCount = Object.values(commitsByDatabase).reduce((sum, n) => sum + n, 0);
  return { commitCount, commitsByDatabase, otherCommitCount: total - commitCount };
}

/** `from` minus the lookback, but not before the oldest WAL segment the directory holds. */
async function lookbackStart(client: pg.Client, from: bigint): Promise<bigint> {
  const { rows } = await client.query<{ oldest: string | null; segment: string }>(
    `SELECT min(name) AS oldest, pg_size_bytes(current_setting('wal_segment_size'))::text AS segment
       FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$'`,
  );
  const wanted =
    from > BigInt(LOST_TAIL.lookbackBytesMax) ? from - BigInt(LOST_TAIL.lookbackBytesMax) : 0n;
  const oldest = rows[0]?.oldest;
  if (!oldest) return from;
  const segmentStart =
    BigInt(`0x${oldest.slice(8, 16)}`) * 2n ** 32n +
    BigInt(`0x${oldest.slice(16, 24)}`) * BigInt(rows[0]?.segment ?? '16777216');
  if (segmentStart > from) return from;
  return wanted > segmentStart ? wanted : segmentStart;
}

/**
 * $1 lookback start, $2 switch point, $3 end, $4 shard database names, $5 row-change record
 * types. Commits are those past $2; their row changes are looked for from $1.
 */
function commitsSql(schema: string): string {
  return `
WITH rec AS (
  SELECT start_lsn, xid::text::bigint AS xid, resource_manager, record_type, description, block_ref
    FROM ${schema}.pg_get_wal_records_info($1::pg_lsn, $3::pg_lsn)
),
commits AS (
  SELECT start_lsn, xid, description FROM rec
   WHERE resource_manager = 'Transaction' AND record_type = 'COMMIT'
     AND start_lsn >= $2::pg_lsn AND description NOT LIKE '%; origin: %'
),
members AS (
  SELECT start_lsn, xid AS member FROM commits
  UNION ALL
  SELECT c.start_lsn, s::bigint
    FROM commits c,
         unnest(string_to_array(btrim((regexp_match(c.description, 'subxacts:([ 0-9]+)'))[1]), ' ')) s
   WHERE s <> ''
),
changed AS (
  SELECT DISTINCT r.xid, m[1]::oid AS db
    FROM rec r, regexp_matches(r.block_ref, 'rel \\d+/(\\d+)/(\\d+)', 'g') m
   WHERE r.resource_manager IN ('Heap', 'Heap2')
     AND split_part(r.record_type, '+', 1) = ANY ($5::text[])
     AND m[2]::bigint >= ${FIRST_NORMAL_OBJECT_ID}
),
attributed AS (
  SELECT DISTINCT mb.start_lsn, d.datname
    FROM members mb
    JOIN changed ch ON ch.xid = mb.member
    JOIN pg_database d ON d.oid = ch.db
   WHERE d.datname = ANY ($4::text[])
)
SELECT (SELECT count(*) FROM commits)::int AS total,
       coalesce((SELECT json_object_agg(datname, n)
                   FROM (SELECT datname, count(*)::int AS n FROM attributed GROUP BY datname) x),
                '{}'::json) AS by_db`;
}

function unknown(reason: string): LostTailOutcome {
  return { measured: false, reason };
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** One line for people: the figures of a measured tail, or why it is unknown. */
export function describeLostTail(outcome: LostTailOutcome): string {
  if (!outcome.measured) return `lost tail unknown: ${outcome.reason}`;
  const { tail } = outcome;
  const perDb = Object.entries(tail.commitsByDatabase)
    .map(([db, n]) => `${db}: ${n}`)
    .join(', ');
  return (
    `lost tail of ${tail.server} past the switch point ${tail.switchLsn}: ${tail.bytes} bytes of WAL, ` +
    `${tail.commitCount} commits that changed rows in shard databases${perDb ? ` (${perDb})` : ''}, ` +
    `${tail.otherCommitCount} other commits`
  );
}

/**
 * Installs `pg_walinspect` in the database `postgres` of a primary (schema `mainstay`), so that
 * its replicas have it too and an old primary's WAL can be read in recovery, where no extension
 * can be created.
 */
export async function ensureWalInspect(admin: pg.Pool): Promise<void> {
  await admin.query('CREATE SCHEMA IF NOT EXISTS mainstay');
  await admin.query('CREATE EXTENSION IF NOT EXISTS pg_walinspect SCHEMA mainstay');
}
