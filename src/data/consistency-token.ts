import { createHmac, timingSafeEqual } from 'node:crypto';
import { MainstayError } from '../errors/mainstay-error.ts';
import { formatLsn, parseLsn } from '../postgres/lsn.ts';
import type { TokenText } from './write-contract.ts';

/** HTTP header that carries a token on write responses and read requests. */
export const CONSISTENCY_TOKEN_HEADER = 'Mainstay-Consistency-Token';
/** Message-header key for the same token (Kafka, AMQP, ... headers are lower case by habit). */
export const CONSISTENCY_TOKEN_MESSAGE_HEADER = 'mainstay-consistency-token';

const PREFIX = 'mst1';
export const TOKEN_LENGTH_MAX = 4096;
export const TOKEN_SHARD_COUNT_MAX = 1024;
const MAC_BYTES = 16;

/**
 * A key tokens are signed or verified with: a secret's text or its bytes. A router signs with
 * the key its secrets port gives the `consistency-token` purpose.
 */
export type TokenKey = string | Buffer;

/** The keys a token may be signed with: one, or the current key and older ones still accepted. */
export type TokenKeys = TokenKey | readonly TokenKey[];

/** A write position on one shard, and the catalog epoch it was written under. */
export interface ShardPosition {
  readonly lsn: bigint;
  readonly epoch: number;
}

/**
 * What a client has written: for each shard, the WAL position just past its last commit there
 * and the catalog epoch of that write. A read that presents the token is served only by a
 * server that has replayed that far; a position from before the shard's home moved to another
 * WAL lineage is refused rather than compared. Tokens are signed with the fleet's token key
 * (HMAC-SHA256, truncated to 128 bits), so a client cannot forge one that sends reads to a
 * stale replica, and opaque: `mst1.<payload>.<mac>`, base64url.
 */
export class ConsistencyToken {
  /** The latest epoch among the positions (or the one given): a router behind it reloads. */
  readonly epoch: number;
  readonly #positions: ReadonlyMap<number, ShardPosition>;

  constructor(epoch: number, positions: ReadonlyMap<number, ShardPosition> = new Map()) {
    let latest = epoch;
    for (const position of positions.values()) latest = Math.max(latest, position.epoch);
    this.epoch = latest;
    this.#positions = positions;
  }

  /** The position written on a shard, if any. */
  positionFor(shardId: number): bigint | null {
    return this.#positions.get(shardId)?.lsn ?? null;
  }

  /** The epoch under which the shard's position was written, if any. */
  epochFor(shardId: number): number | null {
    return this.#positions.get(shardId)?.epoch ?? null;
  }

