import type { AuditVerification, ChainReport } from '../../audit/audit-entry.ts';
import { AUDIT_VERIFY_HANDLER_TIMEOUT_MS } from '../../http/routes/audit-routes.ts';
import { runningPlatform } from '../operator-credential.ts';

/** A little longer than the server's own bound, so the server's `503` is what the command shows. */
export const AUDIT_VERIFY_REQUEST_TIMEOUT_MS = AUDIT_VERIFY_HANDLER_TIMEOUT_MS + 60_000;

/**
 * `mainstay audit verify [--shard N] [--json]`: asks the running platform to check every
 * shard's audit chain and prints, per shard, the entries checked and the first broken link.
 * Exits 0 when every chain is intact, 1 when one is broken or could not be checked.
 */
export async function auditVerifyCommand(options: {
  json?: boolean;
  shard?: string;
}): Promise<number> {
  const platform = runningPlatform('audit:read');
  if (typeof platform === 'number') return platform;
  const { url, credential } = platform;
  const query = options.shard === undefined ? '' : `?shardId=${encodeURIComponent(options.shard)}`;
  const response = await fetch(`${url}/v1/audit/verify${query}`, {
    headers: { authorization: `Bearer ${credential}` },
    signal: AbortSignal.timeout(AUDIT_VERIFY_REQUEST_TIMEOUT_MS),
  });
  const body = (await response.json()) as AuditVerification & { code?: string; detail?: string };
  if (!response.ok) {
    process.stderr.write(`mainstay: error [${body.code ?? response.status}]: ${body.detail}\n`);
    return 1;
  }
  process.stdout.write(
    options.json ? `${JSON.stringify(body, null, 2)}\n` : renderVerification(body),
  );
  return body.intact ? 0 : 1;
}

/** The verification for people: one line per shard, and the broken link under a broken one. */
export function renderVerification(verification: AuditVerification): string {
  const lines = verification.shards.flatMap(renderShard);
  lines.push(
    verification.intact
      ? 'audit trail intact'
      : 'AUDIT TRAIL NOT INTACT: see docs/operating/audit.md, "A broken link"',
  );
  return `${lines.join('\n')}\n`;
}

function renderShard(shard: ChainReport): string[] {
  const head = shard.head ? `head ${shard.head.seq} ${shard.head.hash}` : 'no entries';
  if (shard.status === 'unavailable')
    return [`shard ${shard.shardId}: NOT CHECKED (${shard.error ?? 'unavailable'})`];
  if (shard.status === 'intact' || shard.brokenAt === null)
    return [`shard ${shard.shardId}: intact, ${shard.entries} entries, ${head}`];
  const link = shard.brokenAt;
  return [
    `shard ${shard.shardId}: BROKEN at seq ${link.seq} (${link.reason}) after ${shard.entries} good entries, ${head}`,
    `  entry ${link.seq}: at ${link.at ?? '-'}, actor ${link.actor ?? '-'}, action ${link.action ?? '-'}`,
    `  ${link.detail}`,
  ];
}
