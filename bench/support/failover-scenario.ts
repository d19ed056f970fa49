import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Router } from '../../src/data/router.ts';
import { TakeoverWriter } from '../../src/data/takeover/takeover-writer.ts';
import { FailoverController } from '../../src/fleet/failover-controller.ts';
import type { FailoverEvent, FailoverEventKind } from '../../src/fleet/failover-events.ts';
import { type FleetFixture, startFleet } from '../../test/support/fleet-fixture.ts';
import {
  type Ack,
  type IdempotentWrite,
  routerAppend,
  TrackedWriter,
} from '../../test/support/tracked-writer.ts';

/** Both DCs commit synchronously to their local replica: a primary's loss must lose nothing. */
export const SYNC_CONFIG = {
  dataCentres: [
    { id: 'dc1', synchronousCommit: 'on' },
    { id: 'dc2', synchronousCommit: 'on' },
  ],
};

export const FAILOVER = {
  writerCount: 4,
  keyCount: 8,
  /** Writes flow this long before the failure. */
  warmUpMs: 1_000,
  /** Give up waiting for writes to resume after this long (the RTO is then reported missing). */
  recoveryWaitMsMax: 30_000,
  /** Acknowledged writes after recovery before the stream stops, so RPO covers both sides. */
  acksAfterRecoveryMin: 20,
  writeWaitMs: 15_000,
  rtoMsMax: 5_000,
  /** Resolution of the event-loop delay histogram. */
  loopDelayResolutionMs: 10,
} as const;

/** One failure to inject: which servers, which signal, and what recovery looks like. */
export interface FailoverPlan {
  readonly label: string;
  readonly victims: readonly string[];
  readonly signal: 'SIGKILL' | 'SIGSTOP';
  /** DC whose shards the writers write. */
  readonly homeDc: string;
  /** The server expected to acknowledge writes at the shards' home after recovery. */
  readonly newPrimary: string;
  /** The controller event that publishes the new home of the written shards. */
  readonly recoveredBy: FailoverEventKind;
  /** Append through a TakeoverWriter (divert to the other DC while the home is down). */
  readonly takeover?: boolean;
}

export interface FailoverFigures {
  readonly plan: FailoverPlan;
  /** Failure to the first write acknowledged at home by the new primary, first tried after it. */
  readonly rtoMs: number | null;
  /** Failure to the first write acknowledged by a takeover table, first tried after it. */
  readonly takeoverMs: number | null;
  /** Failure to the controller's detection of it. */
  readonly detectionMs: number | null;
  /** Detection to the controller's event that published the new primary (sinceDetectionMs). */
  readonly promotionMs: number | null;
  /** Writes acknowledged in the whole run, before and after the failure. */
  readonly ackCount: number;
  readonly divertedCount: number;
  readonly mergedBackCount: number;
  /** Acknowledged writes absent from the shards' primaries afterwards. */
  readonly missingCount: number;
  /** Longest event-loop stall of this process from the failure to the end of recovery. */
  readonly loopStallMaxMs: number;
  readonly errors: ReadonlyMap<string, number>;
  /** Controller events after the failure, with ms since it. */
  readonly events: readonly { readonly sinceKillMs: number; readonly event: FailoverEvent }[];
}

export function keysHomedIn(router: Router, dc: string, count: number): string[] {
  const keys: string[] = [];
  for (let n = 0; keys.length < count; n += 1) {
    const key = `acct_${n}`;
    if (router.map.route(router.map.shardOf(key)).shard.homeDc === dc) keys.push(key);
  }
  return keys;
}

/** How many acknowledged ids are missing from the current primaries of the keys' shards. */
async function countMissing(
  router: Router,
  acks: readonly Ack[],
  keys: readonly string[],
): Promise<number> {
  const ids = acks.map((ack) => ack.id);
  let found = 0;
  for (const shardId of new Set(keys.map((key) => router.map.shardOf(key)))) {
    const { value } = await router.readShard(
      shardId,
      (db) =>
        db.query<{ n: number }>('SELECT count(*)::int AS n FROM appends WHERE id = ANY($1)', [ids]),
      { consistency: 'primary' },
    );
    found += value.rows[0]?.n ?? 0;
  }
  return ids.length - found;
}

async function waitFor(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return true;
    await sleep(10);
  }
  return check();
}

