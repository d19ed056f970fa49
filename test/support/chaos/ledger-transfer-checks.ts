/**
 * The ledger's checks after a fault run, each comparing the books on the primaries with what
 * the ledger's clients were told: every acknowledged transfer present once, as told; one answer
 * per client id; bad input refused whole; each shard's books holding and nothing applied twice;
 * guarded accounts never below zero; every currency summing to zero over all shards.
 */
import type { Router } from '../../../src/data/router.ts';
import { type CheckResult, countLost, type LostWrites } from './ledger-checks.ts';
import type { BookTransfer, LedgerBooks } from './ledger-transfer-books.ts';
import {
  isAppliedTold,
  type TransferRecord,
  type TransferTrail,
} from './ledger-transfer-trails.ts';

const EXAMPLE_COUNT_MAX = 5;
/** An applied transfer, pending, post or void changes two accounts: two postings, once. */
const POSTINGS_PER_APPLIED = 2;

function result(name: string, offending: readonly string[], detail: string): CheckResult {
  return {
    name,
    outcome: offending.length === 0 ? 'pass' : 'fail',
    detail,
    examples: offending.slice(0, EXAMPLE_COUNT_MAX),
  };
}

/**
 * Acknowledged transfers (told `posted`, `pending` or `voided`) absent from every shard, added
 * to `lost` (the lost-writes check decides whether the fleet may lose them), and the count of
 * acknowledged ones.
 */
export function addLostTransfers(
  record: TransferRecord,
  books: LedgerBooks,
  lost: LostWrites,
  router: Router,
): number {
  const acknowledged = record.acknowledged();
  for (const trail of acknowledged) {
    if ((books.transfers.get(trail.id) ?? []).length > 0) continue;
    const told = trail.answers.find((answer) => isAppliedTold(answer.status));
    lost.ledgerTransfers.push(`${trail.id} told ${told?.status} ${told?.amount}; books: nothing`);
    countLost(lost, router, trail.shardKey);
  }
  return acknowledged.length;
}

/**
 * Every acknowledged transfer that is in the books is there once (on one shard), with the
 * status and amount the client was told.
 */
export function acknowledgedOnceCheck(record: TransferRecord, books: LedgerBooks): CheckResult {
  const offending: string[] = [];
  const acknowledged = record.acknowledged();
  for (const trail of acknowledged) {
    const rows = books.transfers.get(trail.id) ?? [];
    const told = trail.answers.find((answer) => isAppliedTold(answer.status));
    if (rows.length > 1) offending.push(`${trail.id} on ${rows.length} shards: ${describe(rows)}`);
    const row = rows[0];
    if (told && row && (row.status !== told.status || row.amount !== told.amount))
      offending.push(`${trail.id} told ${told.status} ${told.amount}; books ${describe(rows)}`);
  }
  return result(
    'ledger: acknowledged transfers once, as told',
    offending,
    `${acknowledged.length} transfers acknowledged (posted, pending, voided); ${offending.length} in the books twice or not as told (absent ones count under lost writes)`,
  );
}

function describe(rows: readonly BookTransfer[]): string {
  return rows.map((row) => `${row.kind} ${row.status} ${row.amount} on ${row.shardId}`).join('; ');
}

/** Every 2xx answer for a client id gives the same status and amount, and the books agree. */
export function oneTransferAnswerCheck(record: TransferRecord, books: LedgerBooks): CheckResult {
  const offending: string[] = [];
  let answered = 0;
  let retold = 0;
  for (const trail of record.trails.values()) {
    const first = trail.answers[0];
    if (!first) continue;
    answered += 1;
    if (trail.answers.length > 1) retold += 1;
    const seen = new Set(trail.answers.map((a) => `${a.status} ${a.amount}`));
    if (seen.size > 1) {
      offending.push(`${trail.id}: ${describeAnswers(trail)}`);
      continue;
    }
    const row = books.transfers.get(trail.id)?.[0];
    if (row && (row.status !== first.status || row.amount !== first.amount))
      offending.push(`${trail.id}: told ${first.status} ${first.amount}; books ${describe([row])}`);
  }
  return result(
    'ledger: one answer per transfer id',
    offending,
    `${answered} ids answered, ${retold} of them more than once (retries, repeats); ${offending.length} with two answers or books that differ`,
  );
}

