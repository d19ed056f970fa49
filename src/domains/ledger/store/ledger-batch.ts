import type { Queryable } from '../../../data/primary-writer.ts';
import {
  LEDGER_STATUSES,
  type LedgerOutcome,
  type LedgerRequest,
  type LedgerStatus,
  type MoveRequest,
  type SettleRequest,
} from '../core/ledger-types.ts';

interface BatchRow {
  o_pos: number;
  o_status: string;
  o_replayed: boolean;
  o_created_at: Date;
  o_amount: string | null;
}

const KNOWN: ReadonlySet<string> = new Set(LEDGER_STATUSES);

/**
 * Applies `requests` on one shard in the caller's transaction: one call of
 * `ledger_apply_batch`, one outcome per request, in order. The requests must already be valid
 * (the service checks them); the function still refuses what it cannot apply.
 */
export async function applyLedgerBatch(
  tx: Queryable,
  requests: readonly LedgerRequest[],
): Promise<LedgerOutcome[]> {
  const move = (r: LedgerRequest): MoveRequest | null =>
    r.kind === 'transfer' || r.kind === 'pending' ? r : null;
  const settle = (r: LedgerRequest): SettleRequest | null =>
    r.kind === 'post' || r.kind === 'void' || r.kind === 'expire' ? r : null;
  const { rows } = await tx.query<BatchRow>(
    `SELECT o_pos, o_status, o_replayed, o_created_at, o_amount::text AS o_amount
       FROM public.ledger_apply_batch($1::text[], $2::text[], $3::text[], $4::text[],
            $5::bigint[], $6::text[], $7::text[], $8::integer[], $9::boolean[], $10::text[])`,
    [
      requests.map((r) => r.id),
      requests.map((r) => r.kind),
      requests.map((r) => move(r)?.debitAccountId ?? null),
      requests.map((r) => move(r)?.creditAccountId ?? null),
      requests.map((r) => (r.amount === undefined ? null : r.amount.toString())),
      requests.map((r) => move(r)?.currency ?? null),
      requests.map((r) => settle(r)?.pendingId ?? null),
      requests.map((r) => move(r)?.timeoutSeconds ?? null),
      requests.map((r) => r.linked ?? false),
      requests.map((r) => r.reference ?? null),
    ],
  );
  if (rows.length !== requests.length) {
    throw new Error(`ledger_apply_batch answered ${rows.length} of ${requests.length} requests`);
  }
  return rows.map((row) => {
    if (!KNOWN.has(row.o_status)) throw new Error(`unknown ledger status ${row.o_status}`);
    const request = requests[row.o_pos - 1] as LedgerRequest;
    return {
      id: request.id,
      status: row.o_status as LedgerStatus,
      replayed: row.o_replayed,
      amount: BigInt(row.o_amount ?? '0'),
      createdAt: row.o_created_at,
    };
  });
}
