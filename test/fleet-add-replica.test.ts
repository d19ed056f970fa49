/**
 * Servers added beyond the configuration (provision-server, add-replica, remove-replica) on a real
 * fleet with the failover controller watching: a spare is provisioned and removed; a replica
 * added to dc1 streams asynchronously (never the synchronous standby), the routers read from it
 * and a token-carrying read after a write is never stale; it survives a restart of the fleet; a
 * kill -9 of dc1's primary fences it in the promotion's epoch and it is rebuilt from the new
 * primary (no read from the dead timeline meanwhile); then it is removed. Bad input is refused.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../src/config/load-config.ts';
import type { Router } from '../src/data/router.ts';
import { isMainstayError } from '../src/errors/mainstay-error.ts';
import { FailoverController } from '../src/fleet/failover-controller.ts';
import { Fleet } from '../src/fleet/fleet.ts';
import { readFleetState } from '../src/fleet/fleet-state.ts';
import { addReplica, checkAddedReplica } from '../src/fleet/replica-add.ts';
import { rebuildReplicaOperation } from '../src/fleet/replica-operation.ts';
import { removeServer } from '../src/fleet/replica-remove.ts';
import { provisionServer } from '../src/fleet/server-provision.ts';
import { settingsForServer } from '../src/fleet/server-view.ts';
import { switchover } from '../src/fleet/switchover.ts';
import { CONFIG_SECTIONS } from '../src/modules.ts';
import { eventually, type FleetFixture, keysHomedIn, startFleet } from './support/fleet-fixture.ts';
import { pauseReplay, readVersion, setVersion } from './support/router-checks.ts';

let fixture: FleetFixture;
let fleet: Fleet;
let controller: FailoverController;
let router: Router;

const code = (expected: string, pattern?: RegExp) => (error: unknown) =>
  isMainstayError(error, expected as never) && (pattern?.test(error.message) ?? true);

async function row(id: string) {
  return (await fleet.refreshCatalog())?.servers.find((s) => s.id === id);
}

/** Reads `key` until one is served by `server` (at consistency `any`), bounded. */
async function readServedBy(key: string, server: string): Promise<void> {
  await eventually(
    async () => (await readVersion(router, key, { consistency: 'any' })).servedBy === server,
    20_000,
    `a read served by ${server}`,
  );
}

