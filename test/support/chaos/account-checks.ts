/**
 * Checks per card account after recovery: holds plus postings within the credit limit plus the
 * stand-in exposure cap, and the API's account figures equal to the books on the primary.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Router } from '../../../src/data/router.ts';
import { type AccountBooks, readBooks } from '../card-books.ts';
import { type ApiProcess, send } from './chaos-http.ts';
import type { CheckResult } from './ledger-checks.ts';

const EXAMPLE_COUNT_MAX = 5;
/** A GET may be served by a replica a moment behind: it is asked again this often. */
const API_READ_ATTEMPT_COUNT_MAX = 10;
const API_READ_PAUSE_MS = 500;
const API_READ_TIMEOUT_MS = 5_000;

/**
 * Every account's books, read on its primary, and the accounts the primary no longer has (a
 * setup write lost with a tail: counted as a lost write, not a crash of the checks).
 */
export async function readAccounts(
  router: Router,
  accountIds: readonly string[],
): Promise<{ books: Map<string, AccountBooks>; missing: string[] }> {
  const books = new Map<string, AccountBooks>();
  const missing: string[] = [];
  for (const id of accountIds) {
    const found = await readBooks(router, id).catch((error: unknown) => {
      if (error instanceof Error && error.message === `account ${id} exists`) return null;
      throw error;
    });
    if (found) books.set(id, found);
    else missing.push(id);
  }
  return { books, missing };
}

/**
 * held + posted <= limit + cap for every account. Without a configured cap (`null`) the check is
 * pending and reports how far accounts went past their limits.
 */
export function exposureCheck(
  accounts: ReadonlyMap<string, AccountBooks>,
  capPerAccount: number | null,
): CheckResult {
  const over: { id: string; excess: bigint; limit: bigint }[] = [];
  for (const [id, books] of accounts) {
    const excess = books.held + books.posted - books.limit;
    if (excess > 0n) over.push({ id, excess, limit: books.limit });
  }
  over.sort((a, b) => (b.excess > a.excess ? 1 : -1));
  const worst = over[0]?.excess ?? 0n;
  const beyondCap =
    capPerAccount === null ? over : over.filter((a) => a.excess > BigInt(capPerAccount));
  const examples = beyondCap
    .slice(0, EXAMPLE_COUNT_MAX)
    .map((a) => `${a.id}: limit ${a.limit}, held + posted ${a.limit + a.excess}`);
  if (capPerAccount === null) {
    return {
      name: 'held + posted <= limit + stand-in cap',
      outcome: 'pending',
      detail:
        `no stand-in exposure cap in the config: ${over.length} of ${accounts.size} accounts ` +
        `above their limit, the most by ${worst}`,
      examples,
    };
  }
  return {
    name: 'held + posted <= limit + stand-in cap',
    outcome: beyondCap.length === 0 ? 'pass' : 'fail',
    detail:
      `cap ${capPerAccount} per account: ${beyondCap.length} of ${accounts.size} accounts beyond ` +
      `it; ${over.length} above their limit, the most by ${worst}`,
    examples,
  };
}

/**
 * The books add up (held = open holds, posted = captures) and every API process answers each
 * account with the same held, posted and available figures.
 */
export async function booksEqualApiCheck(
  accounts: ReadonlyMap<string, AccountBooks>,
  processes: readonly ApiProcess[],
): Promise<CheckResult> {
  const offending: string[] = [];
  for (const [id, books] of accounts) {
    if (books.held !== books.openHolds || books.posted !== books.captured) {
      offending.push(
        `${id}: held ${books.held} vs open holds ${books.openHolds}, ` +
          `posted ${books.posted} vs captures ${books.captured}`,
      );
    }
    for (const target of processes) {
      const mismatch = await apiMismatch(target, id, books);
      if (mismatch) offending.push(`${id} via ${target.name}: ${mismatch}`);
    }
  }
  return {
    name: 'books equal the API',
    outcome: offending.length === 0 ? 'pass' : 'fail',
    detail: `${offending.length} differences over ${accounts.size} accounts and ${processes.length} API processes`,
    examples: offending.slice(0, EXAMPLE_COUNT_MAX),
  };
}

/** Why the API's account differs from the books (after a few tries), or null. */
async function apiMismatch(
  target: ApiProcess,
  id: string,
  books: AccountBooks,
): Promise<string | null> {
  const available = books.limit - books.held - books.posted;
  let last = 'not read';
  for (let attempt = 0; attempt < API_READ_ATTEMPT_COUNT_MAX; attempt += 1) {
    if (attempt > 0) await sleep(API_READ_PAUSE_MS);
    const answer = await send(target, 'GET', `/v1/card-accounts/${id}`, {
      timeoutMs: API_READ_TIMEOUT_MS,
    });
    if (answer.status !== 200) {
      last = `status ${answer.status} ${answer.error ?? ''}`;
      continue;
    }
    const seen = `held ${answer.body.heldAmount}, posted ${answer.body.postedAmount}, available ${answer.body.availableCredit}`;
    const wanted = `held ${books.held}, posted ${books.posted}, available ${available}`;
    if (seen === wanted) return null;
    last = `API ${seen}; books ${wanted}`;
  }
  return last;
}
