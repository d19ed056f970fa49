import { type FieldError, MainstayError } from '../../errors/mainstay-error.ts';
import { FRAME_HEADER_BYTES } from './spool-frame.ts';

/** The longest entry id (an idempotency key chosen by the caller), in UTF-16 code units. */
export const ENTRY_ID_LENGTH_MAX = 255;

/** The longest entry kind, in UTF-16 code units. */
export const ENTRY_KIND_LENGTH_MAX = 255;

/**
 * What a caller asks the spool to record: an operation decided without its shard's database.
 * `id` is the operation's idempotency key; the replay's `apply` must use it, so that applying an
 * entry twice (the spool delivers at least once) changes nothing the second time. `payload` must
 * be JSON: encode money (`bigint` minor units) as a decimal string.
 */
export interface SpoolEntryInput {
  readonly id: string;
  readonly shardId: number;
  readonly kind: string;
  readonly payload: unknown;
}

/**
 * A recorded entry, as it is on disk: the input after a JSON round trip, plus when the spool
 * recorded it (ISO 8601, UTC). An entry read back after a reopen deep-equals the one `append`
 * returned.
 */
export interface SpoolEntry extends SpoolEntryInput {
  readonly recordedAt: string;
}

/** An entry checked and serialised, ready to become a frame. */
export interface PreparedEntry {
  readonly entry: SpoolEntry;
  readonly bytes: Buffer;
}

function fieldErrors(value: unknown): FieldError[] {
  if (typeof value !== 'object' || value === null) {
    return [{ pointer: '', detail: 'must be an object' }];
  }
  const { id, shardId, kind, payload } = value as Record<string, unknown>;
  const errors: FieldError[] = [];
  if (typeof id !== 'string' || id.length === 0 || id.length > ENTRY_ID_LENGTH_MAX) {
    errors.push({
      pointer: '/id',
      detail: `must be a string of 1 to ${ENTRY_ID_LENGTH_MAX} chars`,
    });
  }
  if (typeof shardId !== 'number' || !Number.isSafeInteger(shardId) || shardId < 0) {
    errors.push({ pointer: '/shardId', detail: 'must be a non-negative safe integer' });
  }
  if (typeof kind !== 'string' || kind.length === 0 || kind.length > ENTRY_KIND_LENGTH_MAX) {
    errors.push({
      pointer: '/kind',
      detail: `must be a string of 1 to ${ENTRY_KIND_LENGTH_MAX} chars`,
    });
  }
  if (payload === undefined) errors.push({ pointer: '/payload', detail: 'must be a JSON value' });
  return errors;
}

function rejected(errors: readonly FieldError[]): MainstayError {
  const details = errors.map((error) => `${error.pointer || '/'} ${error.detail}`).join('; ');
  return new MainstayError('invalid_request', `bypass spool entry rejected: ${details}`, {
    errors,
  });
}

/**
 * Checks an entry and serialises it, stamping `recordedAt`. Throws `invalid_request` (with one
 * field error per problem) for a bad field, a payload that is not JSON (a `bigint`, a cycle), or
 * a serialised record above `recordBytesMax`.
 */
export function prepareEntry(input: SpoolEntryInput, recordBytesMax: number): PreparedEntry {
  const errors = fieldErrors(input);
  if (errors.length > 0) throw rejected(errors);
  const record = { ...pick(input), recordedAt: new Date().toISOString() };
  let json: string;
  try {
    json = JSON.stringify(record);
  } catch (error) {
    const detail = `must be JSON-serialisable (${error instanceof Error ? error.message : error})`;
    throw rejected([{ pointer: '/payload', detail }]);
  }
  const bytes = Buffer.from(json, 'utf8');
  if (bytes.length > recordBytesMax) {
    const detail = `the record is ${bytes.length} bytes serialised, above ${recordBytesMax}`;
    throw rejected([{ pointer: '/payload', detail }]);
  }
  return { entry: Object.freeze(JSON.parse(json) as SpoolEntry), bytes };
}

function pick(input: SpoolEntryInput): SpoolEntryInput {
  return { id: input.id, shardId: input.shardId, kind: input.kind, payload: input.payload };
}

/** The payload of an entry frame for an entry already recorded (used by compaction). */
export function encodeEntry(entry: SpoolEntry): Buffer {
  return Buffer.from(JSON.stringify(entry), 'utf8');
}

/** Reads an entry frame's payload; throws an `Error` saying what is wrong with it. */
export function decodeEntry(payload: Buffer): SpoolEntry {
  const value: unknown = JSON.parse(payload.toString('utf8'));
  const errors = fieldErrors(value);
  const recordedAt = (value as { recordedAt?: unknown } | null)?.recordedAt;
  if (typeof recordedAt !== 'string') errors.push({ pointer: '/recordedAt', detail: 'missing' });
  if (errors.length > 0) throw new Error(`bad entry record: ${rejected(errors).message}`);
  return Object.freeze(value as SpoolEntry);
}

/** The payload of an ack frame. */
export function encodeAck(id: string): Buffer {
  return Buffer.from(JSON.stringify({ id }), 'utf8');
}

/** Reads an ack frame's payload; throws an `Error` saying what is wrong with it. */
export function decodeAck(payload: Buffer): string {
  const value: unknown = JSON.parse(payload.toString('utf8'));
  const id = (value as { id?: unknown } | null)?.id;
  if (typeof id !== 'string' || id.length === 0) throw new Error('bad ack record: no id');
  return id;
}

/**
 * The size on disk of the ack frame for `id`. The spool reserves it when it accepts an entry,
 * so that replay can always write its acks, even into a spool that is full.
 */
export function ackFrameBytes(id: string): number {
  return FRAME_HEADER_BYTES + Buffer.byteLength(JSON.stringify({ id }), 'utf8');
}
