/**
 * Planned switchover (`src/fleet/switchover.ts`) on a real fleet with the failover controller
 * watching: the preflight refuses a candidate that is down or not streaming; a switchover while
 * a writer runs loses no acknowledged write (on the new primary and on the other DC's copy),
 * leaves home and copy equal, puts the new primary on a higher timeline with its replica
 * streaming synchronously, and is not taken for a failure; the switch back works the same.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { compareTable } from '../src/compare/table-compare.ts';
import type { Router } from '../src/data/router.ts';
import { isMainstayError } from '../src/errors/mainstay-error.ts';
import { FailoverController } from '../src/fleet/failover-controller.ts';
import { readControlFile } from '../src/fleet/pg-control.ts';
import { waitForCopyToApply } from '../src/fleet/shard-replication.ts';
import {
  compensateSwitchover,
  SWITCHOVER_FLAG,
  type SwitchoverReport,
  switchover,
} from '../src/fleet/switchover.ts';
import { preflightSwitchover } from '../src/fleet/switchover-preflight.ts';
import { verifySwitchover } from '../src/fleet/switchover-verify.ts';
import { formatLsn } from '../src/postgres/lsn.ts';
import {
  countAppendsOnPrimaries,
  eventually,
  type FleetFixture,
  keysHomedIn,
  serverByPort,
  startFleet,
} from './support/fleet-fixture.ts';
import { routerAppend, TrackedWriter } from './support/tracked-writer.ts';

let fixture: FleetFixture;
let controller: FailoverController;
let router: Router;

const refused = (pattern: RegExp) => (error: unknown) =>
  isMainstayError(error, 'switchover_refused') && pattern.test(error.message);

/** Switches dc1 to `to` while a writer appends to dc1's shards; checks everything after. */
async function switchUnderLoad(
  label: string,
  from: string,
  to: string,
): Promise<{ report: SwitchoverReport; clientStallMs: number }> {
  const keys = keysHomedIn(router, 'dc1', 8, label);
  const writer = new TrackedWriter(keys, label, routerAppend(router, serverByPort(fixture)));
  writer.start(4);
  await eventually(async () => writer.acks.length > 20, 20_000, 'writes before the switch');
  const startedAt = Date.now();
  const report = await switchover(fixture.fleet, { dc: 'dc1' });
  await eventually(
    async () => writer.firstAckAfter(startedAt, (ack) => ack.server === to) !== undefined,
    20_000,
    `writes acknowledged by ${to}`,
  );
  await writer.stop();
  assert.deepEqual(report.verification.problems, []);
  assert.equal(report.verification.ok, true);
  assert.deepEqual([report.from, report.to], [from, to]);
  assert.ok(report.downtimeMs !== null && report.downtimeMs >= 0, 'downtime measured');
  assert.equal(report.verification.replica.state, 'streaming');
  assert.equal(report.verification.replica.syncState, 'sync');
  assert.ok((report.verification.timeline ?? 0) > 1, 'a new timeline');
  const shardIds = new Set(keys.map((key) => router.map.shardOf(key)));
  await eventually(
    async () => router.map.route([...shardIds][0] as number).primary?.id === to,
    10_000,
    'the router following the switch',
  );
  const acked = writer.acknowledged;
  assert.equal(await countAppendsOnPrimaries(router, acked, shardIds), acked.length);
  for (const shardId of shardIds) {
    const home = await fixture.fleet.shardPool(shardId, 'home');
    const copy = await fixture.fleet.shardPool(shardId, 'copy');
    const database = router.map.route(shardId).shard.database;
    assert.ok(await waitForCopyToApply(home, copy, database, 30_000), 'the copy caught up');
    const onCopy = await copy.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM appends WHERE id = ANY($1) AND id LIKE $2',
      [acked, `${label}_%`],
    );
    const homed = acked.filter((id) => shardOfWrite(id, keys) === shardId);
    assert.equal(onCopy.rows[0]?.n, homed.length, 'every acknowledged write on the copy');
    const diff = await compareTable(home, copy, 'public.appends');
    assert.deepEqual([diff.missing, diff.extra, diff.different], [[], [], []]);
  }
  const failures = controller.log.recent().filter((e) => e.kind.endsWith('_failed'));
  assert.deepEqual(failures, [], 'the controller saw no failure');
  return { report, clientStallMs: longestStall(writer.acks.map((ack) => ack.ackedAt)) };
}

/** The longest time between two acknowledgements in a row: what the writers saw of the pause. */
function longestStall(ackedAt: readonly number[]): number {
  const sorted = [...ackedAt].sort((a, b) => a - b);
  return sorted.reduce((longest, at, n) => Math.max(longest, at - (sorted[n - 1] ?? at)), 0);
}

/** The shard write `id` went to: the writer's n-th write goes to key n modulo the keys. */
function shardOfWrite(id: string, keys: readonly string[]): number {
  const n = Number(id.slice(id.lastIndexOf('_') + 1));
  return router.map.shardOf(keys[n % keys.length]);
}

