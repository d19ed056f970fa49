import { type FieldError, MainstayError } from '../../../errors/mainstay-error.ts';
import { LEDGER_REQUEST_KINDS, type LedgerRequest } from './ledger-types.ts';

/** The largest amount a request may carry: PostgreSQL's `bigint` (int8), the column's type. */
export const LEDGER_AMOUNT_MAX = 9_223_372_036_854_775_807n;
/** Ids (the request's, its accounts', a pending transfer's) and references: 1 to 255 characters. */
export const LEDGER_TEXT_LENGTH_MAX = 255;
/** A pending transfer's timeout, in seconds: PostgreSQL's `integer`, the column's type. */
export const LEDGER_TIMEOUT_SECONDS_MAX = 2_147_483_647;
/** Field errors listed in one refusal; a call full of bad requests names the first ones. */
const FIELD_ERRORS_MAX = 64;

/**
 * U+0000 and UTF-16 surrogates that are not half of a pair (with the `u` flag `\p{Cs}` matches
 * only those): PostgreSQL cannot store the first, and the second would be stored as U+FFFD, so a
 * retry would not match its first attempt. The same rule as the HTTP edge's text guard
 * (`src/http/storable-text.ts`), which a domain's core may not import.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: U+0000 is what is searched for.
const UNSTORABLE_CHARACTER = /[\u0000\p{Cs}]/u;
const CURRENCY = /^[A-Z]{3}$/;

/** What the checks of a call need from the engine. */
export interface LedgerCallBounds {
  /** Requests one call may hold (it must fit the shard's queue). */
  readonly callLengthMax: number;
  /** Requests one linked chain may hold (it must fit one batch). */
  readonly chainLengthMax: number;
  /** The shard of a key, or `null` when the key names no shard of the map. */
  shardOf(key: string): number | null;
}

function isLedgerText(value: unknown, lengthMax = LEDGER_TEXT_LENGTH_MAX): value is string {
  return (
    typeof value === 'string' &&
    value.length >= 1 &&
    value.length <= lengthMax &&
    !UNSTORABLE_CHARACTER.test(value)
  );
}

function isLedgerAmount(value: unknown): value is bigint {
  return typeof value === 'bigint' && value > 0n && value <= LEDGER_AMOUNT_MAX;
}

const TEXT_DETAIL = `must be 1 to ${LEDGER_TEXT_LENGTH_MAX} characters, without U+0000`;
const AMOUNT_DETAIL = `must be a bigint from 1 to ${LEDGER_AMOUNT_MAX} minor units`;

/** A move of money between two accounts that the engine does not decide alone. */
export interface TwoAccountMove {
  readonly id: unknown;
  readonly amount: unknown;
  readonly currency: unknown;
  readonly reference?: unknown;
}

/**
 * The field errors of a cross-shard transfer or a payment, by the rules of a ledger request:
 * its id (1 to `idLengthMax` characters), each of `accounts` (`[pointer, value]`), an optional
 * reference, the amount and the currency. One rule set, so a refusal reads the same everywhere.
 */
export function twoAccountMoveErrors(
  move: TwoAccountMove,
  accounts: readonly (readonly [pointer: string, value: unknown])[],
  idLengthMax: number,
): FieldError[] {
  const errors: FieldError[] = [];
  const text = (pointer: string, value: unknown, max: number) => {
    if (!isLedgerText(value, max))
      errors.push({ pointer, detail: `must be 1 to ${max} characters, without U+0000` });
  };
  text('/id', move.id, idLengthMax);
  for (const [pointer, value] of accounts) text(pointer, value, LEDGER_TEXT_LENGTH_MAX);
  if (move.reference !== undefined) text('/reference', move.reference, LEDGER_TEXT_LENGTH_MAX);
  if (!isLedgerAmount(move.amount)) errors.push({ pointer: '/amount', detail: AMOUNT_DETAIL });
  if (typeof move.currency !== 'string' || !CURRENCY.test(move.currency))
    errors.push({ pointer: '/currency', detail: 'must be an ISO 4217 alphabetic code' });
  return errors;
}

