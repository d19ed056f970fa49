import { mkdirSync, writeFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import type { OsIdentity } from './os-user.ts';
import type { ConnectionInfo } from './postgres-server.ts';

/**
 * Paths (relative to the data directory) whose contents a base backup leaves out, per the
 * PostgreSQL docs on the low-level backup API: they are rebuilt or meaningless on a standby.
 * The directories themselves are kept, empty.
 */
const EMPTY_DIRS = new Set([
  'pg_wal',
  'pg_replslot',
  'pg_dynshmem',
  'pg_notify',
  'pg_serial',
  'pg_snapshots',
  'pg_stat_tmp',
  'pg_subtrans',
]);
const SKIPPED_FILES = new Set([
  'postmaster.pid',
  'postmaster.opts',
  'backup_label',
  'tablespace_map',
]);

/**
 * Builds a streaming replica's data directory from a running primary without `pg_basebackup`
 * (which the embedded package does not ship): `pg_backup_start`, a file copy that tolerates
 * files vanishing under it, `pg_backup_stop`, whose label file becomes `backup_label`, and
 * `standby.signal`. The caller writes `primary_conninfo` and starts the server.
 */
export async function buildReplicaDataDir(options: {
  readonly primary: ConnectionInfo;
  readonly primaryDataDir: string;
  readonly replicaDataDir: string;
  readonly slot: string;
  readonly identity: OsIdentity;
}): Promise<void> {
  const { primary, primaryDataDir, replicaDataDir, slot, identity } = options;
  const client = new pg.Client({ ...primary, database: 'postgres' });
  // A primary that dies or restarts during the copy ends the session with an error event; the
  // query in flight fails with it, and the event itself must not end the process.
  client.on('error', () => undefined);
  await client.connect();
  try {
    // A slot invalidated while its replica was down (past max_slot_wal_keep_size) cannot be
    // streamed from: drop it and start a fresh one.
    await client.query(
      `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
       WHERE slot_name = $1 AND invalidation_reason IS NOT NULL AND NOT active`,
      [slot],
    );
    await client.query(
      `SELECT pg_create_physical_replication_slot($1, true)
       WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)`,
      [slot],
    );
    await client.query('SELECT pg_backup_start($1, true)', [`mainstay clone for ${slot}`]);
    mkdirSync(replicaDataDir, { recursive: true, mode: 0o700 });
    await copyTree(primaryDataDir, replicaDataDir);
    const { rows } = await client.query<{ labelfile: string; spcmapfile: string | null }>(
      'SELECT labelfile, spcmapfile FROM pg_backup_stop(true)',
    );
    const stop = rows[0];
    if (!stop) throw new Error('pg_backup_stop returned no row');
    writeFileSync(path.join(replicaDataDir, 'backup_label'), stop.labelfile);
    if (stop.spcmapfile)
      writeFileSync(path.join(replicaDataDir, 'tablespace_map'), stop.spcmapfile);
    writeFileSync(path.join(replicaDataDir, 'standby.signal'), '');
    mkdirSync(path.join(replicaDataDir, 'pg_wal', 'archive_status'), { recursive: true });
    await chownTree(replicaDataDir, identity);
  } finally {
    await client.end();
  }
}

/**
 * Copies a live data directory, file by file, with async I/O so the supervising process keeps
 * serving (and probing) while a replica is built; files that vanish mid-copy are skipped, as
 * the backup API allows.
 */
export async function copyTree(from: string, to: string, relative = ''): Promise<void> {
  let entries: string[];
  try {
    entries = await fs.readdir(path.join(from, relative));
  } catch (error) {
    if (isVanished(error)) return;
    throw error;
  }
  for (const name of entries) {
    const rel = path.join(relative, name);
    const source = path.join(from, rel);
    const target = path.join(to, rel);
    if (relative === '' && SKIPPED_FILES.has(name)) continue;
    if (name.startsWith('pgsql_tmp')) continue;
    let stat: Awaited<ReturnType<typeof fs.lstat>>;
    try {
      stat = await fs.lstat(source);
    } catch (error) {
      if (isVanished(error)) continue;
      throw error;
    }
    if (stat.isDirectory()) {
      await fs.mkdir(target, { mode: 0o700, recursive: true });
      if (!EMPTY_DIRS.has(rel)) await copyTree(from, to, rel);
    } else if (stat.isFile()) {
      try {
        await fs.copyFile(source, target);
      } catch (error) {
        if (!isVanished(error)) throw error;
      }
    }
  }
}

function isVanished(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === 'ENOENT';
}

/** Gives a whole tree to the PostgreSQL identity (no-op when not running as root). */
export async function chownTree(dir: string, identity: OsIdentity): Promise<void> {
  if (identity.uid === null || identity.gid === null) return;
  await fs.chown(dir, identity.uid, identity.gid);
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) await chownTree(full, identity);
    else await fs.chown(full, identity.uid, identity.gid);
  }
}