describe('planned switchover', () => {
  before(async () => {
    fixture = await startFleet('switchover', {
      dataCentres: [
        { id: 'dc1', synchronousCommit: 'on' },
        { id: 'dc2', synchronousCommit: 'on' },
      ],
    });
    router = await fixture.router({ writeWaitMs: 20_000 });
  });
  after(async () => {
    await controller?.stop();
    await fixture?.stop();
  });

  test('the control file reader agrees with the server about its last checkpoint', async () => {
    const pool = fixture.fleet.pools.pool('dc2-a');
    await pool.query('CHECKPOINT');
    const { rows } = await pool.query<{ lsn: string; timeline: number }>(
      'SELECT checkpoint_lsn::text AS lsn, timeline_id AS timeline FROM pg_control_checkpoint()',
    );
    const control = readControlFile(fixture.fleet.server('dc2-a')?.dataDir ?? '');
    assert.deepEqual(
      [formatLsn(control.checkpointLsn), control.timeline, control.state],
      [rows[0]?.lsn, rows[0]?.timeline, 'in production'],
    );
  });

  test('preflight refuses a candidate that is down, then one that does not stream', async () => {
    const candidate = fixture.fleet.server('dc2-b');
    assert.ok(candidate);
    await candidate.stop();
    await assert.rejects(preflightSwitchover(fixture.fleet, { dc: 'dc2' }), refused(/down/));
    await fixture.fleet.startServer('dc2-b');
    const replica = fixture.fleet.pools.pool('dc2-b');
    await replica.query(`ALTER SYSTEM SET primary_conninfo = ''`);
    await replica.query('SELECT pg_reload_conf()');
    try {
      await eventually(
        async () =>
          (
            await fixture.fleet.pools
              .pool('dc2-a')
              .query(`SELECT 1 FROM pg_stat_replication WHERE application_name = 'dc2-b'`)
          ).rowCount === 0,
        20_000,
        'the replica to stop streaming',
      );
      await assert.rejects(
        preflightSwitchover(fixture.fleet, { dc: 'dc2' }),
        refused(/not streaming/),
      );
    } finally {
      await replica.query('ALTER SYSTEM RESET primary_conninfo');
      await replica.query('SELECT pg_reload_conf()');
    }
    await eventually(
      async () => (await preflightSwitchover(fixture.fleet, { dc: 'dc2' })).to === 'dc2-b',
      30_000,
      'the preflight to pass once the replica streams again',
    );
    await assert.rejects(preflightSwitchover(fixture.fleet, { dc: 'dc9' }), refused(/dc9/));
  });

  test('switchover of dc1 under writes: nothing lost, copies equal, new timeline, sync replica', async (t) => {
    controller = new FailoverController(fixture.fleet);
    controller.start();
    const { report, clientStallMs } = await switchUnderLoad('so1', 'dc1-a', 'dc1-b');
    t.diagnostic(`switchover downtime ${report.downtimeMs} ms ${JSON.stringify(report.phasesMs)}`);
    t.diagnostic(`longest gap between the writers' acknowledgements: ${clientStallMs} ms`);
    t.diagnostic(
      `rejoined: ${report.rejoin}; slots missing: ${report.slotsMissing}; re-seeded: ${report.reseededCopies}`,
    );
  });

  test('switch back to dc1-a works the same', async (t) => {
    const { report, clientStallMs } = await switchUnderLoad('so2', 'dc1-b', 'dc1-a');
    t.diagnostic(`switch-back downtime ${report.downtimeMs} ms ${JSON.stringify(report.phasesMs)}`);
    t.diagnostic(`longest gap between the writers' acknowledgements: ${clientStallMs} ms`);
    t.diagnostic(
      `rejoined: ${report.rejoin}; slots missing: ${report.slotsMissing}; re-seeded: ${report.reseededCopies}`,
    );
    assert.ok((report.verification.timeline ?? 0) >= 3, 'a timeline above the first switch');
  });

  test('a switchover interrupted after its fence is undone by compensate, or continued by a run again', async () => {
    const { fleet } = fixture;
    const interrupt = async () => {
      const pending = { dc: 'dc2', from: 'dc2-a', to: 'dc2-b', timeline: 1 };
      await fleet.catalog.setFlag(SWITCHOVER_FLAG, JSON.stringify(pending));
      await fleet.catalog.commitChange('test: a switchover that stopped after its fence', {
        servers: [{ id: 'dc2-a', fenced: true }],
      });
      await fleet.refreshCatalog();
    };
    await interrupt();
    assert.equal(await compensateSwitchover(fleet), 'restored');
    const restored = await verifySwitchover(fleet, {
      dc: 'dc2',
      primary: 'dc2-a',
      replica: 'dc2-b',
    });
    assert.deepEqual(restored.problems, []);
    await interrupt();
    await fleet.server('dc2-a')?.stop();
    const report = await switchover(fleet, { dc: 'dc2' });
    assert.equal(report.resumed, true);
    assert.equal(
      report.downtimeMs,
      null,
      'no downtime figure for a run that did not see the pause',
    );
    assert.deepEqual([report.from, report.to], ['dc2-a', 'dc2-b']);
    assert.deepEqual(report.verification.problems, []);
    assert.equal(await fleet.catalog.getFlag(SWITCHOVER_FLAG), '');
  });
});