/** The field errors of a transfer or pending transfer (`at` is its pointer). */
function moveErrors(request: Record<string, unknown>, at: string, errors: FieldError[]): void {
  for (const field of ['debitAccountId', 'creditAccountId'] as const) {
    if (!isLedgerText(request[field]))
      errors.push({ pointer: `${at}/${field}`, detail: TEXT_DETAIL });
  }
  if (request.debitAccountId === request.creditAccountId && isLedgerText(request.debitAccountId))
    errors.push({ pointer: `${at}/creditAccountId`, detail: 'must differ from debitAccountId' });
  if (!isLedgerAmount(request.amount))
    errors.push({ pointer: `${at}/amount`, detail: AMOUNT_DETAIL });
  if (typeof request.currency !== 'string' || !CURRENCY.test(request.currency))
    errors.push({ pointer: `${at}/currency`, detail: 'must be an ISO 4217 alphabetic code' });
  const timeout = request.timeoutSeconds;
  if (request.kind === 'pending') {
    if (
      typeof timeout !== 'number' ||
      !Number.isSafeInteger(timeout) ||
      timeout < 1 ||
      timeout > LEDGER_TIMEOUT_SECONDS_MAX
    )
      errors.push({
        pointer: `${at}/timeoutSeconds`,
        detail: `must be an integer from 1 to ${LEDGER_TIMEOUT_SECONDS_MAX}`,
      });
  } else if (timeout !== undefined) {
    errors.push({ pointer: `${at}/timeoutSeconds`, detail: 'only a pending transfer times out' });
  }
}

/** The field errors of a post, void or expiry of a pending transfer. */
function settleErrors(request: Record<string, unknown>, at: string, errors: FieldError[]): void {
  if (!isLedgerText(request.pendingId))
    errors.push({ pointer: `${at}/pendingId`, detail: TEXT_DETAIL });
  if (request.kind === 'post') {
    if (request.amount !== undefined && !isLedgerAmount(request.amount))
      errors.push({ pointer: `${at}/amount`, detail: `${AMOUNT_DETAIL}, or absent for the whole` });
  } else if (request.amount !== undefined) {
    errors.push({ pointer: `${at}/amount`, detail: 'only a post takes an amount' });
  }
}

/** The field errors of one request, whatever its kind. */
function requestErrors(request: unknown, index: number, errors: FieldError[]): void {
  const at = `/requests/${index}`;
  if (typeof request !== 'object' || request === null) {
    errors.push({ pointer: at, detail: 'must be a ledger request' });
    return;
  }
  const fields = request as Record<string, unknown>;
  if (!isLedgerText(fields.id)) errors.push({ pointer: `${at}/id`, detail: TEXT_DETAIL });
  if (fields.reference !== undefined && !isLedgerText(fields.reference))
    errors.push({ pointer: `${at}/reference`, detail: `${TEXT_DETAIL}, or absent` });
  if (fields.linked !== undefined && typeof fields.linked !== 'boolean')
    errors.push({ pointer: `${at}/linked`, detail: 'must be a boolean' });
  if (fields.kind === 'transfer' || fields.kind === 'pending') moveErrors(fields, at, errors);
  else if (fields.kind === 'post' || fields.kind === 'void' || fields.kind === 'expire')
    settleErrors(fields, at, errors);
  else
    errors.push({
      pointer: `${at}/kind`,
      detail: `must be one of ${LEDGER_REQUEST_KINDS.join(', ')}`,
    });
}

/**
 * The errors of the call's shape: its length, its chains (each closed inside the call and
 * short enough for one batch), and every account of a transfer homed on the call's shard.
 */
