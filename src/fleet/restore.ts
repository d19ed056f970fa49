import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { MainstayError } from '../errors/mainstay-error.ts';
import {
  BACKUP_DATA_DIR,
  BACKUP_WAL_DIR,
  type BackupManifest,
  verifyBackup,
} from './backup-manifest.ts';
import type { Fleet } from './fleet.ts';
import { giveTo } from './os-user.ts';
import { pickFreePorts } from './ports.ts';
import { type ConnectionInfo, PostgresServer, stopOrphan } from './postgres-server.ts';
import { chownTree } from './replica-builder.ts';
import { writeSettings } from './server-files.ts';
import { quoteIdent } from './shard-replication.ts';

/** Bounds of a restore. */
export const RESTORE = {
  /** How long recovery to the restore point and the promotion may take. */
  recoveryWaitMs: 180_000,
} as const;

const POLL_MS = 100;
/** Written in a restored server's directory once it is restored and started. */
const RESTORED_FILE = 'restored.json';
const NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,47}$/;

/** A server restored from a backup: not part of the fleet, routed by nothing. */
export interface RestoredServer {
  readonly name: string;
  /** Its directory: `data`, `wal` (the backup's, read by restore_command), its log. */
  readonly directory: string;
  readonly connection: ConnectionInfo;
  /** The OS user its processes run as. */
  readonly osUser: string;
  readonly pid: number | null;
  /** The backup's restore point, where its recovery stopped. */
  readonly restorePoint: BackupManifest['restorePoint'];
}

/** Restored servers this process runs, by directory. */
const running = new Map<string, PostgresServer>();

/** Where the restored server `name` lives in the fleet's home. */
export function restoredDirectory(fleet: Fleet, name: string): string {
  if (!NAME_PATTERN.test(name))
    throw new MainstayError('invalid_request', `restored server name ${name} is not [a-z0-9_-]`);
  return path.join(fleet.config.home, 'restored', name);
}

/**
 * Restores a backup to a NEW server `name` in the fleet's home: the backup verified first
 * (`backup_invalid` if it fails), its data directory copied and given to the unprivileged OS
 * user, its own settings (a free port, no standby, no upstream, no logical replication
 * workers), and archive recovery from the backup's WAL (`restore_command` copying from it) to
 * the backup's restore point, then promoted. Its subscriptions are disabled and cut from their
 * slots, so it never takes changes meant for the fleet's copies. Run again, it returns (and
 * starts, if needed) a server already restored under `name`; an unfinished one is redone.
 */
export async function restoreBackup(
  fleet: Fleet,
  request: { readonly directory: string; readonly name: string },
): Promise<RestoredServer> {
  const serverDir = restoredDirectory(fleet, request.name);
  const runtime = fleet.runtime;
  if (!runtime) throw new MainstayError('state_conflict', 'the fleet runs no servers here');
  const checked = await verifyBackup(request.directory);
  if (!checked.ok || !checked.manifest)
    throw new MainstayError(
      'backup_invalid',
      `backup ${request.directory} cannot be restored: ${checked.problems.join('; ')}`,
    );
  const manifest = checked.manifest;
  const done = path.join(serverDir, RESTORED_FILE);
  if (existsSync(done)) {
    const { port } = JSON.parse(readFileSync(done, 'utf8')) as { port: number };
    return startRestored(fleet, request.name, serverDir, port, manifest);
  }
  await stopOrphan(path.join(serverDir, 'data'));
  rmSync(serverDir, { recursive: true, force: true });
  const taken = new Set(fleet.specs.map((spec) => fleet.connection(spec.id).port));
  const [port] = await pickFreePorts(1, taken);
  if (port === undefined) throw new Error('no free port for the restored server');
  await prepareDirectory(fleet, request.directory, serverDir, manifest, port);
  const restored = await startRestored(fleet, request.name, serverDir, port, manifest);
  await awaitPromoted(restored);
  await detachSubscriptions(restored.connection);
  writeFileSync(done, `${JSON.stringify({ port, restorePoint: manifest.restorePoint })}\n`);
  return restored;
}

