/**
 * Stand-in that returns: the latency behind the overload diversion forgets old batches, and a
 * shard diverted for latency is let back onto the issuer by a ramping share of requests once
 * its batches are fast again. On a real fleet, a spell of very slow batches (an account row
 * held locked, as a hung primary holds everything) puts the shard in stand-in; once the lock
 * goes, the issuer decides again within seconds, and the diversion's reason and p99 are
 * visible in `GET /v1/stand-in/stats` and `/metrics` of a real HTTP server.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { registerStandInRoutes } from '../../../src/domains/cards/api/stand-in-routes.ts';
import { LatencyWindow } from '../../../src/domains/cards/core/authorization/latency-window.ts';
import {
  type DiversionOptions,
  OverloadDiversion,
} from '../../../src/domains/cards/core/stand-in/overload-diversion.ts';
import type { StandInProcessor } from '../../../src/domains/cards/core/stand-in/stand-in-processor.ts';
import { registerCardMetrics } from '../../../src/domains/cards/metrics.ts';
import type { CardServices } from '../../../src/domains/cards/services.ts';
import type { TopologySource } from '../../../src/fleet/topology-snapshot.ts';
import { buildHttpServer } from '../../../src/http/build-http-server.ts';
import { platformMetrics } from '../../../src/platform/platform-metrics.ts';
import {
  openSpool,
  request,
  type StandInBed,
  spoolDir,
  startStandInBed,
} from '../../support/card-stand-in-fleet.ts';
import type { FleetFixture } from '../../support/fleet-fixture.ts';

describe('time-decayed latency and the recovery ramp (no issuer needed)', () => {
  test('the p99 forgets batches older than its window, however few came since', () => {
    const window = new LatencyWindow(5_000);
    const t0 = 1_000_000;
    window.record(4_000, t0);
    for (let i = 0; i < 10; i += 1) window.record(3, t0 + 100 + i);
    assert.ok(window.read(t0 + 200).p99Ms >= 4_000 * 0.8, 'the slow batch counts while recent');
    // Six seconds later, two fast batches: the slow one is out of the window.
    window.record(2, t0 + 6_000);
    window.record(3, t0 + 6_100);
    const later = window.read(t0 + 6_200);
    assert.equal(later.sampleCount, 2);
    assert.ok(later.p99Ms <= 3, `p99 ${later.p99Ms}`);
    assert.deepEqual(window.read(t0 + 20_000), { p99Ms: 0, sampleCount: 0, windowMs: 5_000 });
    // Only what ended in slots begun after a moment: the ramp's evidence.
    window.record(4, t0 + 6_300);
    assert.equal(window.read(t0 + 6_400, t0 + 6_100).sampleCount, 1);
    assert.equal(window.read(t0 + 6_400, t0 + 5_900).sampleCount, 3);
  });

  test('a latency diversion starts at a small share, doubles on fast batches and ends at 100%', () => {
    let nowMs = 1_000_000;
    const window = new LatencyWindow(5_000);
    const figures = {
      queueDepth: () => 0,
      latencyP99Ms: (_: number, sinceMs?: number) => {
        const read = window.read(nowMs, sinceMs);
        return read.sampleCount === 0 ? null : read.p99Ms;
      },
    };
    const options: DiversionOptions = {
      queueDepthStandInMin: 100,
      latencyStandInMs: 500,
      probeIntervalMs: 1_000,
      recoveryStepMs: 500,
      recoverySharePercentMin: 5,
    };
    const diversion = new OverloadDiversion(figures, options);
    window.record(3_000, nowMs);
    assert.equal(diversion.route(1, nowMs, nowMs), 'latency');
    assert.equal(diversion.snapshot(1, 'closed', nowMs).reason, 'latency');
    // 100 requests within one step: 5% reach the issuer.
    let issuer = 0;
    for (let i = 0; i < 100; i += 1) if (diversion.route(1, nowMs, nowMs) === 'issuer') issuer += 1;
    assert.equal(issuer, 5);
    // Fast batches from then on: the share doubles every step until the diversion ends.
    const shares: number[] = [];
    for (let step = 0; step < 10 && shares.at(-1) !== 100; step += 1) {
      nowMs += 600;
      window.record(5, nowMs);
      diversion.route(1, nowMs + 10, nowMs);
      shares.push(diversion.snapshot(1, 'closed', nowMs + 10).issuerSharePercent);
    }
    assert.deepEqual(shares, [10, 20, 40, 80, 100]);
    assert.equal(diversion.snapshot(1, 'closed', nowMs + 10).reason, 'none');
    // The slow batch is still in the window, but it no longer diverts anything.
    assert.equal(diversion.route(1, nowMs + 20, nowMs), 'issuer');
    // A new slow batch does.
    nowMs += 600;
    window.record(2_000, nowMs);
    assert.equal(diversion.route(1, nowMs + 1, nowMs), 'latency');
    // Slow evidence halves the share, never below the minimum; a deep queue diverts first.
    nowMs += 600;
    window.record(2_000, nowMs);
    diversion.route(1, nowMs + 1, nowMs);
    assert.equal(diversion.snapshot(1, 'closed', nowMs + 1).issuerSharePercent, 5);
    assert.equal(diversion.snapshot(1, 'open', nowMs + 1).reason, 'circuit_open');
    diversion.refused(2, nowMs);
    assert.equal(diversion.snapshot(2, 'closed', nowMs + 1).reason, 'overloaded');
    assert.equal(diversion.snapshot(2, 'closed', nowMs + 5_000).reason, 'none');
  });
});

let fixture: FleetFixture;
let bed: StandInBed;

describe('a shard diverted by slow batches comes back to the issuer', () => {
  before(async () => {
    ({ fixture, bed } = await startStandInBed('cards-stand-in-recovery'));
  });
  after(async () => {
    await bed?.engine.close().catch(() => undefined);
    await fixture?.stop();
  });

  test('after a spell of very slow batches the issuer decides again within seconds; reason and p99 in stats and metrics', async (t) => {
    const startedAtMs = Date.now();
    const phase = (what: string) => t.diagnostic(`${what} at ${Date.now() - startedAtMs} ms`);
    const { accountId, cardIds, shardId } = await bed.accountWithCards('dc2', 100_000_000n, 2);
    phase('accounts ready');
    const latencyStandInMs = 1_500;
    const processor = bed.startProcessor(await openSpool(spoolDir()), {
      latencyStandInMs,
      // Attempts wait for the slow batches instead of timing out: slow is not down, the
      // circuit stays closed, and only the latency diversion is at work.
      issuerTimeoutMs: 30_000,
    });
    const http = await statsServer(processor);
    const flow = decisions(processor, cardIds);
    try {
      await flow.until((d) => d.filter((x) => x.by === 'issuer').length >= 20, 'issuer warm-up');
      // The slow spell: the account's row locked for 4 s, so the shard's batch waits it out.
      phase('warm');
      const spell = bed.router.write(accountId, async (tx) => {
        await tx.query('SELECT 1 FROM public.card_accounts WHERE id = $1 FOR UPDATE', [accountId]);
        await sleep(4_000);
      });
      await spell;
      const releasedAtMs = Date.now();
      phase('slow spell over');
      // The slow batch is in the figures now: the shard is diverted for latency.
      const seen = await pollUntil(async () => {
        const stats = await getJson(http.url, '/v1/stand-in/stats');
        const diversion = stats.diversions[String(shardId)];
        return diversion?.reason === 'latency' ? { stats, diversion } : null;
      }, 'a latency diversion in GET /v1/stand-in/stats');
      assert.ok(seen.diversion.latencyP99Ms > latencyStandInMs, JSON.stringify(seen.diversion));
      assert.ok(seen.diversion.issuerSharePercent < 100);
      assert.equal(seen.stats.circuits[String(shardId)], 'closed', 'slow, not down');
      const metrics = await (await fetch(`${http.url}/metrics`)).text();
      assert.match(
        metrics,
        new RegExp(`mainstay_card_issuer_latency_p99_seconds\\{shard="${shardId}"\\} [1-9]`),
      );
      assert.match(metrics, /mainstay_card_stand_in_diversion\{shard="\d+",reason="none"\}/);
      // Back within seconds: a run of 50 requests in a row decided by the issuer again. With
      // one request per second let through and the p99 of the last 256 batches, this took
      // minutes.
      await flow.until((d) => {
        const recent = d.filter((x) => x.atMs > releasedAtMs).slice(-50);
        return recent.length === 50 && recent.every((x) => x.by === 'issuer');
      }, '50 issuer decisions in a row after the slow spell');
      const back = await getJson(http.url, '/v1/stand-in/stats');
      assert.equal(back.diversions[String(shardId)].reason, 'none');
      assert.equal(back.diversions[String(shardId)].issuerSharePercent, 100);
      const standIn = flow.all.filter((x) => x.by === 'stand_in' && x.atMs > releasedAtMs);
      assert.ok(standIn.length > 0, 'the slow spell did divert requests');
      const lastStandInMs = Math.max(...standIn.map((x) => x.atMs));
      t.diagnostic(
        `last stand-in decision ${lastStandInMs - releasedAtMs} ms after the slow spell; ` +
          `${standIn.length} decided in stand-in meanwhile; p99 seen ${seen.diversion.latencyP99Ms} ms`,
      );
      // Other triggers may add to these on a loaded machine (a batch past the router's query
      // timeout opens the circuit); the latency diversion must have taken some of them.
      assert.ok(processor.stats().standInByTrigger.overload > 0);
      const after = await (await fetch(`${http.url}/metrics`)).text();
      assert.match(
        after,
        new RegExp(`mainstay_card_stand_in_diversion\\{shard="${shardId}",reason="none"\\} 1`),
      );
    } finally {
      phase('checked');
      await flow.stop();
      await http.app.close();
      await processor.stop();
      phase('stopped');
    }
  });
});

interface Decision {
  readonly by: 'issuer' | 'stand_in';
  readonly atMs: number;
}

/** Authorizations from four callers on `cardIds` until stopped, each decision kept in order. */
function decisions(processor: StandInProcessor, cardIds: readonly string[]) {
  const all: Decision[] = [];
  const errors: unknown[] = [];
  let running = true;
  const loops = Array.from({ length: 4 }, async (_, worker) => {
    for (let n = 0; running; n += 1) {
      const cardId = cardIds[(worker + n) % cardIds.length] as string;
      try {
        const outcome = await processor.authorize(
          request(cardId, `recovery-${worker}-${n}`, { amount: 10n }),
        );
        all.push({ by: outcome.decidedBy, atMs: Date.now() });
      } catch (error) {
        errors.push(error);
      }
      await sleep(5);
    }
  });
  return {
    all,
    async until(check: (all: readonly Decision[]) => boolean, what: string) {
      await pollUntil(() => (check(all) ? true : null), what);
      assert.deepEqual(errors, [], 'every request was answered');
    },
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** Polls `probe` every 50 ms for up to 60 s, until it returns something. */
async function pollUntil<T>(probe: () => T | null | Promise<T | null>, what: string): Promise<T> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const found = await probe();
    if (found !== null) return found;
    await sleep(50);
  }
  assert.fail(`timed out waiting for ${what}`);
}

/** A real HTTP server with the stand-in routes and the card metrics of `processor`. */
async function statsServer(processor: StandInProcessor) {
  const { router, engine } = bed;
  // The metrics read only these three of the card services.
  const cards = { router, engine, standIn: processor } as unknown as CardServices;
  const app: FastifyInstance = await buildHttpServer({
    source: fixture.fleet as unknown as TopologySource,
    metrics: platformMetrics({
      router,
      controller: null,
      spool: null,
      modules: [
        {
          routes: async () => undefined,
          metrics: ({ counter, gauge }) => registerCardMetrics(counter, gauge, cards),
          stop: async () => undefined,
        },
      ],
    }),
    version: 'test',
    routes: [(app) => registerStandInRoutes(app, processor)],
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { app, url: `http://127.0.0.1:${port}` };
}

// biome-ignore lint/suspicious/noExplicitAny: the stats body is checked field by field above
async function getJson(base: string, path: string): Promise<any> {
  const response = await fetch(`${base}${path}`);
  assert.equal(response.status, 200);
  return response.json();
}