/** The write the stream does, and how to bring diverted rows home afterwards. */
function writeFor(
  plan: FailoverPlan,
  fixture: FleetFixture,
  router: Router,
): { write: IdempotentWrite; mergeBack: () => Promise<number> } {
  if (plan.takeover) {
    const takeover = new TakeoverWriter(router, ['appends']);
    return {
      write: async (key, id, attempt) => {
        const result = await takeover.append(key, 'appends', { id, body: `attempt ${attempt}` });
        return { server: result.servedBy, diverted: result.diverted };
      },
      mergeBack: () => takeover.mergeBack(),
    };
  }
  const serverByPort = new Map(
    fixture.fleet.specs.map((spec) => [fixture.fleet.connection(spec.id).port, spec.id]),
  );
  return { write: routerAppend(router, serverByPort), mergeBack: async () => 0 };
}

/**
 * On a fresh synchronous fleet with a failover controller running and a stream of retried,
 * idempotent writes to shards homed in `plan.homeDc`: injects the failure, measures recovery,
 * then checks that every acknowledged write is on the shards' primaries.
 */
export async function runFailover(plan: FailoverPlan): Promise<FailoverFigures> {
  const fixture = await startFleet(`bench-${plan.label}`, SYNC_CONFIG);
  const controller = new FailoverController(fixture.fleet);
  const events: { at: number; event: FailoverEvent }[] = [];
  controller.on('event', (event) => events.push({ at: Date.now(), event }));
  let stream: TrackedWriter | null = null;
  try {
    controller.start();
    const router = await fixture.router({ writeWaitMs: FAILOVER.writeWaitMs });
    const keys = keysHomedIn(router, plan.homeDc, FAILOVER.keyCount);
    const { write, mergeBack } = writeFor(plan, fixture, router);
    const writer = new TrackedWriter(keys, plan.label, write);
    stream = writer;
    writer.start(FAILOVER.writerCount);
    await sleep(FAILOVER.warmUpMs);
    if (writer.acks.length === 0) throw new Error('no write was acknowledged before the failure');
    const killedAt = Date.now();
    const loopDelay = monitorEventLoopDelay({ resolution: FAILOVER.loopDelayResolutionMs });
    loopDelay.enable();
    for (const id of plan.victims) fixture.fleet.server(id)?.signalAll(plan.signal);
    const atHome = (ack: Ack) => !ack.diverted && ack.server === plan.newPrimary;
    await waitFor(() => {
      const first = writer.firstAckAfter(killedAt, atHome);
      const after = first ? writer.acks.filter((ack) => ack.ackedAt >= first.ackedAt) : [];
      return after.length >= FAILOVER.acksAfterRecoveryMin;
    }, FAILOVER.recoveryWaitMsMax);
    await writer.stop();
    await controller.idle();
    loopDelay.disable();
    const mergedBackCount = await mergeBack();
    const missingCount = await countMissing(router, writer.acks, keys);
    const home = writer.firstAckAfter(killedAt, atHome);
    const diverted = writer.firstAckAfter(killedAt, (ack) => ack.diverted);
    return {
      plan,
      rtoMs: home ? home.ackedAt - killedAt : null,
      takeoverMs: diverted ? diverted.ackedAt - killedAt : null,
      ...controllerTimes(plan, events, killedAt),
      ackCount: writer.acks.length,
      divertedCount: writer.acks.filter((ack) => ack.diverted).length,
      mergedBackCount,
      missingCount,
      loopStallMaxMs: loopDelay.max / 1e6,
      errors: writer.errors,
      events: events
        .filter((entry) => entry.at >= killedAt)
        .map((entry) => ({ sinceKillMs: entry.at - killedAt, event: entry.event })),
    };
  } finally {
    await stream?.stop();
    await controller.stop();
    // A hung server the controller did not shoot would otherwise stall the shutdown.
    for (const id of plan.victims) fixture.fleet.server(id)?.signalAll('SIGCONT');
    await fixture.stop();
  }
}

/** Detection and promotion times from the controller's events after the failure. */
function controllerTimes(
  plan: FailoverPlan,
  events: readonly { at: number; event: FailoverEvent }[],
  killedAt: number,
): { detectionMs: number | null; promotionMs: number | null } {
  const after = events.filter((entry) => entry.at >= killedAt);
  const detected = after[0];
  const recovered = after.find((entry) => entry.event.kind === plan.recoveredBy);
  return {
    detectionMs: detected ? detected.at - (detected.event.sinceDetectionMs ?? 0) - killedAt : null,
    promotionMs: recovered?.event.sinceDetectionMs ?? null,
  };
}

/** The unreplicated tail each `shard_moved` event reported, as "shard N: M bytes". */
export function movedTails(figures: FailoverFigures): string[] {
  return figures.events
    .filter((entry) => entry.event.kind === 'shard_moved')
    .map((entry) => {
      const shard = /shard (\d+)/.exec(entry.event.detail)?.[1] ?? '?';
      const bytes = /tail about (\S+) bytes/.exec(entry.event.detail)?.[1] ?? '?';
      return `shard ${shard}: ${bytes} bytes`;
    });
}
