import { setTimeout as sleep } from 'node:timers/promises';
import { MainstayError } from '../errors/mainstay-error.ts';
import type { FailoverController } from './failover-controller.ts';
import type { FailoverEvent } from './failover-events.ts';
import type { Fleet } from './fleet.ts';
import { preflightSwitchover } from './switchover-preflight.ts';
import { type SwitchoverVerification, verifySwitchover } from './switchover-verify.ts';

/** Bounds of a failover drill. */
export const FAILOVER_DRILL = {
  /** How long the controller may take from the kill to the old primary rebuilt. */
  completeWaitMs: 180_000,
} as const;

const POLL_MS = 100;

/** What a failover drill saw. */
export interface FailoverDrillReport {
  readonly dc: string;
  /** The primary killed. */
  readonly killed: string;
  /** The replica the controller promoted. */
  readonly promoted: string;
  /** From the kill to the controller's `replica_promoted` event (NaN: none seen). */
  readonly promotedAfterMs: number;
  /** From the kill to the old primary rebuilt and streaming again (`replica_rebuilt`). */
  readonly rebuiltAfterMs: number;
  /** The controller's events from the kill on, oldest first. */
  readonly events: readonly FailoverEvent[];
  readonly verification: SwitchoverVerification;
}

/**
 * A failover drill on a healthy DC: the same preflight as a switchover (a streaming,
 * caught-up replica; nothing in progress), then the primary's whole process group killed with
 * SIGKILL, as a crash would, and the failover controller (which must be watching) waited for
 * until it promoted the replica and rebuilt the old primary; then the DC verified as after a
 * switchover (new primary on a higher timeline and writable, the old one its synchronous
 * replica, copies applying). Throws `switchover_refused` from the preflight, or an error when
 * the controller does not finish in time.
 */
export async function failoverDrill(
  fleet: Fleet,
  controller: FailoverController,
  request: { readonly dc: string },
): Promise<FailoverDrillReport> {
  const plan = await preflightSwitchover(fleet, request);
  const victim = fleet.server(plan.from);
  if (!victim) throw new MainstayError('switchover_refused', `${plan.from} is not run here`);
  const events: FailoverEvent[] = [];
  const listener = (event: FailoverEvent) => events.push(event);
  controller.on('event', listener);
  const killedAt = Date.now();
  try {
    victim.signalAll('SIGKILL');
    const deadline = killedAt + FAILOVER_DRILL.completeWaitMs;
    // A failed step is retried by the controller itself: only the deadline ends the wait.
    while (!eventOf(events, 'replica_rebuilt', plan.from)) {
      if (Date.now() > deadline)
        throw new Error(
          `the controller did not rebuild ${plan.from} in time; last: ${events.at(-1)?.detail ?? 'no event'}`,
        );
      await sleep(POLL_MS);
    }
  } finally {
    controller.off('event', listener);
  }
  const at = (event: FailoverEvent | undefined) =>
    event ? Date.parse(event.at) - killedAt : Number.NaN;
  const verification = await verifySwitchover(fleet, {
    dc: plan.dc,
    primary: plan.to,
    replica: plan.from,
    timelineBefore: plan.timeline,
  });
  return {
    dc: plan.dc,
    killed: plan.from,
    promoted: plan.to,
    promotedAfterMs: at(eventOf(events, 'replica_promoted', plan.to)),
    rebuiltAfterMs: at(eventOf(events, 'replica_rebuilt', plan.from)),
    events,
    verification,
  };
}

function eventOf(
  events: readonly FailoverEvent[],
  kind: FailoverEvent['kind'],
  server: string,
): FailoverEvent | undefined {
  return events.find((e) => e.kind === kind && e.server === server);
}
