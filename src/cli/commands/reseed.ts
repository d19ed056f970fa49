import { loadConfig } from '../../config/load-config.ts';
import type { ReseedReport } from '../../fleet/dc-reseed.ts';
import { readLiveLock } from '../../fleet/fleet-lock.ts';
import { CONFIG_SECTIONS } from '../../modules.ts';
import { operatorCredential } from '../operator-credential.ts';
import { NOT_RUNNING_EXIT } from './status.ts';

/**
 * How long the command waits for the platform's answer. A re-seed copies whole shards; the
 * server gives up at its own bound (15 minutes) first, and the command can be run again.
 */
export const RESEED_REQUEST_TIMEOUT_MS = 16 * 60_000;

/**
 * `mainstay reseed <dc> [--json]`: asks the running platform (at the URL recorded in the fleet
 * lock) to re-seed a returning data centre, and prints its report. It goes through HTTP rather
 * than opening the fleet itself, because the running supervisor owns the servers it restarts.
 */
export async function reseedCommand(dataCentre: string, options: { json?: boolean }) {
  const { home } = loadConfig(undefined, CONFIG_SECTIONS);
  const lock = readLiveLock(home);
  if (!lock?.httpUrl) {
    process.stderr.write(`mainstay: Mainstay is not running in ${home}; start it first\n`);
    return NOT_RUNNING_EXIT;
  }
  const credential = operatorCredential(home);
  if (credential === null) {
    process.stderr.write(
      'mainstay: set MAINSTAY_API_KEY to an API key (or access token) with the ops:admin scope\n',
    );
    return 1;
  }
  process.stdout.write(
    `re-seeding ${dataCentre} through ${lock.httpUrl} (this can take a while)\n`,
  );
  const response = await fetch(`${lock.httpUrl}/v1/operations/reseed`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${credential}` },
    body: JSON.stringify({ dataCentre }),
    signal: AbortSignal.timeout(RESEED_REQUEST_TIMEOUT_MS),
  });
  const body = (await response.json()) as ReseedReport & { code?: string; detail?: string };
  if (!response.ok) {
    process.stderr.write(`mainstay: error [${body.code ?? response.status}]: ${body.detail}\n`);
    return 1;
  }
  process.stdout.write(options.json ? `${JSON.stringify(body, null, 2)}\n` : renderReport(body));
  return 0;
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
