import type { ReseedReport } from '../../fleet/dc-reseed.ts';
import { runningPlatform } from '../operator-credential.ts';

/**
 * How long the command waits for the approval and the re-seed's answer. A re-seed copies whole
 * shards; the server gives up at its own bound (15 minutes), and the command can be run again.
 */
export const RESEED_REQUEST_TIMEOUT_MS = 16 * 60_000;

/**
 * `mainstay reseed <dc> [--json]`: asks the running platform (at the URL recorded in the fleet
 * lock) to re-seed a returning data centre, waits until another person approved it and it ran
 * (maker-checker, decision 47), and prints its report. It goes through HTTP rather
 * than opening the fleet itself, because the running supervisor owns the servers it restarts.
 */
export async function reseedCommand(dataCentre: string, options: { json?: boolean }) {
  const platform = runningPlatform('ops:manage');
  if (typeof platform === 'number') return platform;
  const { url, credential } = platform;
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${credential}` };
  const asked = await fetch(`${url}/v1/operations/reseed`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ dataCentre }),
  });
  const approval = (await asked.json()) as Approval;
  if (asked.status !== 202) return failed(approval);
  process.stdout.write(
    `asked for a re-seed of ${dataCentre}: approval ${approval.id}. It runs once another person ` +
      `with the approver or admin role approves it (POST /v1/approvals/${approval.id}/approve). ` +
      'Waiting (Ctrl-C stops waiting; the request stays)...\n',
  );
  const deadline = Date.now() + RESEED_REQUEST_TIMEOUT_MS;
  let current = approval;
  while (!['executed', 'failed', 'rejected', 'expired'].includes(current.status)) {
    if (Date.now() > deadline)
      return failed({ detail: `approval ${approval.id} still ${current.status}` });
    await new Promise((resolve) => setTimeout(resolve, APPROVAL_POLL_MS));
    const response = await fetch(`${url}/v1/approvals/${approval.id}`, { headers });
    current = (await response.json()) as Approval;
    if (!response.ok) return failed(current);
  }
  const report = current.result?.body as (ReseedReport & Problem) | undefined;
  if (current.status !== 'executed' || !report)
    return failed(
      report ?? { detail: `the request was ${current.status}: ${current.reason ?? ''}` },
    );
  process.stdout.write(
    options.json ? `${JSON.stringify(report, null, 2)}\n` : renderReport(report),
  );
  return 0;
}

interface Problem {
  readonly code?: string;
  readonly detail?: string;
}

interface Approval extends Problem {
  readonly id: string;
  readonly status: string;
  readonly reason?: string | null;
  readonly result?: { readonly status: number; readonly body: unknown } | null;
}

/** How often the command asks whether the re-seed was approved and ran. */
const APPROVAL_POLL_MS = 2_000;

function failed(problem: Problem): number {
  process.stderr.write(`mainstay: error [${problem.code ?? 'reseed'}]: ${problem.detail}\n`);
  return 1;
}

/** The report for people: one line per shard, then the tables where rows are missing. */
export function renderReport(report: ReseedReport): string {
  const lines = [`${report.dataCentre}: ${report.outcome}. ${report.detail}`];
  if (report.outcome === 'reseeded') {
    lines.push(
      `catalog epoch ${report.epoch} (loss at epoch ${report.lossEpoch}); tail window from ${report.tailWindowStart ?? 'unknown'}`,
      `primary ${report.primary}, replica ${report.replica ?? 'none'}${report.replicaRebuilt ? ' (rebuilt)' : ''}`,
    );
  }
  for (const shard of report.shards) {
    lines.push(
      `shard ${shard.shardId} (${shard.formerRole === 'home' ? 'former home' : 'copy'}): kept as ${shard.preservedAs} on ${report.primary}; ${shard.rowsMissingOnHome} rows missing on ${shard.homeServer}`,
    );
    for (const table of shard.tables.filter(
      (t) => t.rowsMissingOnHome + t.rowsDifferentOnHome > 0,
    )) {
      lines.push(
        `  ${table.table}: ${table.rowsPreserved} rows kept, ${table.rowsOnHome} on home; ${table.rowsMissingOnHome} missing, ${table.rowsDifferentOnHome} different${table.truncated ? ' (window truncated)' : ''}; e.g. ${table.missingKeysSample.join(' ')}`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}
