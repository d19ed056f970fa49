import assert from 'node:assert/strict';
import type { Router } from '../../src/data/router.ts';

/** An account's totals beside the sums over its authorizations, read on the primary. */
export interface AccountBooks {
  readonly limit: bigint;
  readonly held: bigint;
  readonly posted: bigint;
  /** Sum of the open holds of its authorizations. */
  readonly openHolds: bigint;
  /** Sum of what its authorizations captured. */
  readonly captured: bigint;
}

/** The credit books of an account as its primary has them. */
export async function readBooks(router: Router, accountId: string): Promise<AccountBooks> {
  const { value } = await router.read(
    accountId,
    (db) =>
      db.query<{ limit: string; held: string; posted: string; holds: string; captured: string }>(
        `SELECT a.credit_limit::text AS limit, a.held::text, a.posted::text,
                coalesce(sum(z.held_amount) FILTER (WHERE z.hold_state = 'open'), 0)::text AS holds,
                coalesce(sum(z.captured_amount), 0)::text AS captured
           FROM public.card_accounts a LEFT JOIN public.authorizations z ON z.account_id = a.id
          WHERE a.id = $1 GROUP BY a.id`,
        [accountId],
      ),
    { consistency: 'primary' },
  );
  const row = value.rows[0];
  assert.ok(row, `account ${accountId} exists`);
  return {
    limit: BigInt(row.limit),
    held: BigInt(row.held),
    posted: BigInt(row.posted),
    openHolds: BigInt(row.holds),
    captured: BigInt(row.captured),
  };
}