function callErrors(
  requests: readonly LedgerRequest[],
  shardId: number,
  bounds: LedgerCallBounds,
  errors: FieldError[],
): void {
  let chainStart = 0;
  // An id names one request of a call: a copy inside a chain would be answered from the first
  // copy's outcome before the chain's failure undid it.
  const firstIndexOf = new Map<string, number>();
  requests.forEach((request, index) => {
    const first = firstIndexOf.get(request.id);
    if (first === undefined) firstIndexOf.set(request.id, index);
    else
      errors.push({
        pointer: `/requests/${index}/id`,
        detail: `repeats the id of request ${first}: a call names each request once`,
      });
    if (request.linked !== true) chainStart = index + 1;
    else if (index - chainStart + 1 === bounds.chainLengthMax)
      errors.push({
        pointer: `/requests/${index}/linked`,
        detail: `a linked chain holds at most ${bounds.chainLengthMax} requests (batchSizeMax)`,
      });
    if (request.kind !== 'transfer' && request.kind !== 'pending') return;
    for (const field of ['debitAccountId', 'creditAccountId'] as const) {
      const home = bounds.shardOf(request[field]);
      if (home !== shardId)
        errors.push({
          pointer: `/requests/${index}/${field}`,
          detail: `must be homed on the call's shard ${shardId} (a cross-shard transfer goes through the coordinator)`,
        });
    }
  });
  if (requests.at(-1)?.linked === true)
    errors.push({
      pointer: `/requests/${requests.length - 1}/linked`,
      detail: 'the last request of a call closes its chain: a chain never spans two calls',
    });
}

/** The call's shard and the key that names it, or `null` with the error said. */
function callShard(
  requests: readonly LedgerRequest[],
  shardKey: string | undefined,
  bounds: LedgerCallBounds,
  errors: FieldError[],
): { readonly shardId: number; readonly shardKey: string } | null {
  const first = requests[0];
  const key =
    shardKey ??
    (first?.kind === 'transfer' || first?.kind === 'pending' ? first.debitAccountId : undefined);
  const shardId = key === undefined ? null : bounds.shardOf(key);
  if (key !== undefined && shardId !== null) return { shardId, shardKey: key };
  errors.push({
    pointer: '/shardKey',
    detail:
      key === undefined
        ? 'a call that starts with a post, void or expiry names its shard key'
        : 'names no shard of the map',
  });
  return null;
}

/**
 * Checks a call to the ledger engine once, at its edge, and returns the shard it goes to and the
 * key that names it (`shardKey`, else the first request's debit account): every request well
 * formed (positive amounts within int8, ids of 1 to 255 characters without U+0000, ISO 4217
 * currencies, a positive timeout for a pending transfer, two different accounts), its chains
 * closed and bounded, its accounts on one shard. A bad call is refused whole with
 * `invalid_request` and a pointer per field (`/requests/3/amount`, `/shardKey`); nothing of it
 * reaches SQL.
 */
export function checkLedgerCall(
  requests: readonly unknown[],
  shardKey: string | undefined,
  bounds: LedgerCallBounds,
): { readonly shardId: number; readonly shardKey: string } {
  const errors: FieldError[] = [];
  if (requests.length > bounds.callLengthMax) {
    errors.push({
      pointer: '/requests',
      detail: `a call holds at most ${bounds.callLengthMax} requests (queueDepthMax)`,
    });
  } else {
    requests.forEach((request, index) => {
      requestErrors(request, index, errors);
    });
  }
  let call: { readonly shardId: number; readonly shardKey: string } | null = null;
  if (errors.length === 0) {
    const valid = requests as readonly LedgerRequest[];
    call = callShard(valid, shardKey, bounds, errors);
    if (call !== null) callErrors(valid, call.shardId, bounds, errors);
  }
  if (errors.length > 0 || call === null) {
    const listed = errors.length > FIELD_ERRORS_MAX ? `, the first ${FIELD_ERRORS_MAX} listed` : '';
    throw new MainstayError(
      'invalid_request',
      `the ledger call is malformed (${errors.length} field errors${listed}); nothing of it was applied`,
      { errors: errors.slice(0, FIELD_ERRORS_MAX) },
    );
  }
  return call;
}
