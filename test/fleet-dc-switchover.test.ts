/**
 * Planned data-centre switchover (`src/fleet/dc-switchover.ts`, decision 59) on a real fleet
 * with the failover controller watching: bad requests refused with their codes (an unknown DC,
 * the same DC twice, a copy whose apply worker is hung with SIGSTOP, a DC that homes no shard);
 * every shard of dc1 moved to dc2 while writers write through a router, and back, each losing
 * no acknowledged write, leaving every table equal between home and copy and writes working
 * after; a switchover stopped part-way undone and, the next time, finished by a run again; the
 * `dr-drill` workflow through the ops engine, approved by a second person at each switch.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { Router } from '../src/data/router.ts';
import { OPS_WORKFLOWS } from '../src/domains/ops/core/ops-workflows.ts';
import { opsModules } from '../src/domains/ops/module.ts';
import { isMainstayError } from '../src/errors/mainstay-error.ts';
import { ReseedPools } from '../src/fleet/dc-reseed-copy.ts';
import {
  compensateDcSwitchover,
  DC_SWITCHOVER_FLAG,
  dcSwitchover,
} from '../src/fleet/dc-switchover.ts';
import { preflightDcSwitchover } from '../src/fleet/dc-switchover-preflight.ts';
import {
  DC_SWITCHOVER_APPLICATION,
  fenceDatabase,
  makeNewCopy,
  makeNewHome,
} from '../src/fleet/dc-switchover-shard.ts';
import { compareShardCopy } from '../src/fleet/dc-switchover-verify.ts';
import { FailoverController } from '../src/fleet/failover-controller.ts';
import { CATALOG_DATABASE } from '../src/fleet/fleet.ts';
import { subscriptionName, waitForCopyToApply } from '../src/fleet/shard-replication.ts';
import { guardedPool } from '../src/postgres/guarded-pool.ts';
import { WorkflowEngine } from '../src/workflow/workflow-engine.ts';
import type { RunView } from '../src/workflow/workflow-types.ts';
import {
  countAppendsOnPrimaries,
  eventually,
  type FleetFixture,
  keysHomedIn,
  serverByPort,
  startFleet,
} from './support/fleet-fixture.ts';
import { routerAppend, TrackedWriter } from './support/tracked-writer.ts';
import { prepareWorkflowDatabase } from './support/workflow-fixtures.ts';

let fixture: FleetFixture;
let controller: FailoverController;
let router: Router;
let homesBefore: Map<number, string>;

const refused = (pattern: RegExp) => (error: unknown) =>
  isMainstayError(error, 'dc_switchover_refused') && pattern.test(error.message);

async function homes(): Promise<Map<number, string>> {
  const snapshot = await fixture.fleet.catalog.load();
  return new Map((snapshot?.shards ?? []).map((shard) => [shard.id, shard.homeDc]));
}

/** Moves `from`'s shards to `to` while writers write to every shard; checks everything after. */
async function switchUnderLoad(label: string, from: string, to: string) {
  const moved = keysHomedIn(router, from, 8, `${label}m`);
  const homedInTo = [...router.map.shardIds].some((id) => router.map.route(id).shard.homeDc === to);
  const stayed = homedInTo ? keysHomedIn(router, to, 4, `${label}s`) : [];
  const writer = new TrackedWriter(
    [...moved, ...stayed],
    label,
    routerAppend(router, serverByPort(fixture)),
  );
  writer.start(4);
  await eventually(async () => writer.acks.length > 20, 20_000, 'writes before the switch');
  const startedAt = Date.now();
  const report = await dcSwitchover(fixture.fleet, { from, to });
  const toServer = fixture.config.dataCentres.find((dc) => dc.id === to)?.primary.id;
  await eventually(
    async () => writer.firstAckAfter(startedAt, (ack) => ack.server === toServer) !== undefined,
    20_000,
    `writes acknowledged by ${toServer}`,
  );
  await writer.stop();
  assert.deepEqual(report.verification.problems, []);
  assert.deepEqual([report.from, report.to, report.resumed], [from, to, false]);
  assert.ok(report.downtimeMs !== null && report.downtimeMs >= 0, 'downtime measured');
  for (const shard of report.verification.shards) {
    assert.ok(shard.tables.length >= 3, `shard ${shard.id}: its tables compared`);
    assert.deepEqual(
      shard.tables.filter((table) => table.differences > 0),
      [],
      `shard ${shard.id}: 0 differences between home and copy`,
    );
  }
  const now = await homes();
  for (const id of report.shards) assert.equal(now.get(id), to, `shard ${id} homed in ${to}`);
  await eventually(
    async () => router.map.epoch >= (report.epoch ?? Number.POSITIVE_INFINITY),
    10_000,
    'the router following the switch',
  );
  const acked = writer.acknowledged;
  assert.equal(await countAppendsOnPrimaries(router, acked), acked.length, 'no write lost');
  const after = await router.write(moved[0] as string, (tx) =>
    tx.query(`INSERT INTO appends (id, body) VALUES ($1, 'after')`, [`${label}_after`]),
  );
  assert.ok(after.token, 'a write after the switch succeeds');
  await assertCopyRefusesClientWrites(from, report.shards[0] as number, `${label}_stale`);
  const failures = controller.log.recent().filter((e) => e.kind.endsWith('_failed'));
  assert.deepEqual(failures, [], 'the controller saw no failure');
  return { report, writer, clientStallMs: longestStall(writer.acks.map((ack) => ack.ackedAt)) };
}