/** Copies the backup into `serverDir` and writes the recovery settings. */
async function prepareDirectory(
  fleet: Fleet,
  backup: string,
  serverDir: string,
  manifest: BackupManifest,
  port: number,
): Promise<void> {
  const identity = fleet.runtime?.identity;
  if (!identity) throw new Error('no OS identity to run the restored server as');
  const dataDir = path.join(serverDir, 'data');
  const walDir = path.join(serverDir, 'wal');
  if (walDir.includes("'")) throw new Error(`${walDir}: a quote cannot be in restore_command`);
  mkdirSync(path.dirname(serverDir), { recursive: true, mode: 0o755 });
  mkdirSync(serverDir, { recursive: true, mode: 0o700 });
  await fs.cp(path.join(backup, BACKUP_DATA_DIR), dataDir, { recursive: true });
  await fs.cp(path.join(backup, BACKUP_WAL_DIR), walDir, { recursive: true });
  await fs.chmod(dataDir, 0o700);
  writeFileSync(path.join(dataDir, 'recovery.signal'), '');
  rmSync(path.join(dataDir, 'standby.signal'), { force: true });
  writeSettings(dataDir, {
    id: `restored-${path.basename(serverDir)}`,
    host: '127.0.0.1',
    port,
    synchronousCommit: 'on',
    synchronousStandby: null,
    synchronizedStandbySlot: null,
    upstream: null,
    extra: {
      ...fleet.config.postgres.settings,
      restore_command: `cp '${walDir}/%f' '%p'`,
      recovery_target_name: manifest.restorePoint.name,
      recovery_target_timeline: 'current',
      recovery_target_action: 'promote',
      // A restored copy must never apply (and confirm) changes meant for the fleet's copies.
      max_logical_replication_workers: '0',
    },
  });
  giveTo(serverDir, identity);
  await chownTree(dataDir, identity);
  await chownTree(walDir, identity);
}

async function startRestored(
  fleet: Fleet,
  name: string,
  serverDir: string,
  port: number,
  manifest: BackupManifest,
): Promise<RestoredServer> {
  const runtime = fleet.runtime;
  if (!runtime) throw new Error('the fleet runs no servers here');
  const connection = { ...fleet.connection(manifest.server), port };
  let server = running.get(serverDir);
  if (!server) {
    server = new PostgresServer({
      id: `restored-${name}`,
      dataDir: path.join(serverDir, 'data'),
      logFile: path.join(serverDir, 'postgres.log'),
      connection,
      binaries: runtime.binaries,
      identity: runtime.identity,
    });
    running.set(serverDir, server);
  }
  await server.start(RESTORE.recoveryWaitMs);
  return {
    name,
    directory: serverDir,
    connection,
    osUser: runtime.identity.name,
    pid: server.pid,
    restorePoint: manifest.restorePoint,
  };
}

/** Waits until recovery reached the restore point and the server left recovery. */
async function awaitPromoted(restored: RestoredServer): Promise<void> {
  const deadline = Date.now() + RESTORE.recoveryWaitMs;
  for (;;) {
    const client = new pg.Client({ ...restored.connection, database: 'postgres' });
    client.on('error', () => undefined);
    const standby = await client
      .connect()
      .then(() => client.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r'))
      .then((result) => result.rows[0]?.r ?? true)
      .catch(() => true)
      .finally(() => client.end().catch(() => undefined));
    if (!standby) return;
    if (Date.now() > deadline)
      throw new Error(`restored server ${restored.name} did not finish recovery in time`);
    await sleep(POLL_MS);
  }
}

/** Disables every subscription of the restored server and cuts it from its remote slot. */
async function detachSubscriptions(connection: ConnectionInfo): Promise<void> {
  const admin = new pg.Client({ ...connection, database: 'postgres' });
  admin.on('error', () => undefined);
  await admin.connect();
  try {
    const { rows } = await admin.query<{ subname: string; datname: string }>(
      'SELECT s.subname, d.datname FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid',
    );
    for (const row of rows) {
      const client = new pg.Client({ ...connection, database: row.datname });
      client.on('error', () => undefined);
      await client.connect();
      try {
        await client.query(`ALTER SUBSCRIPTION ${quoteIdent(row.subname)} DISABLE`);
        await client.query(`ALTER SUBSCRIPTION ${quoteIdent(row.subname)} SET (slot_name = NONE)`);
      } finally {
        await client.end();
      }
    }
  } finally {
    await admin.end();
  }
}

/**
 * Stops a restored server and deletes its directory (one this process did not start, after a
 * crash, is found by its data directory). Returns whether there was one.
 */
export async function removeRestoredServer(fleet: Fleet, name: string): Promise<boolean> {
  const serverDir = restoredDirectory(fleet, name);
  const server = running.get(serverDir);
  running.delete(serverDir);
  if (server) await server.stop();
  await stopOrphan(path.join(serverDir, 'data'));
  if (!existsSync(serverDir)) return false;
  rmSync(serverDir, { recursive: true, force: true });
  return true;
}
