/**
 * Backup and restore (`src/fleet/backup.ts`, `restore.ts`) on a real fleet: a base backup of a
 * primary taken while writes go on, restored to a new server run by the unprivileged OS user,
 * holds exactly the tables the backup hashed at its restore point, and every write acknowledged
 * before the backup began; a change on the restored server is found by the same check; a
 * corrupted, truncated or extra file in a backup is found by its verification, and such a
 * backup is refused by the restore.
 */
import assert from 'node:assert/strict';
import { openSync, readFileSync, readSync, statSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import type { Router } from '../src/data/router.ts';
import { isMainstayError } from '../src/errors/mainstay-error.ts';
import { takeBackup } from '../src/fleet/backup.ts';
import { type BackupManifest, verifyBackup } from '../src/fleet/backup-manifest.ts';
import { CATALOG_DATABASE } from '../src/fleet/fleet.ts';
import { isAlive } from '../src/fleet/postgres-server.ts';
import { type RestoredServer, removeRestoredServer, restoreBackup } from '../src/fleet/restore.ts';
import { verifyRestore } from '../src/fleet/restore-verify.ts';
import { eventually, type FleetFixture, keysHomedIn, startFleet } from './support/fleet-fixture.ts';
import { routerAppend, TrackedWriter } from './support/tracked-writer.ts';

let fixture: FleetFixture;
let router: Router;
let backupDir: string;
let manifest: BackupManifest;

/** The uid a process runs as, from /proc. */
function uidOf(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Uid:'));
  return Number(line?.split(/\s+/)[1]);
}

async function onRestored<T>(
  restored: RestoredServer,
  database: string,
  work: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const client = new pg.Client({ ...restored.connection, database });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

describe('backup and restore', () => {
  before(async () => {
    fixture = await startFleet('backup');
    router = await fixture.router();
    backupDir = path.join(fixture.home, 'backups', 'first');
  });
  after(async () => {
    await removeRestoredServer(fixture.fleet, 'first').catch(() => false);
    await fixture?.stop();
  });

  test('a backup taken under writes restores to a new server holding equal data', async (t) => {
    const home = await fixture.fleet.shardPool(0, 'home');
    await home.query(
      `INSERT INTO demo_customers (id, bucket, full_name, country)
       SELECT 'bk-' || lpad(n::text, 6, '0'), n % 64, 'Customer ' || n, 'SE'
         FROM generate_series(1, 20000) n`,
    );
    const primary = router.map.route(0).primary?.id;
    assert.ok(primary);
    const keys = keysHomedIn(router, router.map.route(0).shard.homeDc, 8, 'bk');
    const writer = new TrackedWriter(keys, 'bk', routerAppend(router, new Map()));
    writer.start(4);
    await eventually(async () => writer.acks.length > 20, 20_000, 'writes before the backup');
    const backupStartedAt = Date.now();
    const backup = await takeBackup(fixture.fleet, { server: primary, directory: backupDir });
    await eventually(
      async () => writer.acks.some((ack) => ack.startedAt >= backupStartedAt),
      20_000,
      'writes after the backup began',
    );
    await writer.stop();
    manifest = backup.manifest;
    const before = writer.acks.filter((ack) => ack.ackedAt < backupStartedAt).map((a) => a.id);
    const during = writer.acks.filter((ack) => ack.ackedAt >= backupStartedAt).length;
    t.diagnostic(
      `backup in ${backup.durationMs} ms; ${before.length} writes before, ${during} during`,
    );
    assert.ok(before.length > 0 && during > 0, 'writes before and during the backup');
    assert.ok(manifest.tables.length > 0 && manifest.walFiles.length > 0);
    const checked = await verifyBackup(backupDir);
    assert.deepEqual(checked.problems, []);
    assert.equal(
      (await takeBackup(fixture.fleet, { server: primary, directory: backupDir })).existed,
      true,
    );

    const restored = await restoreBackup(fixture.fleet, { directory: backupDir, name: 'first' });
    assert.ok(restored.pid && isAlive(restored.pid));
    const uid = fixture.fleet.runtime?.identity.uid;
    if (uid != null) assert.equal(uidOf(restored.pid), uid, 'runs as the unprivileged OS user');
    const verified = await verifyRestore(restored, manifest);
    assert.deepEqual(verified.problems, []);
    assert.equal(verified.tablesCompared, manifest.tables.length);
    const database = router.map.route(0).shard.database;
    let present = 0;
    for (const shardId of new Set(keys.map((key) => router.map.shardOf(key)))) {
      present += await onRestored(restored, router.map.route(shardId).shard.database, async (c) => {
        const { rows } = await c.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM appends WHERE id = ANY($1)',
          [before],
        );
        return rows[0]?.n ?? 0;
      });
    }
    assert.equal(present, before.length, 'every write acknowledged before the backup');
    const subscriptions = await onRestored(
      restored,
      database,
      async (client) =>
        (await client.query('SELECT 1 FROM pg_subscription WHERE subenabled')).rowCount,
    );
    assert.equal(subscriptions, 0, 'no subscription of the restored server runs');

    await onRestored(restored, database, (client) =>
      client.query(`UPDATE demo_customers SET full_name = 'changed' WHERE id = 'bk-000042'`),
    );
    const changed = await verifyRestore(restored, manifest);
    assert.equal(changed.ok, false);
    assert.deepEqual(
      changed.differences.map((d) => [d.database, d.table]),
      [[database, 'public.demo_customers']],
    );
    assert.equal(await removeRestoredServer(fixture.fleet, 'first'), true);
    assert.equal(isAlive(restored.pid), false);
  });

  test('a corrupted, truncated or extra file is found by verify, and the restore refuses it', async () => {
    const largest = manifest.files
      .filter((file) => file.path.startsWith('data/base/'))
      .sort((a, b) => b.bytes - a.bytes)[0];
    assert.ok(largest);
    const file = path.join(backupDir, largest.path);
    const fd = openSync(file, 'r+');
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, Math.floor(largest.bytes / 2));
    byte[0] = (byte[0] ?? 0) ^ 0xff;
    writeSync(fd, byte, 0, 1, Math.floor(largest.bytes / 2));
    const wal = path.join(backupDir, 'wal', manifest.walFiles[0] as string);
    writeFileSync(wal, readFileSync(wal).subarray(0, statSync(wal).size - 8192));
    writeFileSync(path.join(backupDir, 'data', 'stray'), 'x');
    const checked = await verifyBackup(backupDir);
    assert.equal(checked.ok, false);
    assert.ok(checked.problems.some((p) => p.includes(largest.path) && p.includes('SHA-256')));
    assert.ok(checked.problems.some((p) => p.includes(manifest.walFiles[0] as string)));
    assert.ok(checked.problems.some((p) => p.includes('data/stray')));
    await assert.rejects(
      restoreBackup(fixture.fleet, { directory: backupDir, name: 'corrupt' }),
      (error: unknown) => isMainstayError(error, 'backup_invalid'),
    );
    const primary = router.map.route(0).primary?.id ?? '';
    await assert.rejects(
      takeBackup(fixture.fleet, { server: primary, directory: backupDir }),
      (error: unknown) => isMainstayError(error, 'backup_invalid'),
      'a damaged backup is not passed off as taken',
    );
  });

  test('the witness (the catalog) is backed up and restored alike while epochs change; a replica is refused', async () => {
    const { fleet } = fixture;
    const replica = fixture.config.dataCentres[0]?.replica.id ?? '';
    await assert.rejects(
      takeBackup(fleet, { server: replica, directory: path.join(fixture.home, 'backups', 'r') }),
      (error: unknown) => isMainstayError(error, 'state_conflict'),
    );
    let bumping = true;
    const bumps = (async () => {
      let count = 0;
      for (; bumping; count += 1) await fleet.catalog.bumpEpoch('test: an epoch during a backup');
      return count;
    })();
    const directory = path.join(fixture.home, 'backups', 'witness');
    const backup = await takeBackup(fleet, { server: fixture.config.witness.id, directory });
    bumping = false;
    assert.ok((await bumps) > 0, 'the catalog changed during the backup');
    assert.ok(backup.manifest.tables.some((table) => table.database === CATALOG_DATABASE));
    const restored = await restoreBackup(fleet, { directory, name: 'catalog' });
    try {
      assert.deepEqual((await verifyRestore(restored, backup.manifest)).problems, []);
    } finally {
      assert.equal(await removeRestoredServer(fleet, 'catalog'), true);
    }
  });
});