function describeAnswers(trail: TransferTrail): string {
  return trail.answers
    .map((a) => `${a.status} ${a.amount}${a.replayed ? ' (replayed)' : ''} via ${a.process}`)
    .join('; ');
}

/** Calls of bad input: answered 400 only, and none of their ids in the books. */
export function refusedInputCheck(record: TransferRecord, books: LedgerBooks): CheckResult {
  const offending: string[] = [];
  let unanswered = 0;
  for (const call of record.refusedCalls) {
    if (call.answers.length === 0) unanswered += 1;
    for (const answer of call.answers) {
      if (answer.status !== 400)
        offending.push(`${call.what} (${call.ids[0]}) answered ${answer.status} ${answer.code}`);
    }
    for (const id of call.ids) {
      const rows = books.transfers.get(id) ?? [];
      if (rows.length > 0) offending.push(`${call.what}: ${id} written: ${describe(rows)}`);
    }
  }
  const codes = new Set(record.refusedCalls.flatMap((call) => call.answers.map((a) => a.code)));
  return result(
    'ledger: bad input refused, nothing written',
    offending,
    `${record.refusedCalls.length} calls with a request holding U+0000 or bytes that are not UTF-8 (${[...codes].join(', ') || 'no answer'}); ${unanswered} never answered; ${offending.length} answered otherwise or written`,
  );
}

/**
 * `ledger_check_books` finds no break on any shard (trial balance per shard, each account's
 * totals equal to its postings), and each transfer the run named is applied at most once: two
 * postings if its stored status applied it, none otherwise.
 */
export function booksHoldCheck(record: TransferRecord, books: LedgerBooks): CheckResult {
  const offending = [...books.breaks];
  let applied = 0;
  for (const id of record.trails.keys()) {
    const rows = books.transfers.get(id) ?? [];
    const postings = books.postingCounts.get(id) ?? 0;
    const appliedRows = rows.filter((row) => isAppliedTold(row.status)).length;
    applied += appliedRows;
    const expected = appliedRows * POSTINGS_PER_APPLIED;
    if (rows.length > 1 || postings !== expected)
      offending.push(`${id}: ${describe(rows) || 'not stored'}, ${postings} postings`);
  }
  return result(
    'ledger: books hold, nothing applied twice',
    offending,
    `${books.breaks.length} breaks of ledger_check_books over ${books.accountCount} accounts; ${applied} applied transfers of the run, each with ${POSTINGS_PER_APPLIED} postings: ${offending.length - books.breaks.length} not`,
  );
}

/** No posting of a guarded account ever left its debits (posted + pending) above its credits. */
export function guardedCheck(record: TransferRecord, books: LedgerBooks): CheckResult {
  const offending = [...books.belowZero];
  if (books.ownGuardedFound !== record.guarded.length)
    offending.push(`${books.ownGuardedFound} of the run's ${record.guarded.length} wallets found`);
  return result(
    'ledger: guarded accounts never below zero',
    offending,
    `${books.guardedCount} guarded accounts (the run's ${record.guarded.length} wallets among them), every posting of each: ${books.belowZero.length} below zero`,
  );
}

/** Credits minus debits, posted and pending, sum to zero per currency over every shard. */
export function trialBalanceCheck(books: LedgerBooks): CheckResult {
  const offending: string[] = [];
  const sums: string[] = [];
  for (const [currency, totals] of books.trial) {
    sums.push(`${currency} ${totals.posted}/${totals.pending}`);
    if (totals.posted !== 0n || totals.pending !== 0n)
      offending.push(`${currency}: posted ${totals.posted}, pending ${totals.pending}`);
  }
  return result(
    'ledger: trial balance zero over all shards',
    offending,
    `credits - debits (posted/pending) over ${books.accountCount} accounts: ${sums.join(', ') || 'no accounts'}`,
  );
}

/** Every ledger check but the lost writes (which the run's lost-writes check counts). */
export function ledgerChecks(record: TransferRecord, books: LedgerBooks): CheckResult[] {
  return [
    acknowledgedOnceCheck(record, books),
    oneTransferAnswerCheck(record, books),
    refusedInputCheck(record, books),
    booksHoldCheck(record, books),
    guardedCheck(record, books),
    trialBalanceCheck(books),
  ];
}
