/**
 * The one place an audit entry's hash is computed, for appending and for verifying alike. It
 * runs in the API process, not in SQL: a superuser could replace a function in the database so
 * that it vouches for a rewritten row, but not the verifier's own code.
 *
 * The encoding is unambiguous: a version tag, then every field as a 4-byte big-endian length and
 * its UTF-8 bytes (`0xFFFFFFFF` and no bytes for null), in a fixed order. No two different
 * entries encode to the same bytes, so no field's text can be shifted into another's.
 */
import { createHash } from 'node:crypto';
import {
  AUDIT_DETAIL_KEY_COUNT_MAX,
  AUDIT_TEXT_LENGTH_MAX,
  type AuditRecord,
} from './audit-entry.ts';

/** The `prev_hash` of a chain's first entry. */
export const GENESIS_HASH: Buffer = Buffer.alloc(32);

/** Names the encoding; a new encoding gets a new tag, and entries keep the one they were made with. */
const ENCODING_TAG = 'mainstay.audit.v1';
const NULL_LENGTH = 0xffff_ffff;

/** The fields an entry's hash covers, as stored and as read back. */
export interface HashedFields {
  readonly seq: bigint;
  readonly id: string;
  /** {@link atText} of the entry's time. */
  readonly at: string;
  readonly actorKind: string;
  readonly actor: string;
  readonly action: string;
  readonly target: string | null;
  readonly sourceIp: string | null;
  readonly outcome: number;
  readonly requestId: string | null;
  /** As stored (jsonb): any JSON value, so that a rewritten one still hashes (differently). */
  readonly detail: unknown;
}

/** SHA-256 over `prevHash` and every field of the entry, in the encoding described above. */
export function entryHash(prevHash: Uint8Array, fields: HashedFields): Buffer {
  const hash = createHash('sha256');
  const part = (bytes: Uint8Array | null) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes === null ? NULL_LENGTH : bytes.length);
    hash.update(length);
    if (bytes !== null) hash.update(bytes);
  };
  const text = (value: string | null) => part(value === null ? null : Buffer.from(value, 'utf8'));
  const seq = Buffer.alloc(8);
  seq.writeBigUInt64BE(fields.seq);
  text(ENCODING_TAG);
  part(prevHash);
  part(seq);
  text(fields.id);
  text(fields.at);
  text(fields.actorKind);
  text(fields.actor);
  text(fields.action);
  text(fields.target);
  text(fields.sourceIp);
  text(String(fields.outcome));
  text(fields.requestId);
  text(fields.detail === null || fields.detail === undefined ? null : stableJson(fields.detail));
  return hash.digest();
}

/**
 * An instant as the hash covers it and as SQL reads it back
 * (`to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`): UTC, microseconds.
 */
export function atText(at: Date): string {
  return `${at.toISOString().slice(0, 23)}000Z`;
}

/** JSON with object keys sorted, so that jsonb's own key order does not change the text. */
function stableJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0,
  );
  return `{${entries.map(([key, field]) => `${JSON.stringify(key)}:${stableJson(field)}`).join(',')}}`;
}

/** A record whose every field PostgreSQL stores exactly as the hash covers it. */
export interface NormalizedRecord {
  readonly at: string;
  readonly actorKind: string;
  readonly actor: string;
  readonly action: string;
  readonly target: string | null;
  readonly sourceIp: string | null;
  readonly outcome: number;
  readonly requestId: string | null;
  readonly detail: Readonly<Record<string, string>> | null;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Text PostgreSQL stores unchanged, cut to `lengthMax`: U+0000 (which text and jsonb refuse) and
 * lone surrogates (which UTF-8 cannot carry) become U+FFFD, so no entry can fail its batch.
 */
function storable(value: string, lengthMax: number): string {
  return value.slice(0, lengthMax).replaceAll('\u0000', '\uFFFD').replace(LONE_SURROGATE, '\uFFFD');
}

const optional = (value: string | null, lengthMax: number) =>
  value === null ? null : storable(value, lengthMax);

/**
 * Checks a record and makes it storable: text cut to its bound (`AUDIT_TEXT_LENGTH_MAX`) and
 * cleaned (see `storable`). Throws `RangeError` for what is a caller's bug: no actor or action,
 * an outcome that is not an integer, a time outside years 1970-9999, too many detail keys.
 */
export function normalizeRecord(record: AuditRecord, now: Date): NormalizedRecord {
  const max = AUDIT_TEXT_LENGTH_MAX;
  const at = record.at ?? now;
  const year = at.getUTCFullYear();
  if (!(year >= 1970 && year <= 9999)) throw new RangeError(`audit time ${String(at)} is invalid`);
  if (record.actor.length === 0) throw new RangeError('an audit record needs an actor');
  if (record.action.length === 0) throw new RangeError('an audit record needs an action');
  if (!Number.isInteger(record.outcome) || Math.abs(record.outcome) > 2 ** 31 - 1)
    throw new RangeError(`audit outcome ${record.outcome} is not a 32-bit integer`);
  const detailEntries = record.detail === null ? null : Object.entries(record.detail);
  if (detailEntries !== null && detailEntries.length > AUDIT_DETAIL_KEY_COUNT_MAX)
    throw new RangeError(`audit detail has over ${AUDIT_DETAIL_KEY_COUNT_MAX} keys`);
  return {
    at: atText(at),
    actorKind: storable(record.actorKind, max.actorKind),
    actor: storable(record.actor, max.actor),
    action: storable(record.action, max.action),
    target: optional(record.target, max.target),
    sourceIp: optional(record.sourceIp, max.sourceIp),
    outcome: record.outcome,
    requestId: optional(record.requestId, max.requestId),
    detail:
      detailEntries === null
        ? null
        : Object.fromEntries(
            detailEntries.map(([key, value]) => [
              storable(key, max.detailKey),
              storable(String(value), max.detailValue),
            ]),
          ),
  };
}
