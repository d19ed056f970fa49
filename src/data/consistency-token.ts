import { createHmac, timingSafeEqual } from 'node:crypto';
import { MainstayError } from '../errors/mainstay-error.ts';
import { formatLsn, parseLsn } from './lsn.ts';

/** HTTP header that carries a token on write responses and read requests. */
export const CONSISTENCY_TOKEN_HEADER = 'Mainstay-Consistency-Token';
/** Message-header key for the same token (Kafka, AMQP, ... headers are lower case by habit). */
export const CONSISTENCY_TOKEN_MESSAGE_HEADER = 'mainstay-consistency-token';

const PREFIX = 'mst1';
export const TOKEN_LENGTH_MAX = 4096;
export const TOKEN_SHARD_COUNT_MAX = 1024;
const MAC_BYTES = 16;

/**
 * What a client has written: for each shard, the WAL position just past its last commit there,
 * and the catalog epoch it was written under. A read that presents the token is served only by
 * a server that has replayed that far. Tokens are signed with the fleet's secret (HMAC-SHA256,
 * truncated to 128 bits), so a client cannot forge one that sends reads to a stale replica, and
 * opaque: `mst1.<payload>.<mac>`, base64url.
 */
export class ConsistencyToken {
  readonly epoch: number;
  readonly #positions: ReadonlyMap<number, bigint>;

  constructor(epoch: number, positions: ReadonlyMap<number, bigint> = new Map()) {
    this.epoch = epoch;
    this.#positions = positions;
  }

  /** The position written on a shard, if any. */
  positionFor(shardId: number): bigint | null {
    return this.#positions.get(shardId) ?? null;
  }

  get shards(): readonly number[] {
    return [...this.#positions.keys()];
  }

  /** This token plus one more write. */
  with(shardId: number, lsn: bigint, epoch: number): ConsistencyToken {
    return this.merge(new ConsistencyToken(epoch, new Map([[shardId, lsn]])));
  }

  /** The union of two tokens: the later position per shard, the later epoch. */
  merge(other: ConsistencyToken): ConsistencyToken {
    const positions = new Map(this.#positions);
    for (const [shard, lsn] of other.#positions) {
      const mine = positions.get(shard);
      if (mine === undefined || lsn > mine) positions.set(shard, lsn);
    }
    return new ConsistencyToken(Math.max(this.epoch, other.epoch), positions);
  }

  /** The opaque string form, signed with `secret`. */
  encode(secret: string): string {
    const entries = [...this.#positions].sort(([a], [b]) => a - b);
    const body = `${this.epoch};${entries.map(([shard, lsn]) => `${shard}:${formatLsn(lsn)}`).join(',')}`;
    const payload = Buffer.from(body, 'utf8').toString('base64url');
    return `${PREFIX}.${payload}.${mac(secret, payload).toString('base64url')}`;
  }

  /**
   * Parses and verifies a token. Throws `consistency_token_invalid` for anything malformed,
   * oversized or not signed by `secret`.
   */
  static decode(text: string, secret: string): ConsistencyToken {
    const invalid = (why: string) =>
      new MainstayError('consistency_token_invalid', `consistency token ${why}`);
    if (typeof text !== 'string' || text.length > TOKEN_LENGTH_MAX) throw invalid('is too long');
    const parts = text.split('.');
    if (parts.length !== 3 || parts[0] !== PREFIX || !parts[1] || !parts[2])
      throw invalid('is malformed');
    const [, payload, signature] = parts as [string, string, string];
    const expected = mac(secret, payload);
    const given = Buffer.from(signature, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw invalid('has a bad signature (forged, altered, or from another fleet)');
    }
    const body = Buffer.from(payload, 'base64url').toString('utf8');
    const match = /^(\d{1,15});(.*)$/.exec(body);
    if (!match?.[1]) throw invalid('is malformed');
    const positions = new Map<number, bigint>();
    const list = match[2] ? match[2].split(',') : [];
    if (list.length > TOKEN_SHARD_COUNT_MAX) throw invalid('names too many shards');
    for (const item of list) {
      const [shardText, lsnText] = item.split(':');
      const lsn = lsnText === undefined ? null : parseLsn(lsnText);
      if (!shardText || !/^\d{1,6}$/.test(shardText) || lsn === null) throw invalid('is malformed');
      positions.set(Number(shardText), lsn);
    }
    return new ConsistencyToken(Number(match[1]), positions);
  }
}

function mac(secret: string, payload: string): Buffer {
  return createHmac('sha256', secret).update(payload).digest().subarray(0, MAC_BYTES);
}

/** Puts a token into message headers (for a queue or a bus), merging with one already there. */
export function putTokenInHeaders(
  headers: Record<string, string>,
  token: ConsistencyToken,
  secret: string,
): Record<string, string> {
  const existing = headers[CONSISTENCY_TOKEN_MESSAGE_HEADER];
  const merged = existing ? ConsistencyToken.decode(existing, secret).merge(token) : token;
  return { ...headers, [CONSISTENCY_TOKEN_MESSAGE_HEADER]: merged.encode(secret) };
}

/** Reads a token from message headers, or `null` when there is none. */
export function tokenFromHeaders(
  headers: Readonly<Record<string, string | undefined>>,
  secret: string,
) {
  const text = headers[CONSISTENCY_TOKEN_MESSAGE_HEADER];
  return text ? ConsistencyToken.decode(text, secret) : null;
}
