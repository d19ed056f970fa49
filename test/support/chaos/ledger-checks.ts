/**
 * Checks that compare what clients were told with the books on the shards' primaries: no
 * acknowledged write lost, one answer per request id, and holds plus postings within the
 * credit limit plus the stand-in exposure cap.
 */
import type { Router } from '../../../src/data/router.ts';
import type { AuthorizationTrail, ClientLedger } from './client-ledger.ts';

/** One line of the report: a check, its outcome and the figures behind it. */
export interface CheckResult {
  readonly name: string;
  /** `pending`: the check cannot be decided yet (what it needs does not exist). */
  readonly outcome: 'pass' | 'fail' | 'pending' | 'skipped';
  readonly detail: string;
  /** A few offending items, for the report. */
  readonly examples: readonly string[];
}

const EXAMPLE_COUNT_MAX = 5;

/** An authorization as the primary of its shard has it. */
export interface BookAuthorization {
  readonly id: string;
  readonly requestId: string;
  readonly cardId: string;
  readonly status: string;
  readonly holdState: string;
  readonly captured: number;
  readonly reversed: number;
}

/** The authorizations the clients heard of, read on the primaries: by id and by request. */
export interface AuthorizationBooks {
  readonly byId: ReadonlyMap<string, BookAuthorization>;
  /** Key `${cardId} ${requestId}`. */
  readonly byRequest: ReadonlyMap<string, BookAuthorization>;
}

const requestKey = (cardId: string, requestId: string) => `${cardId} ${requestId}`;

