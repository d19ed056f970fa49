/**
 * Where a fleet may lose acknowledged writes (every DC in the asynchronous mode; the shards a
 * DC loss moved, whose copies are always asynchronous), it must say so. The check sets the
 * writes the clients lost, per shard database, beside the tails the fleet reported in its
 * events: `lost_tail_measured` (commits per shard database, read from the old primary's WAL),
 * `lost_tail_unknown`, and `shard_moved` (an estimate in bytes).
 */
import { type CheckResult, type LostWrites, lostWritesCount } from './ledger-checks.ts';
import type { FleetEvent } from './tail-events.ts';

/** What the fleet reported for one shard database. */
export interface ReportedTail {
  /** Lost commits (measured) or bytes (a DC loss's estimate); summed over events. */
  readonly figure: number;
  readonly unit: 'commits' | 'bytes';
}

/** The tails the events report, per shard database, and whether any was unknown. */
export function reportedTails(events: readonly FleetEvent[]): {
  readonly byDatabase: ReadonlyMap<string, ReportedTail>;
  readonly unknown: readonly string[];
} {
  const byDatabase = new Map<string, ReportedTail>();
  const add = (database: string, figure: number, unit: ReportedTail['unit']) => {
    const before = byDatabase.get(database)?.figure ?? 0;
    byDatabase.set(database, { figure: before + figure, unit });
  };
  const unknown: string[] = [];
  for (const event of events) {
    if (event.kind === 'lost_tail_unknown') unknown.push(`${event.server}: ${event.detail}`);
    if (event.kind === 'lost_tail_measured') {
      for (const [, database, count] of event.detail.matchAll(/(shard_\d+): (\d+)/g)) {
        if (database) add(database, Number(count), 'commits');
      }
    }
    if (event.kind === 'shard_moved') {
      const shard = /shard (\d+)/.exec(event.detail)?.[1];
      const bytes = /tail about (\d+) bytes/.exec(event.detail)?.[1];
      if (shard === undefined) continue;
      if (bytes === undefined) unknown.push(`shard_${shard}: ${event.detail}`);
      else add(`shard_${shard}`, Number(bytes), 'bytes');
    }
  }
  return { byDatabase, unknown };
}

/**
 * No acknowledged write lost where the fleet promises it (`exposed`: the shard databases where
 * a loss is allowed when reported: all in the asynchronous mode, the moved ones after a DC
 * loss); in the exposed ones, every database that lost writes has a reported tail above 0.
 * Lost writes beside a tail reported as 0 fail; beside unknown tails only, the check is pending.
 */
export function lostWritesCheck(
  lost: LostWrites,
  ackedCount: number,
  events: readonly FleetEvent[],
  exposed: (database: string) => boolean,
): CheckResult {
  const { byDatabase, unknown } = reportedTails(events);
  const unreported: string[] = [];
  const promised: string[] = [];
  for (const [database, count] of Object.entries(lost.byDatabase)) {
    if (!exposed(database)) promised.push(`${database}: ${count}`);
    else if ((byDatabase.get(database)?.figure ?? 0) === 0)
      unreported.push(`${database}: ${count}`);
  }
  const reported = [...byDatabase].map(([db, tail]) => `${db} ${tail.figure} ${tail.unit}`);
  const outcome =
    promised.length > 0 || (unreported.length > 0 && unknown.length === 0)
      ? 'fail'
      : unreported.length > 0
        ? 'pending'
        : 'pass';
  const perDatabase = Object.entries(lost.byDatabase).map(([db, n]) => `${db} ${n}`);
  return {
    name: 'no acknowledged write lost (or lost as reported)',
    outcome,
    detail:
      `${lostWritesCount(lost)} of ${ackedCount} acknowledged writes lost` +
      `${perDatabase.length > 0 ? ` (${perDatabase.join(', ')})` : ''}: approvals ` +
      `${lost.approvals.length}, issuer declines ${lost.declines.length}, captures ${lost.captures.length}, reversals ${lost.reversals.length}, ` +
      `binds ${lost.binds.length}, accounts ${lost.accounts.length}, ledger transfers ${lost.ledgerTransfers.length}; fleet reported lost: ${reported.join(', ') || 'nothing'}` +
      `${unknown.length > 0 ? `, ${unknown.length} tails unknown` : ''}` +
      `${promised.length > 0 ? `; lost where none may be: ${promised.join(', ')}` : ''}` +
      `${unreported.length > 0 ? `; lost and not reported: ${unreported.join(', ')}` : ''}`,
    examples: [
      ...lost.approvals,
      ...lost.declines,
      ...lost.captures,
      ...lost.reversals,
      ...lost.binds,
      ...lost.ledgerTransfers,
    ].slice(0, 5),
  };
}
