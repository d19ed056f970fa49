import { isMainstayError, MainstayError } from '../errors/mainstay-error.ts';
import { isConnectionLoss } from '../postgres/pg-errors.ts';
import type { EngineStats } from './engine-stats.ts';

/**
 * Catalogue codes that say the shard could not take the batch, whatever it held: no writable
 * primary, a commit whose outcome is unknown, no catalog. Such a batch fails as a whole, with
 * that code, because a client's fallback (cards' stand-in) reads exactly these codes to take
 * over, and because after `write_outcome_unknown` the batch may have committed: sending its
 * items again would be a second attempt, not an isolation.
 */
const AVAILABILITY_CODES: ReadonlySet<string> = new Set([
  'primary_unavailable',
  'write_outcome_unknown',
  'catalog_unavailable',
  'service_unavailable',
  'overloaded',
]);

/**
 * SQLSTATE classes that speak of the server, not of a row: insufficient resources (53: disk
 * full, out of memory), object not in prerequisite state (55: a lock not available), operator
 * intervention (57: a cancelled statement, a shutdown), system error (58: I/O), internal error
 * (XX), and invalid transaction state (25, as 25006: a read-only transaction on a server that
 * is no longer the primary). Splitting a batch for them would only repeat them once per part.
 */
const SHARD_SQLSTATE_CLASSES = ['25', '53', '55', '57', '58', 'XX'] as const;

function sqlStateOf(error: unknown): string | null {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : null;
}

function isShardSqlState(error: unknown): boolean {
  const sqlState = sqlStateOf(error);
  return sqlState !== null && SHARD_SQLSTATE_CLASSES.some((c) => sqlState.startsWith(c));
}

/** Whether `error` is about the shard (fail the batch as a whole) rather than about its items. */
export function isAvailabilityFailure(error: unknown): boolean {
  if (isMainstayError(error)) return AVAILABILITY_CODES.has(error.code);
  return isConnectionLoss(error) || isShardSqlState(error);
}

/**
 * The error every item of a batch the shard refused as a whole is answered with: the router's
 * own availability errors as they are; a server-side refusal (see `SHARD_SQLSTATE_CLASSES`)
 * as `primary_unavailable`, which it is (the transaction rolled back, nothing was written, the
 * shard cannot take writes now) and which a client's fallback (cards' stand-in) takes over from.
 */
export function availabilityFailure(error: unknown): unknown {
  if (isMainstayError(error) || !isShardSqlState(error)) return error;
  return new MainstayError(
    'primary_unavailable',
    `the shard refused the batch as a whole (SQLSTATE ${sqlStateOf(error)}); nothing was written`,
    { cause: error },
  );
}

/**
 * The error an item that failed alone is answered with: a catalogue code, never PostgreSQL's
 * text. Text PostgreSQL cannot store (22021: a NUL character or a byte sequence the encoding
 * refuses; 22P05) is `invalid_text` (400), as the HTTP edge answers it; any other data
 * exception (SQLSTATE class 22: a value out of range...) is `invalid_request` (400); anything
 * else the shard refused for this item alone is `internal_error` (500, details in the cause,
 * which the HTTP layer logs and never shows).
 */
export function itemFailure(error: unknown): MainstayError {
  if (isMainstayError(error)) return error;
  const sqlState = sqlStateOf(error);
  if (sqlState === '22021' || sqlState === '22P05') {
    return new MainstayError(
      'invalid_text',
      `a text field of this request holds a character the database cannot store (SQLSTATE ${sqlState}); nothing was written for it`,
      { cause: error },
    );
  }
  if (sqlState?.startsWith('22')) {
    return new MainstayError(
      'invalid_request',
      `a field of this request holds a value the database cannot store (SQLSTATE ${sqlState}); nothing was written for it`,
      { cause: error },
    );
  }
  return new MainstayError(
    'internal_error',
    `the shard refused this item (${sqlState === null ? 'no SQLSTATE' : `SQLSTATE ${sqlState}`}); the rest of its batch was applied`,
    { cause: error },
  );
}

/** How one part of a batch is tried and failed; the part is the caller's own type. */
export interface IsolationSteps<P> {
  /** Items in the part. */
  size(part: P): number;
  /** The part cut in two, in order (only called with two items or more). */
  halves(part: P): readonly [P, P];
  /** The part as single-item parts, in order. */
  singles(part: P): readonly P[];
  /** Runs the part in one transaction and answers its items; throws when the transaction failed. */
  attempt(part: P): Promise<void>;
  /** Answers every item of the part with `error`. */
  fail(part: P, error: unknown): void;
}

/**
 * Runs a batch so that no item can fail the others. The batch is tried whole (one transaction,
 * the normal case: one round trip). If it fails for a reason that is not the shard's
 * availability ({@link isAvailabilityFailure}), it wrote nothing (the transaction rolled back),
 * so its parts can be tried again without applying anything twice: it is cut in halves, and a
 * failing half in halves again, until the failing items stand alone and fail alone
 * ({@link itemFailure}); every other item gets its normal answer. Each failing item costs at
 * most about 2 * log2(batch size) transactions; after `bisectedFailuresMax` failing items the
 * rest of a failing part goes one item per transaction, so a batch of n items never costs more
 * than n plus that many bisections. An availability failure on the way fails the part and
 * every part not yet tried with that error (a client's fallback takes them); parts already
 * committed keep their answers.
 */
export async function runIsolated<P>(
  batch: P,
  steps: IsolationSteps<P>,
  bisectedFailuresMax: number,
  stats: EngineStats,
): Promise<void> {
  try {
    await steps.attempt(batch);
    return;
  } catch (error) {
    if (isAvailabilityFailure(error)) {
      stats.batchesFailed += 1;
      steps.fail(batch, availabilityFailure(error));
      return;
    }
    if (steps.size(batch) === 1) {
      stats.itemsFailedAlone += 1;
      steps.fail(batch, itemFailure(error));
      return;
    }
  }
  stats.batchesIsolated += 1;
  const pending: P[] = [...steps.halves(batch)];
  let failures = 0;
  for (let part = pending.shift(); part !== undefined; part = pending.shift()) {
    stats.isolationTransactions += 1;
    try {
      await steps.attempt(part);
    } catch (error) {
      if (isAvailabilityFailure(error)) {
        stats.batchesFailed += 1;
        const failure = availabilityFailure(error);
        for (const rest of [part, ...pending]) steps.fail(rest, failure);
        return;
      }
      if (steps.size(part) === 1) {
        failures += 1;
        stats.itemsFailedAlone += 1;
        steps.fail(part, itemFailure(error));
      } else {
        pending.unshift(
          ...(failures < bisectedFailuresMax ? steps.halves(part) : steps.singles(part)),
        );
      }
    }
  }
}
