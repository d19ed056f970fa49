import { isEntityId } from '../../../data/entity-id.ts';
import type { Router } from '../../../data/router.ts';
import type { Page } from '../../../data/write-contract.ts';
import { MainstayError } from '../../../errors/mainstay-error.ts';
import {
  ACCOUNT_COLUMNS,
  type AccountRow,
  accountOf,
  type LedgerAccount,
} from './ledger-account-service.ts';

/** Accounts a list page holds at most. */
export const ACCOUNTS_PER_PAGE_MAX = 100;

/** What a list of accounts keeps: every field given must match. */
export interface LedgerAccountFilter {
  readonly kind?: string;
  readonly currency?: string;
  readonly ownerId?: string;
}

/** The list of ledger accounts over every shard (see {@link listLedgerAccounts}). */
export class LedgerAccountList {
  readonly #router: Router;

  constructor(router: Router) {
    this.#router = router;
  }

  list(
    filter: LedgerAccountFilter,
    page: { readonly limit: number; readonly startingAfter?: string },
  ): Promise<Page<LedgerAccount>> {
    return listLedgerAccounts(this.#router, filter, page);
  }
}

/**
 * A page of ledger accounts of every shard, newest first (an account id begins with its
 * creation time, so ids sort by creation). `startingAfter` is the last id of the previous page.
 * Each shard reads its first `limit + 1` accounts below the cursor through its primary key (or
 * the owner index when `ownerId` is given); the first `limit + 1` of their union are then
 * complete, since a shard holding one of them holds it within its own first `limit + 1`.
 */
export async function listLedgerAccounts(
  router: Router,
  filter: LedgerAccountFilter,
  page: { readonly limit: number; readonly startingAfter?: string },
): Promise<Page<LedgerAccount>> {
  if (!Number.isSafeInteger(page.limit) || page.limit < 1 || page.limit > ACCOUNTS_PER_PAGE_MAX)
    throw invalid('/limit', `must be 1-${ACCOUNTS_PER_PAGE_MAX}`);
  if (page.startingAfter !== undefined && !isEntityId(page.startingAfter, 'lacc'))
    throw invalid('/startingAfter', 'must be a cursor from a page');
  const { text, values } = listQuery(filter, page.startingAfter ?? null, page.limit + 1);
  const perShard = await Promise.all(
    router.map.shardIds.map(async (shardId) => {
      const { value } = await router.readShard(
        shardId,
        (db) => db.query<AccountRow>(text, values),
        {
          consistency: 'primary',
        },
      );
      return value.rows;
    }),
  );
  const rows = perShard.flat().sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  const data = rows.slice(0, page.limit).map(accountOf);
  const hasMore = rows.length > page.limit;
  return { data, hasMore, nextCursor: hasMore ? (data.at(-1)?.id ?? null) : null };
}

/** The query of one shard: only the conditions asked for, so each can use its index. */
function listQuery(filter: LedgerAccountFilter, before: string | null, limit: number) {
  const conditions: string[] = [];
  const values: unknown[] = [];
  const add = (condition: string, value: unknown) => {
    values.push(value);
    conditions.push(condition.replace('?', `$${values.length}`));
  };
  if (before !== null) add('id < ?', before);
  if (filter.kind !== undefined) add('kind = ?', filter.kind);
  if (filter.currency !== undefined) add('currency = ?', filter.currency);
  if (filter.ownerId !== undefined) add('owner_id = ?', filter.ownerId);
  values.push(limit);
  const where = conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`;
  return {
    text: `SELECT ${ACCOUNT_COLUMNS} FROM public.ledger_accounts ${where}
           ORDER BY id DESC LIMIT $${values.length}`,
    values,
  };
}

function invalid(pointer: string, detail: string): MainstayError {
  return new MainstayError('invalid_request', `${pointer.slice(1)} ${detail}`, {
    errors: [{ pointer, detail }],
  });
}