/**
 * A router that missed the switch's epoch opens a session to the old home, now a copy: its write
 * is refused as read-only (which the router's write path waits out), and nothing is written.
 */
async function assertCopyRefusesClientWrites(from: string, shardId: number, id: string) {
  const snapshot = await fixture.fleet.catalog.load();
  const oldHome = snapshot?.servers.find((s) => s.dc === from && s.role === 'primary');
  const shard = snapshot?.shards.find((s) => s.id === shardId);
  assert.ok(oldHome && shard);
  const stale = new pg.Client({
    ...fixture.fleet.connection(oldHome.id),
    database: shard.database,
  });
  await stale.connect();
  try {
    await assert.rejects(
      stale.query(`INSERT INTO appends (id, body) VALUES ($1, 'stale')`, [id]),
      (error: { code?: string }) => error.code === '25006',
    );
  } finally {
    await stale.end();
  }
  assert.equal(await countAppendsOnPrimaries(router, [id]), 0, 'the stale write left nothing');
}

/** The longest time between two acknowledgements in a row: what the writers saw of the pause. */
function longestStall(ackedAt: readonly number[]): number {
  const sorted = [...ackedAt].sort((a, b) => a - b);
  return sorted.reduce((longest, at, n) => Math.max(longest, at - (sorted[n - 1] ?? at)), 0);
}

function describeRun(
  t: { diagnostic(message: string): void },
  direction: string,
  run: Awaited<ReturnType<typeof switchUnderLoad>>,
) {
  const { report, writer, clientStallMs } = run;
  t.diagnostic(
    `${direction}: write downtime ${report.downtimeMs} ms ${JSON.stringify(report.phasesMs)}; longest gap between the writers' acknowledgements ${clientStallMs} ms; ${writer.acks.length} writes acknowledged, errors seen ${JSON.stringify(Object.fromEntries(writer.errors))}`,
  );
}

