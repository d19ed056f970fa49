import { formatLsn } from '../postgres/lsn.ts';
import type { ConsistencyToken } from './consistency-token.ts';
import type { TokenText } from './write-contract.ts';

/** What a write returns: the work's value and a token that makes later reads see it. */
export interface WriteResult<T> {
  readonly value: T;
  readonly shardId: number;
  /** WAL position just past the commit, in PostgreSQL's text form. */
  readonly lsn: string;
  /**
   * The caller's token (if given) merged with this write, signed: send it with later reads, in
   * an HTTP header or a message. Signed when first read, so a write whose token stays in the
   * process (or is not needed) does not pay for the MAC.
   */
  readonly token: TokenText;
  /** The same token, decoded: pass it to reads in this process without signing it. */
  readonly consistency: ConsistencyToken;
}

/** A write's result; its token string is signed on first use (see {@link WriteResult.token}). */
export class Written<T> implements WriteResult<T> {
  readonly value: T;
  readonly shardId: number;
  readonly consistency: ConsistencyToken;
  readonly #lsn: bigint;
  readonly #sign: (token: ConsistencyToken) => TokenText;
  #token: TokenText | null = null;

  constructor(
    value: T,
    shardId: number,
    lsn: bigint,
    consistency: ConsistencyToken,
    sign: (token: ConsistencyToken) => TokenText,
  ) {
    this.value = value;
    this.shardId = shardId;
    this.#lsn = lsn;
    this.consistency = consistency;
    this.#sign = sign;
  }

  get lsn(): string {
    return formatLsn(this.#lsn);
  }

  get token(): TokenText {
    this.#token ??= this.#sign(this.consistency);
    return this.#token;
  }

  /** Plain data (`JSON.stringify`, logs): the getters' values, the decoded token left out. */
  toJSON(): { value: T; shardId: number; lsn: string; token: TokenText } {
    return { value: this.value, shardId: this.shardId, lsn: this.lsn, token: this.token };
  }
}
