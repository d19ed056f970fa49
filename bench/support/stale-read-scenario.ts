import { setTimeout as sleep } from 'node:timers/promises';
import type { ReadOptions, Router } from '../../src/data/router.ts';
import type { FleetFixture } from '../../test/support/fleet-fixture.ts';
import { pauseReplay, readVersion } from '../../test/support/router-checks.ts';
import { median } from './closed-loop.ts';
import { printTable, type SummaryRow } from './report.ts';

export const STALE = {
  writeCount: 48,
  workerCount: 4,
  keyCount: 16,
  replicas: ['dc1-b', 'dc2-b'],
  catchUpWaitMsMax: 5_000,
} as const;

const UPSERT_SQL = `INSERT INTO router_checks (key, version) VALUES ($1, $2)
  ON CONFLICT (key) DO UPDATE SET version = GREATEST(router_checks.version, EXCLUDED.version)`;

interface Tally {
  reads: number;
  stale: number;
  replica: number;
  primary: number;
  latenciesMs: number[];
}

const newTally = (): Tally => ({ reads: 0, stale: 0, replica: 0, primary: 0, latenciesMs: [] });

/** A read of the key's version, timed. */
async function timedRead(router: Router, key: string, options: ReadOptions) {
  const started = performance.now();
  const result = await readVersion(router, key, options);
  return { version: result.version, target: result.target, ms: performance.now() - started };
}

/** Waits until `any` reads of every key see its seeded row (the replicas have caught up). */
async function waitCaughtUp(reader: Router, keys: readonly string[]): Promise<void> {
  const deadline = Date.now() + STALE.catchUpWaitMsMax;
  for (const key of keys) {
    while ((await timedRead(reader, key, { consistency: 'any' })).version < 0) {
      if (Date.now() > deadline) throw new Error('replicas did not catch up before the pause');
      await sleep(20);
    }
  }
}

/**
 * Stale reads under forced lag: with replay paused on both replicas, each write through
 * `writer` is followed by a `session` read with its token and an `any` read through `reader`
 * (a second router, as another service would be), and a `session` read without
 * a token through it (shared store on) and through a third router with the store off. A read is stale when it returns a version
 * older than the write's.
 */
export async function runStaleReads(
  fixture: FleetFixture,
  writer: Router,
  reader: Router,
  /** A reader with the shared recent-write store off: session reads without a token, before. */
  plain: Router,
): Promise<SummaryRow[]> {
  const keys = Array.from({ length: STALE.keyCount }, (_, i) => `stale_${i}`);
  for (const key of keys) await writer.write(key, (tx) => tx.query(UPSERT_SQL, [key, 0]));
  await waitCaughtUp(reader, keys);
  const session = newTally();
  const noToken = newTally();
  const noTokenPlain = newTally();
  const any = newTally();
  const count = (tally: Tally, read: Awaited<ReturnType<typeof timedRead>>, version: number) => {
    tally.reads += 1;
    if (read.version < version) tally.stale += 1;
    tally[read.target] += 1;
    tally.latenciesMs.push(read.ms);
  };
  await pauseReplay(fixture, true, STALE.replicas);
  try {
    const perWorker = STALE.writeCount / STALE.workerCount;
    const keysPerWorker = STALE.keyCount / STALE.workerCount;
    const work = async (worker: number) => {
      for (let i = 0; i < perWorker; i += 1) {
        const key = keys[worker + STALE.workerCount * (i % keysPerWorker)] as string;
        const version = (i + 1) * 100 + worker;
        const { token } = await writer.write(key, (tx) => tx.query(UPSERT_SQL, [key, version]));
        count(session, await timedRead(reader, key, { consistency: 'session', token }), version);
        count(noToken, await timedRead(reader, key, { consistency: 'session' }), version);
        count(noTokenPlain, await timedRead(plain, key, { consistency: 'session' }), version);
        count(any, await timedRead(reader, key, { consistency: 'any' }), version);
      }
    };
    await Promise.all(Array.from({ length: STALE.workerCount }, (_, worker) => work(worker)));
  } finally {
    await pauseReplay(fixture, false, STALE.replicas);
  }
  console.log(
    `replay paused on ${STALE.replicas.join(' and ')}; ${STALE.writeCount} writes via one router, ` +
      `each read back via a second router\n`,
  );
  const row = (level: string, tally: Tally) => [
    level,
    String(tally.reads),
    String(tally.stale),
    String(tally.replica),
    String(tally.primary),
    `${median(tally.latenciesMs).toFixed(1)} ms`,
  ];
  printTable(
    ['read level', 'reads', 'stale', 'served by replica', 'served by primary', 'p50 latency'],
    [
      row('session + token', session),
      row('session, no token (shared store)', noToken),
      row('session, no token, store off', noTokenPlain),
      row('any', any),
    ],
  );
  return [
    {
      figure: 'stale session reads under forced lag',
      value: String(session.stale),
      target: '0',
      met: session.stale === 0,
    },
    {
      figure: 'stale session reads without a token (shared store)',
      value: `${noToken.stale} of ${noToken.reads}`,
      target: '0',
      met: noToken.stale === 0,
    },
    {
      figure: 'stale session reads without a token, store off',
      value: `${noTokenPlain.stale} of ${noTokenPlain.reads}`,
      target: 'shown (before)',
      met: null,
    },
    {
      figure: 'stale any reads under forced lag',
      value: String(any.stale),
      target: '> 0 (expected)',
      met: any.stale > 0,
    },
  ];
}
