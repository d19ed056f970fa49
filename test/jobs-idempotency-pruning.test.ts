import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  fingerprintOf,
  IDEMPOTENCY_MIGRATIONS,
  idempotencyPruningJob,
  onceInTransaction,
} from '../src/data/idempotency.ts';
import type { Router } from '../src/data/router.ts';
import { isMainstayError } from '../src/errors/mainstay-error.ts';
import { CATALOG_DATABASE } from '../src/fleet/fleet.ts';
import { AdvisoryLockLease } from '../src/jobs/advisory-lock-lease.ts';
import { JobRunner } from '../src/jobs/job-runner.ts';
import { IDEMPOTENCY_RETENTION_DAYS_DEFAULT } from '../src/jobs/jobs-config.ts';
import { type FleetFixture, startFleet } from './support/fleet-fixture.ts';

const DAY_MS = 24 * 60 * 60 * 1000;
const SCOPE = 'jobs-prune-test';
const OLD_PER_SHARD = 5;

let fixture: FleetFixture;
let router: Router;

/** Claims `key` on a shard's primary with `body` as its answer; `replayed` as onceInTransaction says. */
async function claim(shardId: number, key: string, body: { n: number }) {
  const { value } = await router.writeToShard(shardId, (tx) =>
    onceInTransaction(tx, { scope: SCOPE, key, fingerprint: fingerprintOf(body) }, async () => ({
      statusCode: 201,
      body,
    })),
  );
  return value;
}

/** Moves a record's creation `days` into the past, as if it had been written then. */
async function age(shardId: number, key: string, days: number): Promise<void> {
  await router.writeToShard(shardId, (tx) =>
    tx.query(
      `UPDATE public.idempotency_keys SET created_at = now() - make_interval(days => $3)
       WHERE scope = $1 AND key = $2`,
      [SCOPE, key, days],
    ),
  );
}

async function keysOn(shardId: number): Promise<string[]> {
  const { value } = await router.readShard(
    shardId,
    (db) =>
      db.query<{ key: string }>(
        'SELECT key FROM public.idempotency_keys WHERE scope = $1 ORDER BY key',
        [SCOPE],
      ),
    { consistency: 'primary' },
  );
  return value.rows.map((row) => row.key);
}

describe('idempotency pruning job (real fleet)', () => {
  before(async () => {
    fixture = await startFleet('jobs-prune', {}, [IDEMPOTENCY_MIGRATIONS]);
    router = await fixture.router();
  });
  after(async () => {
    await fixture?.stop();
  });

  test('a retention under the API promise of 24 hours is refused', () => {
    assert.throws(() => idempotencyPruningJob(router, { retentionMs: DAY_MS - 1 }), RangeError);
    assert.throws(() => idempotencyPruningJob(router, { retentionMs: Number.NaN }), RangeError);
    assert.throws(
      () => idempotencyPruningJob(router, { retentionMs: DAY_MS, batchSizeMax: 0 }),
      RangeError,
    );
  });

  test('past the retention records are pruned on every primary, by one process; within it a retry replays', async () => {
    const shardIds = router.map.shardIds;
    assert.ok(shardIds.length >= 2);
    for (const shardId of shardIds) {
      await claim(shardId, `fresh-${shardId}`, { n: shardId });
      await claim(shardId, `week-${shardId}`, { n: shardId });
      await age(shardId, `week-${shardId}`, IDEMPOTENCY_RETENTION_DAYS_DEFAULT - 1);
      for (let i = 0; i < OLD_PER_SHARD; i += 1) {
        await claim(shardId, `old-${shardId}-${i}`, { n: i });
        await age(shardId, `old-${shardId}-${i}`, IDEMPOTENCY_RETENTION_DAYS_DEFAULT + 1);
      }
    }

    // Two API processes: each its own router, its own lease connection, its own runner.
    const witness = { ...fixture.fleet.connection(fixture.config.witness.id) };
    const processes = await Promise.all(
      ['api-1', 'api-2'].map(async (name) => {
        const lease = new AdvisoryLockLease({
          connection: { ...witness, database: CATALOG_DATABASE },
        });
        const jobs = new JobRunner();
        jobs.add(
          idempotencyPruningJob(await fixture.router({ applicationName: name }), {
            retentionMs: IDEMPOTENCY_RETENTION_DAYS_DEFAULT * DAY_MS,
            lease,
            jitterMs: 0,
            // Five old records a shard in batches of two: three statements each.
            batchSizeMax: 2,
          }),
        );
        return { lease, jobs };
      }),
    );
    const job = (p: (typeof processes)[number]) => {
      const [found] = p.jobs.snapshot();
      assert.ok(found);
      return found;
    };
    try {
      for (const p of processes) p.jobs.start();
      const deadline = Date.now() + 30_000;
      const settled = () =>
        processes.every((p) => job(p).lastOutcome !== null) &&
        processes.some((p) => job(p).lastFinishedAt !== null);
      while (!settled()) {
        assert.ok(Date.now() < deadline, 'a pruning run finished, the other process was refused');
        await sleep(20);
      }
      const holderIndex = processes.findIndex((p) => job(p).runCount > 0);
      const holder = processes[holderIndex];
      const other = processes[1 - holderIndex];
      assert.ok(holder && other, 'one process ran the job');
      assert.equal(job(holder).lastOutcome, 'succeeded', job(holder).lastError ?? '');
      assert.equal(job(holder).runCount, 1);
      assert.equal(job(other).runCount, 0, 'the other process did not prune');
      assert.equal(job(other).lastOutcome, 'not_holder');
    } finally {
      for (const p of processes) await p.jobs.stop();
      for (const p of processes) await p.lease.close();
    }

    for (const shardId of shardIds) {
      assert.deepEqual(await keysOn(shardId), [`fresh-${shardId}`, `week-${shardId}`]);
      const fresh = await claim(shardId, `fresh-${shardId}`, { n: shardId });
      assert.deepEqual(fresh, { statusCode: 201, body: { n: shardId }, replayed: true });
      const week = await claim(shardId, `week-${shardId}`, { n: shardId });
      assert.equal(week.replayed, true, 'six days old: still replayed');
      await assert.rejects(claim(shardId, `week-${shardId}`, { n: shardId + 1000 }), (error) =>
        isMainstayError(error, 'idempotency_key_reused'),
      );
      const pruned = await claim(shardId, `old-${shardId}-0`, { n: 99 });
      assert.equal(pruned.replayed, false, 'past the retention: a new request');
    }
  });
});