describe('servers added beyond the configuration', () => {
  before(async () => {
    fixture = await startFleet('add-replica');
    fleet = fixture.fleet;
    controller = new FailoverController(fleet);
    controller.start();
    router = await fixture.router();
  });
  after(async () => {
    await controller?.stop();
    if (fleet !== fixture?.fleet) await fleet?.down().catch(() => undefined);
    await fixture?.stop();
  });

  test('bad input is refused with clear errors, changing nothing', async () => {
    await assert.rejects(addReplica(fleet, 'dc9'), code('data_centre_unknown', /dc1, dc2/));
    await assert.rejects(provisionServer(fleet, 'dc9'), code('data_centre_unknown'));
    for (const configured of ['dc1-a', 'dc1-b', 'witness'])
      await assert.rejects(removeServer(fleet, configured), code('server_not_removable'));
    await assert.rejects(removeServer(fleet, 'dc1-r7'), code('resource_not_found'));
    assert.deepEqual(fleet.added, {});
  });

  test('provision-server makes a started, checked spare the catalog does not route to; it can be removed', async () => {
    const spare = await provisionServer(fleet, 'dc2');
    assert.equal(spare.server, 'dc2-r1');
    assert.match(spare.version, /^17/);
    assert.deepEqual(readFleetState(fixture.home)?.added, {
      'dc2-r1': { dc: 'dc2', kind: 'spare' },
    });
    assert.equal(await row('dc2-r1'), undefined);
    const { rows } = await fleet.pools.pool('dc2-r1').query('SELECT pg_is_in_recovery() AS r');
    assert.equal(rows[0]?.r, false);
    const removed = await removeServer(fleet, 'dc2-r1');
    assert.equal(removed.kind, 'spare');
    assert.deepEqual(fleet.added, {});
    assert.equal(existsSync(path.join(fixture.home, 'servers', 'dc2-r1')), false);
  });

  test('add-replica: an asynchronous replica of dc1 that routers read from, never stale with a token', async () => {
    const added = await addReplica(fleet, 'dc1');
    assert.deepEqual([added.server, added.upstream, added.syncState], ['dc1-r1', 'dc1-a', 'async']);
    const topology = await fleet.topology();
    assert.deepEqual(topology.dataCentres.find((dc) => dc.id === 'dc1')?.replicas, [
      'dc1-b',
      'dc1-r1',
    ]);
    assert.equal(topology.servers.find((s) => s.id === 'dc1-r1')?.state, 'up');
    const catalogRow = await row('dc1-r1');
    assert.deepEqual(
      [catalogRow?.role, catalogRow?.upstream, catalogRow?.fencedAtEpoch],
      ['replica', 'dc1-a', null],
    );
    const names = await fleet.pools.pool('dc1-a').query('SHOW synchronous_standby_names');
    assert.equal(names.rows[0]?.synchronous_standby_names, '"dc1-b"', 'only dc1-b is waited for');
    await eventually(
      async () => router.map.epoch >= added.epoch,
      10_000,
      'the router at the new epoch',
    );
    const [key] = keysHomedIn(router, 'dc1', 1, 'added');
    assert.ok(key);
    await setVersion(router, key, 1);
    await readServedBy(key, 'dc1-r1');
    // dc1-b paused: a session read with a token goes to dc1-r1 or the primary, never stale.
    await pauseReplay(fixture, true, ['dc1-b']);
    try {
      const servedBy = new Set<string>();
      for (let version = 2; version <= 40; version += 1) {
        const written = await setVersion(router, key, version);
        const read = await readVersion(router, key, { token: written.token });
        assert.equal(read.version, version, `read after write ${version} on ${read.servedBy}`);
        servedBy.add(read.servedBy);
      }
      assert.ok(!servedBy.has('dc1-b'), 'the paused replica served nothing');
      // dc1-r1 paused too: a token read falls back to the primary rather than read stale.
      await pauseReplay(fixture, true, ['dc1-r1']);
      const written = await setVersion(router, key, 41);
      const read = await readVersion(router, key, { token: written.token });
      assert.deepEqual([read.version, read.servedBy], [41, 'dc1-a']);
    } finally {
      await pauseReplay(fixture, false, ['dc1-b', 'dc1-r1']);
    }
  });

  test('a restart (down, up) keeps the added replica streaming', async () => {
    // Nothing of the first fleet's may be mid-query while its servers stop.
    await controller.stop();
    await router.close();
    await fleet.down();
    fleet = new Fleet({ config: fixture.config, shardMigrations: fixture.fleet.shardMigrations });
    await fleet.up();
    assert.deepEqual(fleet.added, { 'dc1-r1': { dc: 'dc1', kind: 'replica' } });
    assert.equal(fleet.server('dc1-r1')?.state, 'up');
    await eventually(
      async () => (await checkAddedReplica(fleet, 'dc1-r1', 'dc1-a')).syncState === 'async',
      20_000,
      'dc1-r1 streaming after the restart',
    );
    controller = new FailoverController(fleet);
    controller.start();
    router = await fixture.router();
    const [key] = keysHomedIn(router, 'dc1', 1, 'restarted');
    assert.ok(key);
    await setVersion(router, key, 1);
    await readServedBy(key, 'dc1-r1');
  });

  test('kill -9 of dc1-a: dc1-r1 is fenced at the promotion and rebuilt from dc1-b, no stale read meanwhile', async () => {
    const [key] = keysHomedIn(router, 'dc1', 1, 'failover');
    assert.ok(key);
    let version = 0;
    let stale = 0;
    let running = true;
    const reader = (async () => {
      while (running) {
        try {
          const written = await setVersion(router, key, version + 1);
          version += 1;
          const read = await readVersion(router, key, { token: written.token });
          if (read.version < version) stale += 1;
        } catch {
          await sleep(20);
        }
      }
    })();
    try {
      await failOverDc1();
    } finally {
      running = false;
      await reader;
    }
    assert.equal(stale, 0, 'no token-carrying read was stale');
    assert.ok(version > 0, 'writes went on');
    assert.equal((await row('dc1-r1'))?.upstream, 'dc1-b');
    assert.equal((await checkAddedReplica(fleet, 'dc1-r1', 'dc1-b')).syncState, 'async');
    // The rebuilt old primary is named the synchronous standby once it streams again.
    await eventually(
      async () =>
        (await fleet.pools.pool('dc1-b').query('SHOW synchronous_standby_names')).rows[0]
          ?.synchronous_standby_names === '"dc1-a"',
      30_000,
      'dc1-b names the rebuilt dc1-a its synchronous standby',
    );
    const kinds = controller.log.recent().map((e) => `${e.kind}:${e.server}`);
    assert.ok(kinds.includes('replica_rebuilt:dc1-r1'), kinds.join(', '));
    await readServedBy(key, 'dc1-r1');
  });

  /** Kills dc1-a; checks dc1-r1 is fenced in the promotion's epoch, then waits for the rebuilds. */
  async function failOverDc1(): Promise<void> {
    fleet.server('dc1-a')?.signalAll('SIGKILL');
    await eventually(async () => (await row('dc1-b'))?.role === 'primary', 30_000, 'the promotion');
    const events = await fleet.catalog.events(20);
    const promotion = events.find((e) => e.reason.startsWith('promote dc1-b'));
    assert.ok(promotion, 'the promotion event');
    const change = promotion.detail.change as { servers: Record<string, unknown>[] };
    assert.deepEqual(
      change.servers.find((s) => s.id === 'dc1-r1'),
      { id: 'dc1-r1', upstream: 'dc1-b', fenced: true },
      'fenced and re-pointed in the promotion epoch itself',
    );
    await eventually(
      async () => {
        const r1 = await row('dc1-r1');
        const a = await row('dc1-a');
        return r1?.fencedAtEpoch === null && a?.fencedAtEpoch === null;
      },
      60_000,
      'dc1-a and dc1-r1 rebuilt from dc1-b',
    );
  }

  test('a switchover of dc1 fences it at the switch and rebuilds it from the new primary', async () => {
    const report = await switchover(fleet, { dc: 'dc1' });
    assert.deepEqual(report.verification.problems, []);
    assert.deepEqual([report.from, report.to, report.verification.ok], ['dc1-b', 'dc1-a', true]);
    const events = await fleet.catalog.events(20);
    const published = events.find((e) => e.reason === 'switchover in dc1: dc1-a is primary');
    const change = published?.detail.change as { servers: Record<string, unknown>[] } | undefined;
    assert.deepEqual(
      change?.servers.find((s) => s.id === 'dc1-r1'),
      { id: 'dc1-r1', upstream: 'dc1-a', fenced: true },
    );
    const r1 = await row('dc1-r1');
    assert.deepEqual([r1?.upstream, r1?.fencedAtEpoch], ['dc1-a', null]);
    assert.equal((await checkAddedReplica(fleet, 'dc1-r1', 'dc1-a')).syncState, 'async');
  });

  test('rebuild-replica works on an added replica; remove-replica takes it away', async () => {
    const rebuilt = await rebuildReplicaOperation(fleet, 'dc1-r1');
    assert.equal(rebuilt.verification.ok, true);
    assert.equal(rebuilt.plan.synchronous, false);
    const removed = await removeServer(fleet, 'dc1-r1');
    assert.deepEqual([removed.kind, removed.slotDroppedOn], ['replica', 'dc1-a']);
    assert.equal(await row('dc1-r1'), undefined);
    assert.deepEqual(readFleetState(fixture.home)?.added, {});
    const slots = await fleet.pools
      .pool('dc1-a')
      .query(`SELECT 1 FROM pg_replication_slots WHERE slot_name = 'dc1_r1'`);
    assert.equal(slots.rowCount, 0);
    await eventually(
      async () =>
        !router.map.route(router.map.shardIds[0] ?? 0).replicas.some((s) => s.id === 'dc1-r1'),
      10_000,
      'the router without dc1-r1',
    );
    assert.equal(fleet.server('dc1-r1'), undefined);
  });
});