  get shards(): readonly number[] {
    return [...this.#positions.keys()];
  }

  /** This token plus one more write. */
  with(shardId: number, lsn: bigint, epoch: number): ConsistencyToken {
    // merge() with a one-shard token, without building that token (this runs on every write).
    const mine = this.#positions.get(shardId);
    if (mine && (mine.epoch > epoch || (mine.epoch === epoch && mine.lsn >= lsn))) {
      return epoch > this.epoch ? new ConsistencyToken(epoch, this.#positions) : this;
    }
    const positions = new Map(this.#positions);
    positions.set(shardId, { lsn, epoch });
    return new ConsistencyToken(Math.max(this.epoch, epoch), positions);
  }

  /**
   * The union of two tokens, per shard: the position from the later epoch (a newer lineage
   * supersedes an older one), and within one epoch the later position.
   */
  merge(other: ConsistencyToken): ConsistencyToken {
    const positions = new Map(this.#positions);
    for (const [shard, theirs] of other.#positions) {
      const mine = positions.get(shard);
      const newer =
        !mine ||
        theirs.epoch > mine.epoch ||
        (theirs.epoch === mine.epoch && theirs.lsn > mine.lsn);
      if (newer) positions.set(shard, theirs);
    }
    return new ConsistencyToken(Math.max(this.epoch, other.epoch), positions);
  }

  /** The opaque string form, signed with `key`. */
  encode(key: TokenKey): TokenText {
    const entries = [...this.#positions].sort(([a], [b]) => a - b);
    const list = entries.map(([shard, { lsn, epoch }]) => `${shard}:${formatLsn(lsn)}:${epoch}`);
    const payload = Buffer.from(`${this.epoch};${list.join(',')}`, 'utf8').toString('base64url');
    return `${PREFIX}.${payload}.${mac(key, payload).toString('base64url')}` as TokenText;
  }

  /**
   * Parses and verifies a token. Throws `consistency_token_invalid` for anything malformed,
   * oversized or not signed by one of `keys`.
   */
  static decode(text: string, keys: TokenKeys): ConsistencyToken {
    const invalid = (why: string) =>
      new MainstayError('consistency_token_invalid', `consistency token ${why}`);
    if (typeof text !== 'string' || text.length > TOKEN_LENGTH_MAX) throw invalid('is too long');
    const parts = text.split('.');
    if (parts.length !== 3 || parts[0] !== PREFIX || !parts[1] || !parts[2])
      throw invalid('is malformed');
    const [, payload, signature] = parts as [string, string, string];
    if (!signedByOneOf(keys, payload, Buffer.from(signature, 'base64url'))) {
      throw invalid('has a bad signature (forged, altered, or from another fleet)');
    }
    const body = Buffer.from(payload, 'base64url').toString('utf8');
    const match = /^(\d{1,15});(.*)$/.exec(body);
    if (!match?.[1]) throw invalid('is malformed');
    const positions = new Map<number, ShardPosition>();
    const list = match[2] ? match[2].split(',') : [];
    if (list.length > TOKEN_SHARD_COUNT_MAX) throw invalid('names too many shards');
    for (const item of list) {
      const [shardText, lsnText, epochText] = item.split(':');
      const lsn = lsnText === undefined ? null : parseLsn(lsnText);
      if (
        !shardText ||
        !/^\d{1,6}$/.test(shardText) ||
        lsn === null ||
        !epochText ||
        !/^\d{1,15}$/.test(epochText)
      ) {
        throw invalid('is malformed');
      }
      positions.set(Number(shardText), { lsn, epoch: Number(epochText) });
    }
    return new ConsistencyToken(Number(match[1]), positions);
  }
}

function mac(key: TokenKey, payload: string): Buffer {
  return createHmac('sha256', key).update(payload).digest().subarray(0, MAC_BYTES);
}

/** Whether `given` is the MAC of `payload` under one of `keys` (each compared in constant time). */
function signedByOneOf(keys: TokenKeys, payload: string, given: Buffer): boolean {
  if (given.length !== MAC_BYTES) return false;
  const list: readonly TokenKey[] =
    typeof keys === 'string' || Buffer.isBuffer(keys) ? [keys] : keys;
  // The current key first: a token it signed costs one MAC, as before keys could rotate.
  for (const key of list) if (timingSafeEqual(given, mac(key, payload))) return true;
  return false;
}

/**
 * Puts a token into message headers (for a queue or a bus), merging with one already there,
 * which must be signed by one of `accepted` (by default `key` alone). Signs with `key`.
 */
export function putTokenInHeaders(
  headers: Record<string, string>,
  token: ConsistencyToken,
  key: TokenKey,
  accepted: TokenKeys = key,
): Record<string, string> {
  const existing = headers[CONSISTENCY_TOKEN_MESSAGE_HEADER];
  const merged = existing ? ConsistencyToken.decode(existing, accepted).merge(token) : token;
  return { ...headers, [CONSISTENCY_TOKEN_MESSAGE_HEADER]: merged.encode(key) };
}

/** Reads a token from message headers, or `null` when there is none. */
export function tokenFromHeaders(
  headers: Readonly<Record<string, string | undefined>>,
  keys: TokenKeys,
) {
  const text = headers[CONSISTENCY_TOKEN_MESSAGE_HEADER];
  return text ? ConsistencyToken.decode(text, keys) : null;
}
