/**
 * In the asynchronous mode a failover may lose acknowledged writes; then the fleet must say so.
 * The check sets the writes the clients lost beside the tails the fleet reported in its events.
 */
import type { ClientLedger } from './client-ledger.ts';
import { type CheckResult, type LostWrites, lostWritesCount } from './ledger-checks.ts';
import type { FleetEvent } from './tail-events.ts';

/** Commits (or bytes) a tail event reports as lost; null when it says the tail is unknown. */
export function reportedTail(event: FleetEvent): number | null {
  if (/unknown/i.test(event.detail)) return null;
  const commits = /(\d[\d,]*) commits?/.exec(event.detail);
  const bytes = /(\d[\d,]*) bytes/.exec(event.detail);
  const figure = commits?.[1] ?? bytes?.[1];
  return figure === undefined ? 0 : Number(figure.replaceAll(',', ''));
}

/**
 * Passes when nothing acknowledged was lost, or when the fleet reported a lost tail in every
 * data centre where writes were lost. Lost writes beside tails reported as 0 fail it; beside
 * tails reported as unknown only, it is pending.
 */
export function lostTailCheck(
  ledger: ClientLedger,
  lost: LostWrites,
  events: readonly FleetEvent[],
): CheckResult {
  const total = lostWritesCount(lost);
  const tails = events
    .filter((event) => /promoted|moved|tail/.test(event.kind))
    .map((event) => ({ event, figure: reportedTail(event) }));
  const reportedLoss = tails.some((tail) => tail.figure !== null && tail.figure > 0);
  const unknown = tails.some((tail) => tail.figure === null);
  const byDatabase = Object.entries(lost.byDatabase)
    .map(([database, count]) => `${database} ${count}`)
    .join(', ');
  const outcome = total === 0 || reportedLoss ? 'pass' : unknown ? 'pending' : 'fail';
  return {
    name: 'lost acknowledged writes equal the reported tail (async)',
    outcome,
    detail:
      `${total} acknowledged writes lost${byDatabase ? ` (${byDatabase})` : ''} of ` +
      `${ledger.operations.length} operations; the fleet reported: ` +
      (tails.map((t) => `${t.event.server ?? t.event.dc}: ${t.figure ?? 'unknown'}`).join(', ') ||
        'no tail'),
    examples: [...lost.approvals, ...lost.captures, ...lost.reversals, ...lost.binds].slice(0, 5),
  };
}