test('an added replica is never named a synchronous standby, and keeps no failover slots', () => {
  const config = fixtureFreeConfig();
  const servers = [
    {
      id: 'dc1-r1',
      dc: 'dc1',
      role: 'replica' as const,
      host: 'h',
      port: 1,
      upstream: 'dc1-a',
      fencedAtEpoch: null,
    },
    {
      id: 'dc1-b',
      dc: 'dc1',
      role: 'replica' as const,
      host: 'h',
      port: 2,
      upstream: 'dc1-a',
      fencedAtEpoch: null,
    },
  ];
  const snapshot = { epoch: 2, bucketCount: 1, dataCentres: [], servers, shards: [], buckets: [] };
  const inputs = (configured: (id: string) => boolean, role: 'primary' | 'replica') => ({
    config,
    snapshot,
    specs: [],
    view: { role, upstream: role === 'replica' ? 'dc1-a' : null, dc: 'dc1', fenced: false },
    port: 5432,
    standbyUsable: () => true,
    upstreamOf: () => ({ conninfo: '', slot: 'dc1_a' }),
    slotName: (id: string) => id.replace('-', '_'),
    configured,
  });
  const onlyB = (id: string) => id !== 'dc1-r1';
  const primary = settingsForServer('dc1-a', inputs(onlyB, 'primary'));
  assert.deepEqual(
    [primary.synchronousStandby, primary.synchronizedStandbySlot],
    ['dc1-b', 'dc1_b'],
  );
  const none = settingsForServer(
    'dc1-a',
    inputs((id) => id === 'dc1-a', 'primary'),
  );
  assert.deepEqual([none.synchronousStandby, none.synchronizedStandbySlot], [null, null]);
  assert.equal(
    settingsForServer('dc1-r1', inputs(onlyB, 'replica')).extra.sync_replication_slots,
    'off',
  );
  assert.equal(
    settingsForServer('dc1-b', inputs(onlyB, 'replica')).extra.sync_replication_slots,
    undefined,
  );
});

function fixtureFreeConfig() {
  return loadConfig(
    { cwd: '/nonexistent', env: { MAINSTAY_HOME: '/nonexistent' } },
    CONFIG_SECTIONS,
  );
}
