import type { Router } from '../../src/data/router.ts';
import type {
  AuthorizationOutcome,
  AuthorizationRequest,
} from '../../src/domains/cards/core/authorization/authorization-types.ts';
import type { StandInProcessor } from '../../src/domains/cards/core/stand-in/stand-in-processor.ts';
import type { Fleet } from '../../src/fleet/fleet.ts';
import type { Double11Workload } from './workload.ts';

export const KILL = {
  clientCount: 64,
  durationMs: 10_000,
  killAfterMs: 3_000,
  forwardTimeoutMs: 60_000,
} as const;

/** Which DC primary fails, and how: killed (-9) or hung (SIGSTOP, detected by probes). */
export interface KillPlan {
  readonly label: string;
  readonly victim: string;
  readonly signal: 'SIGKILL' | 'SIGSTOP';
}

export interface KillFigures {
  readonly answered: number;
  readonly errors: Readonly<Record<string, number>>;
  /** From the kill to the last stand-in decision in the victim's DC (`null`: none). */
  readonly windowMs: number | null;
  readonly windowDecisions: number;
  readonly windowStandInShare: number;
  readonly standInTotal: number;
  /** The stand-in decisions of the run by what sent them there (circuit open, overload, ...). */
  readonly standInByTrigger: Readonly<Record<string, number>>;
  readonly approvals: number;
  /** Approved answers with no authorization on the issuer after forwarding. */
  readonly approvalsLost: number;
  readonly forwardedByResult: Readonly<Record<string, number>>;
  readonly pendingAfter: number;
  /** Accounts whose held or posted totals differ from their holds and captures. */
  readonly inconsistentAccounts: number;
}

interface Answer {
  readonly atMs: number;
  readonly homeDc: string;
  readonly request: AuthorizationRequest;
  readonly outcome: AuthorizationOutcome;
}

/**
 * The Double-11 primary loss: a stream of authorizations through stand-in processing while the
 * victim (a DC primary) is killed (SIGKILL) or hangs (SIGSTOP) and the failover controller
 * promotes its replica.
 * Afterwards the advices are forwarded, and every approval is looked up on the issuer.
 */
export async function runStandInKill(
  fleet: Fleet,
  router: Router,
  standIn: StandInProcessor,
  workload: Double11Workload,
  plan: KillPlan,
): Promise<KillFigures> {
  const victimDc = fleet.config.dataCentres.find((dc) => dc.primary.id === plan.victim)?.id;
  const answers: Answer[] = [];
  const errors: Record<string, number> = {};
  const triggersBefore = standIn.stats().standInByTrigger;
  const started = performance.now();
  const killAt = started + KILL.killAfterMs;
  const deadline = started + KILL.durationMs;
  const killer = (async () => {
    await new Promise((resolve) => setTimeout(resolve, KILL.killAfterMs));
    const victim = fleet.server(plan.victim);
    if (!victim) throw new Error(`no server ${plan.victim}`);
    victim.signalAll(plan.signal);
  })();
  const client = async () => {
    while (performance.now() < deadline) {
      const request = workload.nextRequest();
      try {
        const outcome = await standIn.authorize(request);
        const homeDc = router.map.route(router.map.shardOf(request.cardId)).shard.homeDc;
        answers.push({ atMs: performance.now(), homeDc, request, outcome });
      } catch (error) {
        const code = (error as { code?: string }).code ?? 'other';
        errors[code] = (errors[code] ?? 0) + 1;
      }
    }
  };
  await Promise.all([killer, ...Array.from({ length: KILL.clientCount }, client)]);
  const triggersAfter = standIn.stats().standInByTrigger;
  const standInByTrigger = Object.fromEntries(
    Object.entries(triggersAfter)
      .map(([trigger, count]) => [trigger, count - (triggersBefore[trigger as never] ?? 0)])
      .filter(([, count]) => (count as number) > 0),
  );
  // The outage window of the victim's DC: from the kill to its last stand-in decision (after
  // which the circuit closed on the promoted replica).
  const inVictimDc = answers.filter((a) => a.homeDc === victimDc && a.atMs >= killAt);
  const lastStandIn = inVictimDc.filter((a) => a.outcome.decidedBy === 'stand_in').pop();
  const window = lastStandIn ? inVictimDc.filter((a) => a.atMs <= lastStandIn.atMs) : [];
  const forwardDeadline = Date.now() + KILL.forwardTimeoutMs;
  while (standIn.stats().pendingAdvicesTotal > 0 && Date.now() < forwardDeadline) {
    await standIn.forwardAll().catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const approved = answers.filter((a) => a.outcome.status === 'approved');
  return {
    answered: answers.length,
    errors,
    windowMs: lastStandIn ? lastStandIn.atMs - killAt : null,
    windowDecisions: window.length,
    windowStandInShare:
      window.filter((a) => a.outcome.decidedBy === 'stand_in').length / Math.max(1, window.length),
    standInTotal: answers.filter((a) => a.outcome.decidedBy === 'stand_in').length,
    standInByTrigger,
    approvals: approved.length,
    approvalsLost: approved.length - (await countOnIssuer(router, approved)),
    forwardedByResult: standIn.stats().forwardedByResult,
    pendingAfter: standIn.stats().pendingAdvicesTotal,
    inconsistentAccounts: await inconsistentAccounts(router),
  };
}

/** How many of the answered requests have an authorization on their shard's primary. */
async function countOnIssuer(router: Router, answers: readonly Answer[]): Promise<number> {
  const byShard = new Map<number, Answer[]>();
  for (const answer of answers) {
    const shardId = router.map.shardOf(answer.request.cardId);
    byShard.set(shardId, [...(byShard.get(shardId) ?? []), answer]);
  }
  let found = 0;
  for (const [shardId, list] of byShard) {
    const { value } = await router.readShard(
      shardId,
      (db) =>
        db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM authorizations a
             JOIN unnest($1::text[], $2::text[]) AS r(card_id, request_id)
               ON a.card_id = r.card_id AND a.request_id = r.request_id
            WHERE a.hold_state <> 'none'`,
          [list.map((a) => a.request.cardId), list.map((a) => a.request.requestId)],
        ),
      { consistency: 'primary' },
    );
    found += value.rows[0]?.n ?? 0;
  }
  return found;
}

/** Accounts whose `held`/`posted` differ from the sums of their open holds and captures. */
async function inconsistentAccounts(router: Router): Promise<number> {
  let count = 0;
  for (const shardId of router.map.shardIds) {
    const { value } = await router.readShard(
      shardId,
      (db) =>
        db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM card_accounts c
             LEFT JOIN (SELECT account_id,
                               sum(held_amount) FILTER (WHERE hold_state = 'open') AS held,
                               sum(captured_amount) AS posted
                          FROM authorizations GROUP BY account_id) s ON s.account_id = c.id
            WHERE c.held <> coalesce(s.held, 0) OR c.posted <> coalesce(s.posted, 0)`,
        ),
      { consistency: 'primary' },
    );
    count += value.rows[0]?.n ?? 0;
  }
  return count;
}
