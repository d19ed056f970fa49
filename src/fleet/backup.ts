import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { MainstayError } from '../errors/mainstay-error.ts';
import {
  BACKUP_DATA_DIR,
  BACKUP_WAL_DIR,
  type BackupManifest,
  describeFiles,
  MANIFEST_FILE,
  verifyBackup,
} from './backup-manifest.ts';
import type { Fleet } from './fleet.ts';
import { copyTree } from './replica-builder.ts';
import { type ConsistentPoint, consistentPoint } from './table-hashes.ts';

/** Bounds of a backup. */
export const BACKUP = {
  /** How long the restore point's WAL may take to be flushed before it is copied. */
  flushWaitMs: 10_000,
} as const;

/** Left in a backup directory until its manifest is written: the backup is not finished. */
const IN_PROGRESS_FILE = '.backup-in-progress';
const POLL_MS = 50;

export interface BackupRequest {
  /** A primary of the fleet, or the witness (writes go on meanwhile). */
  readonly server: string;
  /** A new (or empty) directory for the backup. */
  readonly directory: string;
}

export interface BackupResult {
  readonly directory: string;
  readonly manifest: BackupManifest;
  /** Whether a finished backup was already there (a run again after a crash). */
  readonly existed: boolean;
  readonly durationMs: number;
}

/**
 * A physical base backup of a primary (or the witness, which holds the catalog), with the WAL
 * to restore it, while writes go on:
 * `pg_backup_start`, a copy of the data directory, `pg_backup_stop` (its label written as
 * `backup_label`), then a consistent point (table-hashes.ts: a restore point with every table's
 * hash exactly there), then the WAL segments from the start's to the restore point's (held
 * meanwhile by a temporary replication slot) and the timeline histories, then a manifest with
 * the positions, the table hashes and every file's size and SHA-256 (written last: a directory
 * without one is unfinished). Run again on a finished backup's directory, it returns that
 * backup; on an unfinished one, it starts it over. Throws `state_conflict` for a server that is
 * not a running primary or witness, or a directory that holds something else.
 */
