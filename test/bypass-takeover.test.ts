import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BypassSpool } from '../src/data/bypass/bypass-spool.ts';
import { BypassWriter } from '../src/data/bypass/bypass-writer.ts';
import type { Router } from '../src/data/router.ts';
import { TakeoverWriter } from '../src/data/takeover/takeover-writer.ts';
import { isMainstayError } from '../src/errors/mainstay-error.ts';
import {
  countAppendsOnPrimaries,
  type FleetFixture,
  keysHomedIn,
  startFleet,
} from './support/fleet-fixture.ts';

let fixture: FleetFixture;
let router: Router;

async function waitHealthy(id: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && !router.monitor.observe(id).healthy) await sleep(50);
}

describe('stateless takeover and data bypass, with the home primary really down', () => {
  before(async () => {
    fixture = await startFleet('bypass');
    router = await fixture.router({ writeWaitMs: 2_000 });
  });
  after(async () => fixture?.stop());

  test('appends divert at once to the takeover table in the other DC, then merge back home exactly once', async () => {
    const takeover = new TakeoverWriter(router, ['appends']);
    const keys = keysHomedIn(router, 'dc1', 4, 'journal');
    const acknowledged: string[] = [];
    const divertedIds: string[] = [];
    for (let i = 0; i < 20; i += 1) {
      const id = `j_before_${i}`;
      const result = await takeover.append(keys[i % keys.length], 'appends', { id, body: 'home' });
      assert.equal(result.diverted, false);
      acknowledged.push(id);
    }
    fixture.fleet.server('dc1-a')?.signalAll('SIGKILL');
    const killedAt = Date.now();
    let firstDivertedAfterMs: number | null = null;
    for (let i = 0; i < 40; i += 1) {
      const id = `j_during_${i}`;
      const result = await takeover.append(keys[i % keys.length], 'appends', {
        id,
        body: 'diverted',
      });
      assert.equal(result.diverted, true, `append ${i} was not diverted`);
      assert.equal(result.servedBy, 'dc2-a');
      firstDivertedAfterMs ??= Date.now() - killedAt;
      acknowledged.push(id);
      divertedIds.push(id);
    }
    // The same append again (a client retry) must not create a second row anywhere.
    await takeover.append(keys[0], 'appends', { id: 'j_during_0', body: 'retry' });
    assert.ok(firstDivertedAfterMs !== null && takeover.divertedCount >= 40);
    assert.ok(router.stats.writesDiverted >= takeover.divertedCount, 'counted for /metrics');
    await fixture.fleet.startServer('dc1-a');
    await waitHealthy('dc1-a');
    const moved = await takeover.mergeBack();
    assert.equal(moved, 40);
    assert.equal(await takeover.mergeBack(), 0, 'a second merge-back moves nothing');
    const homeCount = await countAppendsOnPrimaries(router, acknowledged);
    assert.equal(homeCount, acknowledged.length, 'every acknowledged append is home exactly once');
    const leftover = await fixture.fleet.pools
      .pool('dc2-a', router.map.route(router.map.shardOf(keys[0])).shard.database)
      .query('SELECT count(*)::int AS n FROM mainstay_takeover.appends');
    assert.equal(leftover.rows[0].n, 0);
  });

  test('bypass: with the shard down, operations are decided and spooled; replay applies each exactly once, in order', async () => {
    const spool = await BypassSpool.open({
      dir: mkdtempSync(path.join(os.tmpdir(), 'mainstay-spool-')),
      name: 'bypass',
    });
    const bypass = new BypassWriter(router, spool, { bypassAfterMs: 300 });
    const keys = keysHomedIn(router, 'dc2', 3, 'journal');
    const insert = (id: string) => (tx: Parameters<Parameters<Router['write']>[1]>[0]) =>
      tx.query('INSERT INTO appends (id, body) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING', [
        id,
        'bypass',
      ]);
    const normal = await bypass.write(keys[0], insert('b_normal'), {
      id: 'b_normal',
      kind: 'append',
      payload: { id: 'b_normal' },
      decide: () => 'approved',
    });
    assert.equal(normal.bypassed, false);
    fixture.fleet.server('dc2-a')?.signalAll('SIGKILL');
    const decided: string[] = [];
    for (let i = 0; i < 10; i += 1) {
      const id = `b_spooled_${i}`;
      const result = await bypass.write(keys[i % keys.length], insert(id), {
        id,
        kind: 'append',
        payload: { id },
        decide: () => 'approved-in-stand-in',
      });
      assert.equal(result.bypassed, true);
      assert.equal(result.value, 'approved-in-stand-in');
      decided.push(id);
    }
    const again = await bypass.write(keys[0], insert('b_spooled_0'), {
      id: 'b_spooled_0',
      kind: 'append',
      payload: { id: 'b_spooled_0' },
      decide: () => 'x',
    });
    assert.equal(again.bypassed, true);
    assert.equal(spool.pendingCount, 10, 'a repeated operation id is spooled once');
    assert.equal(bypass.bypassedCount, 10);
    assert.ok(router.stats.writesSpooled >= 10, 'the router counts spooled writes for /metrics');
    const early = await bypass.replay(async () =>
      assert.fail('nothing may be applied while the shard is down'),
    );
    assert.equal(early.applied, 0);
    await spool.close();
    // The process "restarts": the spool is reopened from disk.
    const reopened = await BypassSpool.open({ dir: path.dirname(spool.file), name: 'bypass' });
    assert.equal(reopened.pendingCount, 10);
    await fixture.fleet.startServer('dc2-a');
    await waitHealthy('dc2-a');
    const order: string[] = [];
    const replayer = new BypassWriter(router, reopened, { bypassAfterMs: 2_000 });
    const result = await replayer.replay(async (tx, entry) => {
      order.push(entry.id);
      await insert(entry.id)(tx);
    });
    assert.deepEqual(result, { applied: 10, remaining: 0 });
    const shardOf = (id: string) => router.map.shardOf(keys[decided.indexOf(id) % keys.length]);
    for (const shardId of new Set(decided.map(shardOf))) {
      assert.deepEqual(
        order.filter((id) => shardOf(id) === shardId),
        decided.filter((id) => shardOf(id) === shardId),
        `shard ${shardId} replayed in decision order`,
      );
    }
    assert.deepEqual(await replayer.replay(async () => assert.fail('replayed twice')), {
      applied: 0,
      remaining: 0,
    });
    const homeCount = await countAppendsOnPrimaries(router, [...decided, 'b_normal']);
    assert.equal(homeCount, 11);
    await reopened.close();
  });

  test('bad input to takeover: undeclared table, missing id, unsafe identifiers', async () => {
    const takeover = new TakeoverWriter(router, ['appends']);
    for (const [table, row] of [
      ['router_checks', { id: 'x' }],
      ['appends', { body: 'no id' }],
      ['appends', { id: 'x', 'body; DROP TABLE appends': 'y' }],
    ] as const) {
      await assert.rejects(takeover.append('k', table, row), (error) =>
        isMainstayError(error, 'invalid_request'),
      );
    }
    assert.throws(
      () => new TakeoverWriter(router, ['Appends"; --']),
      (error) => isMainstayError(error, 'invalid_request'),
    );
  });
});
