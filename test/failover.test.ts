import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Router } from '../src/data/router.ts';
import { isMainstayError } from '../src/errors/mainstay-error.ts';
import { FailoverController } from '../src/fleet/failover-controller.ts';
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

describe('failover with real servers killed', () => {
  before(async () => {
    fixture = await startFleet('failover', {
      dataCentres: [
        { id: 'dc1', synchronousCommit: 'on' },
        { id: 'dc2', synchronousCommit: 'on' },
      ],
    });
    // A DC loss is confirmed over 5 s here (2 s by default), so that a replica stopped for a
    // second below answers in time however loaded the machine.
    controller = new FailoverController(fixture.fleet, { dcLossConfirmMs: 5_000 });
    controller.start();
    router = await fixture.router({ writeWaitMs: 15_000 });
  });
  after(async () => {
    await controller?.stop();
    await fixture?.stop();
  });

  test('kill -9 of a synchronous DC primary: writes resume on the promoted replica, no acknowledged write lost', async () => {
    const keys = keysHomedIn(router, 'dc1', 8, 'acct');
    const stream = new TrackedWriter(keys, 'kill', routerAppend(router, serverByPort(fixture)));
    stream.start(4);
    await eventually(async () => stream.acks.length > 20, 20_000, 'writes before the failure');
    const before = stream.acknowledged.length;
    const victim = fixture.fleet.server('dc1-a');
    assert.ok(victim?.pid);
    const killedAt = Date.now();
    victim.signalAll('SIGKILL');
    await eventually(
      async () =>
        stream.firstAckAfter(killedAt, (ack) => ack.server === 'dc1-b') !== undefined &&
        stream.acknowledged.length > before + 20,
      30_000,
      'writes after the kill',
    );
    await stream.stop();
    await controller.idle();
    const kinds = controller.log.recent().map((event) => event.kind);
    assert.ok(kinds.includes('replica_promoted'), kinds.join());
    assert.equal(router.map.route(router.map.shardOf(keys[0])).primary?.id, 'dc1-b');
    await assertNoneLost(router, stream.acknowledged, keys);
    const topology = await fixture.fleet.topology();
    const oldPrimary = topology.servers.find((s) => s.id === 'dc1-a');
    assert.equal(oldPrimary?.role, 'replica');
    await eventually(
      async () =>
        (await fixture.fleet.topology()).servers.find((s) => s.id === 'dc1-a')?.streamingState ===
        'streaming',
      20_000,
      'dc1-a streaming from dc1-b',
    );
    await eventually(
      async () =>
        (await fixture.fleet.topology()).shards.every(
          (s) => s.logicalReplication.state === 'replicating',
        ),
      20_000,
      'shard copies replicating from the new primary',
    );
    const copyDc = router.map.route(router.map.shardOf(keys[0])).shard.copyDc;
    const copyPrimary = router.map.snapshot.servers.find(
      (s) => s.dc === copyDc && s.role === 'primary',
    );
    assert.ok(copyPrimary);
    await eventually(
      async () => {
        let present = 0;
        for (const shardId of new Set(keys.map((key) => router.map.shardOf(key)))) {
          const db = router.map.route(shardId).shard.database;
          const { rows } = await fixture.fleet.pools
            .pool(copyPrimary.id, db)
            .query<{ n: number }>('SELECT count(*)::int AS n FROM appends WHERE id = ANY($1)', [
              stream.acknowledged,
            ]);
          present += rows[0]?.n ?? 0;
        }
        return present === stream.acknowledged.length;
      },
      20_000,
      'every acknowledged write on the other DC copy',
    );
  });

  test('a hung primary (SIGSTOP of its process group) is fenced and replaced; SIGCONT does not bring it back', async () => {
    const keys = keysHomedIn(router, 'dc2', 8, 'acct');
    const stream = new TrackedWriter(keys, 'hang', routerAppend(router, serverByPort(fixture)));
    stream.start(4);
    await eventually(async () => stream.acks.length > 20, 20_000, 'writes before the hang');
    const victim = fixture.fleet.server('dc2-a');
    const pid = victim?.pid;
    assert.ok(victim && pid);
    victim.signalAll('SIGSTOP');
    const before = stream.acknowledged.length;
    await eventually(
      async () => stream.acknowledged.length > before + 20,
      30_000,
      'writes after the hang',
    );
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // The fenced server was shot: there is nothing left to continue.
    }
    assert.throws(() => process.kill(pid, 0), 'the fenced postmaster is gone');
    await stream.stop();
    await controller.idle();
    assert.equal(router.map.route(router.map.shardOf(keys[0])).primary?.id, 'dc2-b');
    await assertNoneLost(router, stream.acknowledged, keys);
    const fenced = controller.log
      .recent()
      .find((event) => event.kind === 'primary_fenced' && event.server === 'dc2-a');
    assert.match(fenced?.detail ?? '', /killed/);
  });

  test('a killed replica is restarted and streams again; reads keep being answered meanwhile', async () => {
    const replica = fixture.fleet.server('dc1-a');
    assert.ok(replica?.pid);
    replica.signalAll('SIGKILL');
    const key = keysHomedIn(router, 'dc1', 1, 'acct')[0] as string;
    for (let i = 0; i < 20; i += 1) {
      const read = await router.read(key, (db) => db.query('SELECT 1'), { consistency: 'any' });
      assert.ok(read.servedBy);
      await sleep(25);
    }
    await eventually(
      async () =>
        controller.log.recent().some((e) => e.kind === 'replica_recovered' && e.server === 'dc1-a'),
      30_000,
      'replica recovered',
    );
    await eventually(
      async () => (await fixture.fleet.health()).ready,
      20_000,
      'fleet healthy again',
    );
  });

  /**
   * Kills dc2's primary under writes to dc2's shards while `hold` keeps its replica from being
   * promoted at once, for `holdMs`; `hold` answers how to let it go. The replica must be promoted
   * in place (the DC kept, no shard moved, no acknowledged write lost) and the fleet healthy
   * again. Answers the controller's events since the kill, as `kind:server`.
   */
  async function dc2PrimaryKilledWhileReplicaHeld(
    tag: string,
    hold: (replicaId: string) => Promise<() => void>,
    holdMs: number,
  ): Promise<{ replicaId: string; kinds: string[] }> {
    const snapshot = await fixture.fleet.refreshCatalog();
    const primary = snapshot?.servers.find((s) => s.dc === 'dc2' && s.role === 'primary');
    const replica = snapshot?.servers.find(
      (s) => s.role === 'replica' && s.upstream === primary?.id,
    );
    assert.ok(primary && replica);
    const keys = keysHomedIn(router, 'dc2', 4, tag);
    const stream = new TrackedWriter(keys, tag, routerAppend(router, serverByPort(fixture)));
    stream.start(2);
    await eventually(async () => stream.acks.length > 10, 20_000, 'writes before the kill');
    const release = await hold(replica.id);
    const killedAt = Date.now();
    try {
      fixture.fleet.server(primary.id)?.signalAll('SIGKILL');
      await sleep(holdMs);
    } finally {
      release();
    }
    await eventually(
      async () => stream.firstAckAfter(killedAt, (ack) => ack.server === replica.id) !== undefined,
      30_000,
      `writes acknowledged by ${replica.id}`,
    );
    await stream.stop();
    await controller.idle();
    const since = controller.log.recent().filter((e) => Date.parse(e.at) >= killedAt);
    const kinds = since.map((e) => `${e.kind}:${e.server}`);
    assert.ok(kinds.includes(`replica_promoted:${replica.id}`), kinds.join(', '));
    assert.ok(
      !since.some((e) => e.kind === 'dc_failed' || e.kind === 'shard_moved'),
      kinds.join(', '),
    );
    assert.equal(router.map.route(router.map.shardOf(keys[0] as string)).shard.homeDc, 'dc2');
    await assertNoneLost(router, stream.acknowledged, keys);
    await eventually(
      async () => (await fixture.fleet.health()).ready,
      60_000,
      'fleet healthy again',
    );
    return { replicaId: replica.id, kinds };
  }

  test('a primary killed while its replica is stopped for a second: the replica is promoted once it answers, the DC is kept', async () => {
    const stopWhole = async (replicaId: string) => {
      const slow = fixture.fleet.server(replicaId);
      assert.ok(slow?.pid);
      slow.signalAll('SIGSTOP');
      return () => slow.signalAll('SIGCONT');
    };
    const { replicaId, kinds } = await dc2PrimaryKilledWhileReplicaHeld('slow', stopWhole, 1_000);
    // Its own silence, seen while it was stopped, is cleared once it answers as the new primary.
    assert.ok(!kinds.includes(`primary_failed:${replicaId}`), kinds.join(', '));
  });

  test('a primary killed while its replica cannot finish recovery for 4.5 s: the promotion waits past the pools’ 3-s bound, the DC is kept', async () => {
    // The replica's startup process replays the WAL and ends recovery: held, the replica still
    // answers queries, but a promotion cannot complete until it runs again.
    const stopStartup = async (replicaId: string) => {
      const { rows } = await fixture.fleet.pools
        .pool(replicaId)
        .query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE backend_type = 'startup'`);
      const startup = rows[0]?.pid;
      assert.ok(startup, `the startup process of ${replicaId}`);
      process.kill(startup, 'SIGSTOP');
      return () => process.kill(startup, 'SIGCONT');
    };
    await dc2PrimaryKilledWhileReplicaHeld('replay', stopStartup, 4_500);
  });

  test('kill of every server of dc1: its shards move home to dc2, writes resume, old tokens are refused', async () => {
    const keys = keysHomedIn(router, 'dc1', 4, 'acct');
    const { token } = await router.write(keys[0], (tx) =>
      tx.query(`INSERT INTO appends VALUES ('before_dc_loss', 'x')`),
    );
    const stream = new TrackedWriter(keys, 'dcloss', routerAppend(router, serverByPort(fixture)));
    stream.start(2);
    await eventually(async () => stream.acks.length > 10, 20_000, 'writes before the DC loss');
    const killedAt = Date.now();
    for (const id of ['dc1-a', 'dc1-b']) fixture.fleet.server(id)?.signalAll('SIGKILL');
    await eventually(
      async () => stream.firstAckAfter(killedAt) !== undefined,
      30_000,
      'writes after the DC loss',
    );
    await stream.stop();
    await controller.idle();
    const shardId = router.map.shardOf(keys[0]);
    const route = router.map.route(shardId);
    assert.equal(route.shard.homeDc, 'dc2');
    assert.equal(route.shard.copyState, 'quarantined');
    assert.equal(route.primary?.dc, 'dc2');
    const topology = await fixture.fleet.topology();
    for (const id of ['dc1-a', 'dc1-b']) {
      assert.notEqual(
        topology.servers.find((s) => s.id === id)?.fencedAtEpoch ?? null,
        null,
        `${id} fenced`,
      );
    }
    assert.equal(topology.shards.find((s) => s.id === shardId)?.copyState, 'quarantined');
    // The copy had set its CHECK constraints aside; as the home it checks every row again.
    await assert.rejects(
      router.write(keys[0], (tx) =>
        tx.query(
          `INSERT INTO demo_customers (id, bucket, full_name, country) VALUES ('cus_bad', -1, 'Bad', 'SE')`,
        ),
      ),
      (error: { code?: string }) => error.code === '23514',
      'the new home enforces the CHECK constraints its copy had set aside',
    );
    const moved = controller.log.recent().filter((e) => e.kind === 'shard_moved');
    assert.ok(moved.length >= 1);
    assert.match(moved[0]?.detail ?? '', /unreplicated tail about \d+ bytes/);
    await assert.rejects(
      router.read(keys[0], (db) => db.query('SELECT 1'), { token: router.mergeTokens(token) }),
      (error) => isMainstayError(error, 'consistency_token_expired'),
      'merging must not refresh an old position',
    );
    await assert.rejects(
      router.read(keys[0], (db) => db.query('SELECT 1'), { token }),
      (error) => isMainstayError(error, 'consistency_token_expired'),
    );
  });
});

/** Every acknowledged append is on the current primaries of the keys' shards. */
async function assertNoneLost(
  router: Router,
  acknowledged: readonly string[],
  keys: readonly string[],
): Promise<void> {
  const shards = new Set(keys.map((key) => router.map.shardOf(key)));
  assert.equal(
    await countAppendsOnPrimaries(router, acknowledged, shards),
    acknowledged.length,
    'an acknowledged write was lost',
  );
}