/** Reads every authorization named by a request or an id the clients were given. */
export async function readAuthorizationBooks(
  router: Router,
  ledger: ClientLedger,
): Promise<AuthorizationBooks> {
  const perShard = new Map<number, { cards: string[]; requests: string[]; ids: string[] }>();
  const slot = (key: string) => {
    const shardId = router.map.shardOf(key);
    const entry = perShard.get(shardId) ?? { cards: [], requests: [], ids: [] };
    perShard.set(shardId, entry);
    return entry;
  };
  for (const trail of ledger.authorizations.values()) {
    const entry = slot(trail.cardId);
    entry.cards.push(trail.cardId);
    entry.requests.push(trail.requestId);
    for (const answer of trail.answers) entry.ids.push(answer.id);
  }
  const byId = new Map<string, BookAuthorization>();
  const byRequest = new Map<string, BookAuthorization>();
  for (const [shardId, entry] of perShard) {
    const { value } = await router.readShard(
      shardId,
      (db) =>
        db.query<{
          id: string;
          request_id: string;
          card_id: string;
          status: string;
          hold_state: string;
          captured: string;
          reversed: string;
        }>(
          `SELECT a.id, a.request_id, a.card_id, a.status, a.hold_state,
                  a.captured_amount::text AS captured, a.reversed_amount::text AS reversed
             FROM authorizations a
            WHERE a.id = ANY($3::text[])
               OR (a.card_id, a.request_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
          [entry.cards, entry.requests, entry.ids],
        ),
      { consistency: 'primary' },
    );
    for (const row of value.rows) {
      const book: BookAuthorization = {
        id: row.id,
        requestId: row.request_id,
        cardId: row.card_id,
        status: row.status,
        holdState: row.hold_state,
        captured: Number(row.captured),
        reversed: Number(row.reversed),
      };
      byId.set(book.id, book);
      byRequest.set(requestKey(book.cardId, book.requestId), book);
    }
  }
  return { byId, byRequest };
}

/** The book entry a client's answer stands for: its id, else its request. */
function bookOf(books: AuthorizationBooks, trail: AuthorizationTrail, id: string) {
  return books.byId.get(id) ?? books.byRequest.get(requestKey(trail.cardId, trail.requestId));
}

/** An empty record of lost writes. */
export function noLostWrites(): LostWrites {
  return {
    approvals: [],
    declines: [],
    captures: [],
    reversals: [],
    binds: [],
    accounts: [],
    ledgerTransfers: [],
    byDatabase: {},
  };
}

/** Counts `id`'s write as lost in its shard database. */
export function countLost(lost: LostWrites, router: Router, id: string): void {
  const database = `shard_${router.map.shardOf(id)}`;
  lost.byDatabase[database] = (lost.byDatabase[database] ?? 0) + 1;
}

/** Acknowledged writes absent from the books, by kind, with examples. */
export interface LostWrites {
  readonly approvals: string[];
  /** Issuer declines the books no longer hold (a client retrying them could be answered anew). */
  readonly declines: string[];
  readonly captures: string[];
  readonly reversals: string[];
  readonly binds: string[];
  /** Accounts the run opened (acknowledged) that the books no longer hold. */
  readonly accounts: string[];
  /** Ledger transfers told `posted`, `pending` or `voided` that no shard holds. */
  readonly ledgerTransfers: string[];
  /** Shard database of each lost write, to set beside the fleet's reported tails. */
  readonly byDatabase: Record<string, number>;
}

export async function findLostWrites(
  router: Router,
  ledger: ClientLedger,
  books: AuthorizationBooks,
): Promise<LostWrites> {
  const lost = noLostWrites();
  const count = (key: string) => countLost(lost, router, key);
  const trailOfId = new Map<string, AuthorizationTrail>();
  for (const trail of ledger.authorizations.values()) {
    for (const answer of trail.answers) {
      trailOfId.set(answer.id, trail);
      const book = bookOf(books, trail, answer.id);
      if (answer.status !== 'approved') {
        if (answer.decidedBy === 'issuer' && book === undefined) {
          lost.declines.push(`${trail.requestId} ${answer.id} ${answer.status} by issuer`);
          count(trail.cardId);
        }
        continue;
      }
      if (book?.status !== 'approved') {
        const inBooks = book ? `${book.status} ${book.id}` : 'nothing';
        lost.approvals.push(
          `${trail.requestId} ${answer.id} approved by ${answer.decidedBy}; books: ${inBooks}`,
        );
        count(trail.cardId);
      }
    }
  }
  for (const [id, acks] of ledger.holds) {
    const trail = trailOfId.get(id);
    const book = trail ? bookOf(books, trail, id) : books.byId.get(id);
    if (acks.captured > (book?.captured ?? 0)) {
      lost.captures.push(
        `${id} captured ${acks.captured} acked, ${book?.captured ?? 'none'} in books`,
      );
      count(id);
    }
    if (acks.reversed > (book?.reversed ?? 0)) {
      lost.reversals.push(
        `${id} reversed ${acks.reversed} acked, ${book?.reversed ?? 'none'} in books`,
      );
      count(id);
    }
  }
  lost.binds.push(...(await missingBinds(router, ledger)));
  for (const bind of lost.binds) count(bind.split(' ')[0] ?? '');
  return lost;
}

/** Acknowledged binds (`userId boundCardId`) whose row is not on the user's primary. */
async function missingBinds(router: Router, ledger: ClientLedger): Promise<string[]> {
  const perShard = new Map<number, string[]>();
  for (const bind of ledger.binds) {
    const shardId = router.map.shardOf(bind.userId);
    perShard.set(shardId, [...(perShard.get(shardId) ?? []), bind.boundCardId]);
  }
  const found = new Set<string>();
  for (const [shardId, ids] of perShard) {
    const { value } = await router.readShard(
      shardId,
      (db) => db.query<{ id: string }>('SELECT id FROM bound_cards WHERE id = ANY($1)', [ids]),
      { consistency: 'primary' },
    );
    for (const row of value.rows) found.add(row.id);
  }
  return ledger.binds
    .filter((bind) => !found.has(bind.boundCardId))
    .map((bind) => `${bind.userId} ${bind.boundCardId}`);
}

export function lostWritesCount(lost: LostWrites): number {
  return (
    lost.approvals.length +
    lost.declines.length +
    lost.captures.length +
    lost.reversals.length +
    lost.binds.length +
    lost.accounts.length +
    lost.ledgerTransfers.length
  );
}

/** Approvals and binds the clients were told of, and holds with an acknowledged change. */
export function acknowledgedCount(ledger: ClientLedger): number {
  let approvals = 0;
  for (const trail of ledger.authorizations.values()) {
    if (trail.answers.some((answer) => answer.status === 'approved')) approvals += 1;
  }
  let holdChanges = 0;
  for (const acks of ledger.holds.values()) {
    if (acks.captured > 0) holdChanges += 1;
    if (acks.reversed > 0) holdChanges += 1;
  }
  return approvals + holdChanges + ledger.binds.length;
}

/**
 * One answer per request id: every 2xx answer for a request names the same authorization with
 * the same status, the books agree with it, and every id given out is found by GET and by
 * capture or reversal (`lookups`: ids whose final GET failed or named another id).
 */
export function oneAnswerCheck(
  ledger: ClientLedger,
  books: AuthorizationBooks,
  lookups: readonly string[],
): CheckResult {
  const offending: string[] = [];
  let answered = 0;
  for (const trail of ledger.authorizations.values()) {
    if (trail.answers.length === 0) continue;
    answered += 1;
    const distinct = new Set(trail.answers.map((a) => `${a.id}/${a.status}`));
    if (distinct.size > 1) {
      const seen = trail.answers.map(
        (a) => `${a.status} ${a.id} by ${a.decidedBy} via ${a.process}`,
      );
      offending.push(`${trail.requestId}: ${[...new Set(seen)].join('; ')}`);
      continue;
    }
    const first = trail.answers[0];
    const book = first ? bookOf(books, trail, first.id) : undefined;
    if (first && book && (book.id !== first.id || book.status !== first.status)) {
      offending.push(
        `${trail.requestId}: told ${first.status} ${first.id}, books ${book.status} ${book.id}`,
      );
    }
  }
  const total =
    offending.length +
    lookups.length +
    ledger.holdIdMismatches.length +
    ledger.holdUnknownIds.length;
  return {
    name: 'one answer per request id',
    outcome: total === 0 ? 'pass' : 'fail',
    detail:
      `${offending.length} of ${answered} answered request ids with another answer or book entry; ` +
      `${lookups.length} ids given out not found as given by GET; ` +
      `${ledger.holdUnknownIds.length} captures/reversals of a given id answered 404; ` +
      `${ledger.holdIdMismatches.length} answered for another id`,
    examples: [
      ...offending,
      ...lookups,
      ...ledger.holdUnknownIds,
      ...ledger.holdIdMismatches,
    ].slice(0, EXAMPLE_COUNT_MAX),
  };
}
