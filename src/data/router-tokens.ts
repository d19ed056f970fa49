import type { PurposeKeys } from '../secrets/secrets-port.ts';
import { ConsistencyToken, putTokenInHeaders, tokenFromHeaders } from './consistency-token.ts';
import type { TokenText } from './write-contract.ts';

/** Verified tokens kept for reuse (the cache is emptied when full). */
const VERIFIED_TOKEN_COUNT_MAX = 4_096;

/**
 * A router's consistency tokens: signed with the current key of the `consistency-token`
 * purpose, verified against every key the secrets port still accepts, and remembered once
 * verified (a decoded token is immutable).
 */
export class RouterTokens {
  readonly #signingKey: Buffer;
  readonly #acceptedKeys: readonly Buffer[];
  readonly #verified = new Map<string, ConsistencyToken>();

  constructor(keys: PurposeKeys) {
    this.#signingKey = keys.current.key;
    this.#acceptedKeys = keys.accepted.map((accepted) => accepted.key);
  }

  /** The signed text of `token`. */
  readonly sign = (token: ConsistencyToken): TokenText => token.encode(this.#signingKey);

  /** Decodes and verifies a token string (throws `consistency_token_invalid`). */
  decode(text: string): ConsistencyToken {
    // A client sends the same token with many reads; verifying its MAC each time is the
    // largest per-read cost, and a decoded token is immutable, so verified ones are kept.
    const cached = this.#verified.get(text);
    if (cached) return cached;
    const token = ConsistencyToken.decode(text, this.#acceptedKeys);
    if (this.#verified.size >= VERIFIED_TOKEN_COUNT_MAX) this.#verified.clear();
    this.#verified.set(text, token);
    return token;
  }

  /** A token given as text (verified) or already decoded. */
  decoded(token: string | ConsistencyToken): ConsistencyToken {
    return typeof token === 'string' ? this.decode(token) : token;
  }

  /** Puts `token` into message headers, merged with a (verified) token already there. */
  toHeaders(headers: Record<string, string>, token: string | ConsistencyToken) {
    return putTokenInHeaders(headers, this.decoded(token), this.#signingKey, this.#acceptedKeys);
  }

  /** The token carried in message headers (verified), or `null` when there is none. */
  fromHeaders(headers: Readonly<Record<string, string | undefined>>): ConsistencyToken | null {
    return tokenFromHeaders(headers, this.#acceptedKeys);
  }

  /** `tokens` merged into one token at `epoch` or later, signed. */
  merge(epoch: number, tokens: readonly (string | ConsistencyToken | null | undefined)[]) {
    let merged = new ConsistencyToken(epoch);
    for (const token of tokens) if (token) merged = merged.merge(this.decoded(token));
    return this.sign(merged);
  }
}
