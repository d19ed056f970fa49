import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { AdvisoryLockLease } from '../src/jobs/advisory-lock-lease.ts';
import { JobRunner, JobTimeoutError } from '../src/jobs/job-runner.ts';
import { jitterOf, nextDelayMs } from '../src/jobs/job-spec.ts';
import { type OneServer, startOneServer } from './support/jobs-postgres.ts';

/**
 * How much earlier than `performance.now()` says a timer may fire: Node counts a timer's delay
 * from the event loop's cached clock, which on a loaded machine can be several milliseconds
 * older than the moment `setTimeout` was called (a CI run saw a 50 ms wait end after 47.7 ms).
 * The bounds below stay far above what a run without the wait would show.
 */
const TIMER_SLACK_MS = 8;
const WAIT_MS_MAX = 20_000;

/** Polls `predicate` until it holds (or fails the test after `WAIT_MS_MAX`). */
async function until(predicate: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS_MAX;
  while (!predicate()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

function gaps(times: readonly number[]): number[] {
  return times.slice(1).map((time, i) => time - (times[i] as number));
}

/** A job's statistics by name (fails when the runner has no such job). */
function stats(runner: JobRunner, name: string) {
  const found = runner.snapshot().find((job) => job.name === name);
  assert.ok(found, `no job ${name}`);
  return found;
}

describe('job runner', () => {
  test('the wait is the rest of the interval plus a jitter within [0, jitterMs]', () => {
    assert.equal(nextDelayMs(100, 0, 30, Math.random), 70);
    assert.equal(nextDelayMs(100, 0, 0, Math.random), 100);
    // A run longer than the interval skips the ticks it covered.
    assert.equal(nextDelayMs(100, 0, 250, Math.random), 50);
    assert.equal(
      nextDelayMs(100, 40, 30, () => 0),
      70,
    );
    assert.equal(
      nextDelayMs(100, 40, 30, () => 0.999_999),
      110,
    );
    assert.equal(
      jitterOf(0, () => 0.999_999),
      0,
    );
    let seed = 42;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const seen = new Set<number>();
    for (let i = 0; i < 2_000; i += 1) {
      const jitter = jitterOf(25, random);
      assert.ok(Number.isInteger(jitter) && jitter >= 0 && jitter <= 25, `jitter ${jitter}`);
      seen.add(jitter);
    }
    assert.equal(seen.size, 26, 'every value of [0, 25] drawn');
  });

  test('runs on its interval, from one start to the next', async () => {
    const runner = new JobRunner();
    const starts: number[] = [];
    runner.add({
      name: 'tick',
      intervalMs: 25,
      runTimeoutMs: 1_000,
      run: async () => {
        starts.push(performance.now());
      },
    });
    runner.start();
    await until(() => starts.length >= 5, 'five runs');
    await runner.stop();
    for (const gap of gaps(starts)) assert.ok(gap >= 25 - TIMER_SLACK_MS, `gap ${gap} ms`);
    assert.equal(stats(runner, 'tick').runCount, starts.length);
    assert.equal(stats(runner, 'tick').failureCount, 0);
    assert.equal(stats(runner, 'tick').lastOutcome, 'succeeded');
  });

  test('jitter adds its draw to every wait', async () => {
    const runner = new JobRunner({ random: () => 0.999_999 });
    const starts: number[] = [];
    runner.add({
      name: 'jittered',
      intervalMs: 10,
      jitterMs: 40,
      runTimeoutMs: 1_000,
      run: async () => {
        starts.push(performance.now());
      },
    });
    const started = performance.now();
    runner.start();
    await until(() => starts.length >= 4, 'four runs');
    await runner.stop();
    assert.ok((starts[0] as number) - started >= 50 - TIMER_SLACK_MS, 'the first wait too');
    for (const gap of gaps(starts)) assert.ok(gap >= 50 - TIMER_SLACK_MS, `gap ${gap} ms`);
  });

  test('runAtStart runs at once instead of one interval later', async () => {
    const runner = new JobRunner({ random: () => 0 });
    let runs = 0;
    runner.add({
      name: 'eager',
      intervalMs: 3_600_000,
      runAtStart: true,
      runTimeoutMs: 1_000,
      run: async () => {
        runs += 1;
      },
    });
    runner.start();
    await until(() => runs === 1, 'the first run');
    await runner.stop();
  });

  test('a failing run is counted, kept as the last error, and the loop goes on', async () => {
    const runner = new JobRunner();
    let calls = 0;
    runner.add({
      name: 'flaky',
      intervalMs: 5,
      runTimeoutMs: 1_000,
      run: async () => {
        calls += 1;
        if (calls === 1) throw new Error('first run fails');
        if (calls === 3) throw new Error('third run fails');
      },
    });
    runner.start();
    await until(() => calls >= 5, 'five runs');
    await runner.stop();
    const job = stats(runner, 'flaky');
    assert.equal(job.runCount, calls);
    assert.equal(job.failureCount, 2);
    assert.equal(job.timeoutCount, 0);
    assert.equal(job.lastError, 'third run fails');
    assert.ok(job.lastErrorAt !== null && job.lastErrorAt <= Date.now());
    assert.equal(job.lastOutcome, 'succeeded', 'the runs after the failure succeeded');
    assert.equal(job.running, false);
    assert.equal(job.leaseHeld, null, 'no lease');
  });

  test('a run that throws synchronously is a failure like any other', async () => {
    const runner = new JobRunner();
    let calls = 0;
    runner.add({
      name: 'sync-throw',
      intervalMs: 5,
      runTimeoutMs: 1_000,
      run: () => {
        calls += 1;
        throw new TypeError('not even a promise');
      },
    });
    runner.start();
    await until(() => calls >= 3, 'three runs');
    await runner.stop();
    assert.equal(stats(runner, 'sync-throw').failureCount, calls);
    assert.equal(stats(runner, 'sync-throw').lastOutcome, 'failed');
  });

  test('runs never overlap, even when each outlasts the interval and its timeout', async () => {
    const runner = new JobRunner();
    let inFlight = 0;
    let inFlightMax = 0;
    let runs = 0;
    const reasons: unknown[] = [];
    runner.add({
      name: 'slow',
      intervalMs: 2,
      runTimeoutMs: 10,
      run: async (signal) => {
        inFlight += 1;
        inFlightMax = Math.max(inFlightMax, inFlight);
        // Ignores its signal on purpose: the runner must still wait for it.
        await sleep(40);
        reasons.push(signal.reason);
        inFlight -= 1;
        runs += 1;
      },
    });
    runner.start();
    await until(() => runs >= 4, 'four runs');
    await runner.stop();
    assert.equal(inFlightMax, 1);
    const job = stats(runner, 'slow');
    assert.ok(job.timeoutCount >= 4, `${job.timeoutCount} timeouts`);
    assert.equal(job.failureCount, job.timeoutCount);
    assert.equal(job.lastError, 'timed out after 10 ms');
    assert.ok(reasons.slice(0, 4).every((reason) => reason instanceof JobTimeoutError));
  });

  test('stop aborts the run in flight, waits for it, and starts no other', async () => {
    const runner = new JobRunner();
    let started = 0;
    let finished = 0;
    let abortedBeforeEnd = false;
    runner.add({
      name: 'long',
      intervalMs: 5,
      runTimeoutMs: 10_000,
      run: async (signal) => {
        started += 1;
        await sleep(80);
        abortedBeforeEnd = signal.aborted;
        finished += 1;
        if (signal.aborted) throw signal.reason;
      },
    });
    runner.start();
    await until(() => started === 1, 'the run to start');
    await runner.stop();
    assert.equal(finished, 1, 'stop resolved only after the run ended');
    assert.equal(abortedBeforeEnd, true, 'the run was told to stop');
    const job = stats(runner, 'long');
    assert.equal(job.failureCount, 0, 'an error caused by the stop is not a failure');
    assert.equal(job.running, false);
    await sleep(30);
    assert.equal(started, 1, 'no run after stop');
    assert.equal(runner.started, false);
  });

  test('bad specs and duplicate names are refused when added', () => {
    const runner = new JobRunner();
    const run = async () => undefined;
    runner.add({ name: 'once', intervalMs: 10, runTimeoutMs: 10, run });
    assert.throws(
      () => runner.add({ name: 'once', intervalMs: 10, runTimeoutMs: 10, run }),
      /already scheduled/,
    );
    assert.throws(
      () => runner.add({ name: 'zero', intervalMs: 0, runTimeoutMs: 10, run }),
      /intervalMs/,
    );
    assert.throws(
      () => runner.add({ name: 'frac', intervalMs: 10, runTimeoutMs: 1.5, run }),
      /runTimeoutMs/,
    );
    assert.throws(
      () => runner.add({ name: 'neg', intervalMs: 10, jitterMs: -1, runTimeoutMs: 10, run }),
      /jitterMs/,
    );
    assert.throws(
      () => runner.add({ name: 'Bad Name', intervalMs: 10, runTimeoutMs: 10, run }),
      /name/,
    );
  });
});

describe('job runner: one runner across processes (advisory lock on a real PostgreSQL)', () => {
  let server: OneServer;
  let admin: pg.Client;

  before(async () => {
    server = await startOneServer('jobs-lease');
    admin = new pg.Client(server.connection);
    await admin.connect();
  });

  after(async () => {
    await admin?.end().catch(() => undefined);
    await server?.stop();
  });

  async function advisoryHolders(): Promise<number[]> {
    const { rows } = await admin.query<{ pid: number }>(
      `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted ORDER BY pid`,
    );
    return rows.map((row) => row.pid);
  }

  test('only one runs the singleton job at a time, and the other takes over when it stops', async () => {
    const log: string[] = [];
    let inFlight = 0;
    let inFlightMax = 0;
    const make = (who: string) => {
      const lease = new AdvisoryLockLease({ connection: server.connection });
      const runner = new JobRunner();
      runner.add({
        name: 'singleton',
        intervalMs: 10,
        jitterMs: 5,
        runTimeoutMs: 5_000,
        lease,
        run: async () => {
          inFlight += 1;
          inFlightMax = Math.max(inFlightMax, inFlight);
          log.push(who);
          await sleep(15);
          inFlight -= 1;
        },
      });
      return { who, lease, runner };
    };
    const a = make('a');
    const b = make('b');
    a.runner.start();
    b.runner.start();
    try {
      await until(() => log.length >= 10, 'ten runs');
      const first = log[0] as string;
      const [holder, other] = first === 'a' ? [a, b] : [b, a];
      await until(() => stats(other.runner, 'singleton').notHolderCount >= 3, 'refused ticks');
      assert.ok(
        log.every((who) => who === holder.who),
        `only the holder ran: ${log.join('')}`,
      );
      assert.equal(stats(holder.runner, 'singleton').leaseHeld, true);
      assert.equal(stats(other.runner, 'singleton').leaseHeld, false);
      assert.equal(stats(other.runner, 'singleton').runCount, 0);
      assert.equal((await advisoryHolders()).length, 1, 'one advisory lock granted');

      await holder.runner.stop();
      const handedOver = log.length;
      await until(
        () => log.slice(handedOver).filter((who) => who === other.who).length >= 3,
        'the other runner to take over',
      );
      assert.ok(log.slice(handedOver).every((who) => who === other.who));
      assert.equal(stats(other.runner, 'singleton').leaseHeld, true);
      assert.equal(stats(holder.runner, 'singleton').leaseHeld, false);
      assert.equal(inFlightMax, 1, 'never two runs at once, across both runners');
    } finally {
      await a.runner.stop();
      await b.runner.stop();
      await a.lease.close();
      await b.lease.close();
    }
    assert.deepEqual(await advisoryHolders(), [], 'every lock given back');
  });

  test('a holder whose session is killed loses the lease, and the job goes on in one process', async () => {
    const runsBy = { a: 0, b: 0 };
    const leases = {
      a: new AdvisoryLockLease({ connection: server.connection }),
      b: new AdvisoryLockLease({ connection: server.connection }),
    };
    const runners = { a: new JobRunner(), b: new JobRunner() };
    for (const who of ['a', 'b'] as const) {
      runners[who].add({
        name: 'singleton-kill',
        intervalMs: 10,
        runTimeoutMs: 5_000,
        lease: leases[who],
        run: async () => {
          runsBy[who] += 1;
        },
      });
      runners[who].start();
    }
    try {
      await until(() => runsBy.a + runsBy.b >= 5, 'five runs');
      const [holderPid] = await advisoryHolders();
      assert.ok(holderPid !== undefined);
      await admin.query('SELECT pg_terminate_backend($1)', [holderPid]);
      const killedAt = runsBy.a + runsBy.b;
      await until(() => runsBy.a + runsBy.b >= killedAt + 5, 'five runs after the kill');
      const holders = await advisoryHolders();
      assert.equal(holders.length, 1, 'held again, by one session');
      assert.notEqual(holders[0], holderPid, 'a new session');
      const holdersSeen = () =>
        [runners.a, runners.b].filter((r) => stats(r, 'singleton-kill').leaseHeld).length;
      await until(() => holdersSeen() === 1, 'one runner to believe it holds the lease');
    } finally {
      await runners.a.stop();
      await runners.b.stop();
      await leases.a.close();
      await leases.b.close();
    }
  });
});