export async function takeBackup(fleet: Fleet, request: BackupRequest): Promise<BackupResult> {
  const startedAt = Date.now();
  const { directory, server } = request;
  const existing = await finishedBackup(directory);
  if (existing)
    return { directory, manifest: existing, existed: true, durationMs: Date.now() - startedAt };
  const dataDir = sourceDataDir(fleet, server);
  await assertPrimary(fleet, server);
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  writeFileSync(path.join(directory, IN_PROGRESS_FILE), '');
  const client = new pg.Client({ ...fleet.connection(server), database: 'postgres' });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const copied = await copyBase(client, server, dataDir, directory);
    const point = await consistentPoint(fleet.connection(server), `mainstay_backup_${Date.now()}`);
    const wal = await copyWal(client, dataDir, directory, copied.labelfile, point);
    const manifest: BackupManifest = {
      format: 1,
      server,
      label: copied.label,
      ...(await serverFacts(client)),
      timeline: wal.timeline,
      startLsn: copied.startLsn,
      stopLsn: copied.stopLsn,
      restorePoint: { name: point.name, lsn: point.lsn },
      tables: point.tables,
      walSegmentBytes: wal.segmentBytes,
      walFiles: wal.files,
      startedAt: new Date(startedAt).toISOString(),
      finishedAt: new Date().toISOString(),
      files: [
        ...(await describeFiles(directory, BACKUP_DATA_DIR)),
        ...(await describeFiles(directory, BACKUP_WAL_DIR)),
      ],
    };
    writeFileSync(path.join(directory, MANIFEST_FILE), `${JSON.stringify(manifest, null, 1)}\n`);
    rmSync(path.join(directory, IN_PROGRESS_FILE));
    return { directory, manifest, existed: false, durationMs: Date.now() - startedAt };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * The manifest of a finished, intact backup in `directory`; `null` when there is none to keep
 * (an unfinished one is deleted). A damaged one is `backup_invalid`: it is never passed off as
 * taken, nor overwritten.
 */
async function finishedBackup(directory: string): Promise<BackupManifest | null> {
  if (!existsSync(directory) || readdirSync(directory).length === 0) return null;
  if (existsSync(path.join(directory, IN_PROGRESS_FILE))) {
    rmSync(directory, { recursive: true, force: true });
    return null;
  }
  const checked = await verifyBackup(directory);
  if (checked.ok && checked.manifest) return checked.manifest;
  if (checked.manifest)
    throw new MainstayError(
      'backup_invalid',
      `${directory} holds a backup that fails verification (${checked.problems.join('; ')}): choose a new directory`,
    );
  throw new MainstayError(
    'state_conflict',
    `${directory} is not empty and holds no backup: choose a new directory`,
  );
}

function sourceDataDir(fleet: Fleet, server: string): string {
  const process = fleet.server(server);
  if (process?.state !== 'up')
    throw new MainstayError('state_conflict', `server ${server} is not running here`);
  return process.dataDir;
}

async function assertPrimary(fleet: Fleet, server: string): Promise<void> {
  const snapshot = await fleet.refreshCatalog();
  const row = snapshot?.servers.find((s) => s.id === server);
  // A replica cannot write the restore point; the witness (the catalog) is backed up alike.
  if ((row?.role !== 'primary' && row?.role !== 'witness') || row.fencedAtEpoch !== null)
    throw new MainstayError(
      'state_conflict',
      `server ${server} is not an unfenced primary or the witness: a backup is taken from one`,
    );
}

/** The backup API around a copy of the data directory; a temporary slot holds the WAL. */
async function copyBase(
  client: pg.Client,
  server: string,
  dataDir: string,
  directory: string,
): Promise<{ label: string; labelfile: string; startLsn: string; stopLsn: string }> {
  await client.query(
    `SELECT pg_create_physical_replication_slot('mainstay_backup_' || pg_backend_pid(), true, true)`,
  );
  const label = `mainstay backup of ${server} at ${new Date().toISOString()}`;
  const start = await client.query<{ lsn: string }>(
    'SELECT pg_backup_start($1, true)::text AS lsn',
    [label],
  );
  const target = path.join(directory, BACKUP_DATA_DIR);
  mkdirSync(target, { recursive: true, mode: 0o700 });
  await copyTree(dataDir, target);
  const { rows } = await client.query<{ lsn: string; labelfile: string; spcmapfile: string }>(
    'SELECT lsn::text AS lsn, labelfile, spcmapfile FROM pg_backup_stop(true)',
  );
  const stop = rows[0];
  if (!stop || !start.rows[0]) throw new Error('the backup API returned no positions');
  writeFileSync(path.join(target, 'backup_label'), stop.labelfile);
  if (stop.spcmapfile) writeFileSync(path.join(target, 'tablespace_map'), stop.spcmapfile);
  mkdirSync(path.join(target, 'pg_wal', 'archive_status'), { recursive: true });
  return { label, labelfile: stop.labelfile, startLsn: start.rows[0].lsn, stopLsn: stop.lsn };
}

/**
 * Copies the WAL segments from the backup's start (named in its label) through the one holding
 * the restore point, once that is flushed, and every timeline history file.
 */
async function copyWal(
  client: pg.Client,
  dataDir: string,
  directory: string,
  labelfile: string,
  point: ConsistentPoint,
): Promise<{ timeline: number; segmentBytes: number; files: string[] }> {
  const first = /START WAL LOCATION: \S+ \(file ([0-9A-F]{24})\)/.exec(labelfile)?.[1];
  if (!first) throw new Error('the backup label names no start WAL file');
  await waitFlushed(client, point.lsn);
  const { rows } = await client.query<{ last: string; bytes: string }>(
    `SELECT pg_walfile_name($1::pg_lsn) AS last,
            pg_size_bytes(current_setting('wal_segment_size'))::text AS bytes`,
    [point.lsn],
  );
  const last = rows[0]?.last;
  const segmentBytes = Number(rows[0]?.bytes);
  if (!last) throw new Error('no WAL file name for the restore point');
  if (last.slice(0, 8) !== first.slice(0, 8))
    throw new Error(`the timeline changed during the backup (${first} to ${last}): take it again`);
  const names = [...segmentNames(first, last, segmentBytes)];
  const histories = readdirSync(path.join(dataDir, 'pg_wal')).filter((f) => f.endsWith('.history'));
  const target = path.join(directory, BACKUP_WAL_DIR);
  mkdirSync(target, { recursive: true, mode: 0o700 });
  for (const name of [...histories, ...names])
    await fs.copyFile(path.join(dataDir, 'pg_wal', name), path.join(target, name));
  return { timeline: Number.parseInt(first.slice(0, 8), 16), segmentBytes, files: names };
}

async function waitFlushed(client: pg.Client, lsn: string): Promise<void> {
  const deadline = Date.now() + BACKUP.flushWaitMs;
  for (;;) {
    const { rows } = await client.query<{ done: boolean }>(
      'SELECT pg_current_wal_flush_lsn() >= $1::pg_lsn AS done',
      [lsn],
    );
    if (rows[0]?.done) return;
    if (Date.now() > deadline) throw new Error(`WAL up to ${lsn} was not flushed in time`);
    await sleep(POLL_MS);
  }
}

/** WAL segment file names from `first` through `last` (same timeline), in order. */
export function* segmentNames(
  first: string,
  last: string,
  segmentBytes: number,
): Generator<string> {
  const perLog = 0x1_0000_0000n / BigInt(segmentBytes);
  const timeline = first.slice(0, 8);
  const number = (name: string) =>
    BigInt(`0x${name.slice(8, 16)}`) * perLog + BigInt(`0x${name.slice(16, 24)}`);
  const hex = (value: bigint) => value.toString(16).toUpperCase().padStart(8, '0');
  for (let n = number(first); n <= number(last); n += 1n)
    yield `${timeline}${hex(n / perLog)}${hex(n % perLog)}`;
}

async function serverFacts(
  client: pg.Client,
): Promise<{ systemIdentifier: string; postgresMajor: number }> {
  const { rows } = await client.query<{ id: string; major: number }>(
    `SELECT (SELECT system_identifier::text FROM pg_control_system()) AS id,
            current_setting('server_version_num')::int / 10000 AS major`,
  );
  const row = rows[0];
  if (!row) throw new Error('the server told nothing about itself');
  return { systemIdentifier: row.id, postgresMajor: row.major };
}