describe('planned data-centre switchover', () => {
  before(async () => {
    fixture = await startFleet('dc-switchover', {
      dataCentres: [
        { id: 'dc1', synchronousCommit: 'on' },
        { id: 'dc2', synchronousCommit: 'on' },
      ],
    });
    router = await fixture.router({ writeWaitMs: 20_000 });
    homesBefore = await homes();
    controller = new FailoverController(fixture.fleet);
    controller.start();
  });
  after(async () => {
    await controller?.stop();
    await fixture?.stop();
  });

  test('bad requests are refused with their codes, changing nothing', async () => {
    const { fleet } = fixture;
    await assert.rejects(preflightDcSwitchover(fleet, { from: 'dc9', to: 'dc2' }), refused(/dc9/));
    await assert.rejects(
      preflightDcSwitchover(fleet, { from: 'dc1', to: 'dc1' }),
      refused(/both dc1/),
    );
    // A copy that does not apply: its apply worker hung (SIGSTOP) while its home takes a write.
    const shard = (await fleet.catalog.load())?.shards.find((s) => s.homeDc === 'dc1');
    assert.ok(shard);
    const copyDb = fleet.pools.pool('dc2-a', shard.database);
    const { rows } = await copyDb.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_subscription WHERE subname = $1 AND relid IS NULL',
      [subscriptionName(shard.database)],
    );
    const pid = rows[0]?.pid;
    assert.ok(pid, 'the apply worker runs');
    process.kill(pid, 'SIGSTOP');
    try {
      await fleet.pools
        .pool('dc1-a', shard.database)
        .query(`INSERT INTO appends (id, body) VALUES ('hung-copy', 'x')`);
      await assert.rejects(
        preflightDcSwitchover(fleet, { from: 'dc1', to: 'dc2', catchUpWaitMs: 1_000 }),
        refused(new RegExp(`shard ${shard.id} on dc2-a has not caught up`)),
      );
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await copyDb.query(`ALTER SUBSCRIPTION ${subscriptionName(shard.database)} DISABLE`);
    try {
      await assert.rejects(
        preflightDcSwitchover(fleet, { from: 'dc1', to: 'dc2' }),
        refused(/not replicating/),
      );
    } finally {
      await copyDb.query(`ALTER SUBSCRIPTION ${subscriptionName(shard.database)} ENABLE`);
    }
    assert.deepEqual(await homes(), homesBefore, 'nothing moved');
    await eventually(
      async () => (await preflightDcSwitchover(fleet, { from: 'dc1', to: 'dc2' })).to === 'dc2',
      30_000,
      'the preflight to pass once the copy applies again',
    );
  });

  test('dc1 to dc2 under writes: nothing lost, every table equal, writes after', async (t) => {
    const run = await switchUnderLoad('dcs1', 'dc1', 'dc2');
    describeRun(t, 'dc1 to dc2', run);
    await assert.rejects(
      preflightDcSwitchover(fixture.fleet, { from: 'dc1', to: 'dc2' }),
      refused(/dc1 homes no shard/),
    );
  });

  test('the switch back, dc2 to dc1, restores every home as it was', async (t) => {
    const run = await switchUnderLoad('dcs2', 'dc2', 'dc1');
    describeRun(t, 'dc2 to dc1 (switch back)', run);
    assert.deepEqual(await homes(), homesBefore, 'the switch back moved only what was moved');
  });

  test('a switchover stopped in its pause is undone, or finished by a run again', async () => {
    const { fleet } = fixture;
    const exempt = new ReseedPools(fleet, DC_SWITCHOVER_APPLICATION);
    /** What a crash leaves: fenced, each shard's new home made and, when asked, its new copy. */
    const interrupt = async (newCopy: boolean) => {
      const plan = await preflightDcSwitchover(fleet, { from: 'dc2', to: 'dc1' });
      await fleet.catalog.setFlag(DC_SWITCHOVER_FLAG, JSON.stringify(plan));
      await fleet.catalog.commitChange('test: a switchover that stopped in its pause', {
        servers: [{ id: plan.fromServer, fenced: true }],
      });
      const snapshot = await fleet.refreshCatalog();
      for (const id of plan.shards) {
        const database = snapshot?.shards.find((shard) => shard.id === id)?.database ?? '';
        const move = { id, database, oldHome: plan.fromServer, newHome: plan.toServer };
        await fenceDatabase(fleet, move);
        await makeNewHome(fleet, move, exempt);
        if (newCopy) await makeNewCopy(fleet, move, exempt);
      }
      return plan;
    };
    try {
      const plan = await interrupt(true);
      assert.equal(await compensateDcSwitchover(fleet), 'restored');
      assert.equal(await fleet.catalog.getFlag(DC_SWITCHOVER_FLAG), '');
      assert.deepEqual(await homes(), homesBefore, 'nothing moved');
      const key = keysHomedIn(router, 'dc2', 1, 'undone')[0] as string;
      await router.write(key, (tx) => tx.query(`INSERT INTO appends VALUES ('undone', 'x')`));
      for (const id of plan.shards) {
        const home = await fleet.shardPool(id, 'home');
        const copy = await fleet.shardPool(id, 'copy');
        const database = router.map.route(id).shard.database;
        assert.ok(await waitForCopyToApply(home, copy, database, 30_000), 'the copy applies again');
        const compared = await compareShardCopy(home, copy, database);
        assert.deepEqual(
          compared.tables.filter((table) => table.differences > 0),
          [],
          `shard ${id} equal after the undo`,
        );
      }
      await interrupt(false);
      const report = await dcSwitchover(fleet, { from: 'dc2', to: 'dc1' });
      assert.equal(report.resumed, true);
      assert.equal(report.downtimeMs, null, 'no downtime figure for a run that missed the pause');
      assert.deepEqual(report.verification.problems, []);
      assert.deepEqual(report.shards, plan.shards);
    } finally {
      await exempt.closeAll();
    }
    await dcSwitchover(fleet, { from: 'dc1', to: 'dc2' });
    assert.deepEqual(await homes(), homesBefore, 'every shard back home');
  });

  test('the dr-drill workflow runs through the ops engine, approved at each switch', async () => {
    const { fleet } = fixture;
    const catalogDb = {
      ...fleet.connection(fixture.config.witness.id),
      database: CATALOG_DATABASE,
    };
    const pool = guardedPool({ ...catalogDb, max: 4 });
    await prepareWorkflowDatabase(pool);
    const host = { fleet, controller };
    const engine = new WorkflowEngine({
      pool,
      connection: catalogDb,
      workflows: OPS_WORKFLOWS,
      modules: opsModules(host),
      worker: true,
      pollMs: 100,
    });
    await engine.start();
    try {
      const { run } = await engine.startRun({
        id: `run_${randomUUID()}`,
        workflow: 'dr-drill',
        input: { from: 'dc1', to: 'dc2' },
        startedBy: 'stf_maker',
        idempotencyKey: randomUUID(),
      });
      for (let approvals = 0; approvals < 2; approvals += 1) {
        await untilRun(engine, run.id, ['waiting_approval']);
        await engine.decide(run.id, { id: 'stf_checker', roles: ['approver'] }, true, null);
      }
      const done = await untilRun(engine, run.id, ['succeeded', 'failed', 'compensated']);
      assert.equal(done.status, 'succeeded', JSON.stringify(done.steps));
      for (const step of done.steps.filter((s) => s.name.startsWith('compare'))) {
        const output = step.output as { differences: number; tablesCompared: number };
        assert.equal(output.differences, 0, step.name);
        assert.ok(output.tablesCompared >= 12, `${step.name}: every table of 4 shards`);
      }
      assert.deepEqual(await homes(), homesBefore, 'switched back');
    } finally {
      await engine.stop();
      await pool.end();
    }
  });
});

async function untilRun(
  engine: WorkflowEngine,
  runId: string,
  statuses: readonly string[],
): Promise<RunView> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const run = await engine.run(runId);
    if (statuses.includes(run.status)) return run;
    if (Date.now() > deadline)
      throw new Error(`run ${runId} still ${run.status}: ${JSON.stringify(run.steps)}`);
    await sleep(100);
  }
}
