/**
 * The replica rebuild as an operation (`src/fleet/replica-operation.ts`) and the failover drill
 * (`src/fleet/failover-drill.ts`) on a real fleet with the failover controller watching: a
 * rebuilt replica streams synchronously again, a primary is refused; a drill kills a primary,
 * the controller promotes and rebuilds, and no acknowledged write is lost.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Router } from '../src/data/router.ts';
import { isMainstayError } from '../src/errors/mainstay-error.ts';
import { FailoverController } from '../src/fleet/failover-controller.ts';
import { failoverDrill } from '../src/fleet/failover-drill.ts';
import {
  preflightReplicaRebuild,
  rebuildReplicaOperation,
} from '../src/fleet/replica-operation.ts';
import {
  countAppendsOnPrimaries,
  eventually,
  type FleetFixture,
  keysHomedIn,
  startFleet,
} from './support/fleet-fixture.ts';
import { routerAppend, TrackedWriter } from './support/tracked-writer.ts';

let fixture: FleetFixture;
let controller: FailoverController;
let router: Router;

describe('replica rebuild and failover drill', () => {
  before(async () => {
    fixture = await startFleet('drill', {
      dataCentres: [
        { id: 'dc1', synchronousCommit: 'on' },
        { id: 'dc2', synchronousCommit: 'on' },
      ],
    });
    controller = new FailoverController(fixture.fleet);
    controller.start();
    router = await fixture.router({ writeWaitMs: 20_000 });
  });
  after(async () => {
    await controller?.stop();
    await fixture?.stop();
  });

  test('a replica rebuilt as an operation streams synchronously again; a primary is refused', async () => {
    await assert.rejects(preflightReplicaRebuild(fixture.fleet, 'dc2-a'), (error: unknown) =>
      isMainstayError(error, 'state_conflict'),
    );
    const { plan, verification } = await rebuildReplicaOperation(fixture.fleet, 'dc2-b');
    assert.equal(plan.upstream, 'dc2-a');
    assert.deepEqual(verification.problems, []);
    assert.equal(verification.syncState, 'sync');
    const failures = controller.log.recent().filter((e) => e.kind.endsWith('_failed'));
    assert.deepEqual(failures, [], 'the controller took the rebuild for no failure');
  });

  test('a failover drill: the primary killed, promoted and rebuilt, nothing acknowledged lost', async (t) => {
    const keys = keysHomedIn(router, 'dc1', 8, 'drill');
    const writer = new TrackedWriter(keys, 'drill', routerAppend(router, new Map()));
    writer.start(4);
    await eventually(async () => writer.acks.length > 20, 20_000, 'writes before the drill');
    const report = await failoverDrill(fixture.fleet, controller, { dc: 'dc1' });
    await sleep(500);
    await writer.stop();
    t.diagnostic(
      `promoted after ${report.promotedAfterMs} ms, rebuilt after ${report.rebuiltAfterMs} ms`,
    );
    assert.deepEqual(report.verification.problems, []);
    assert.deepEqual([report.killed, report.promoted], ['dc1-a', 'dc1-b']);
    assert.ok(Number.isFinite(report.promotedAfterMs) && report.promotedAfterMs >= 0);
    const shardIds = new Set(keys.map((key) => router.map.shardOf(key)));
    const acked = writer.acknowledged;
    assert.ok(acked.length > 0);
    assert.equal(await countAppendsOnPrimaries(router, acked, shardIds), acked.length);
  });
});
