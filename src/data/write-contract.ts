/**
 * The one write contract every Mainstay service follows, whatever its domain: a write takes a
 * {@link WriteContext} (the client's idempotency key and, when it has one, its consistency token)
 * and answers a {@link WriteAnswer} whose token covers the caller's earlier writes and this one,
 * so a client that chains writes and then reads, through any API process, sees all of them.
 * Lists answer a {@link Page}.
 */

declare const tokenBrand: unique symbol;

/**
 * A signed consistency token as a client carries it (`Mainstay-Consistency-Token`). Branded so
 * that an arbitrary string is not passed where a token the router signed is meant; a token that
 * arrives from outside is verified by the router before it is used.
 */
export type TokenText = string & { readonly [tokenBrand]: 'consistency-token' };

/** What a write is given beside its own fields. */
export interface WriteContext {
  /** The client-chosen key: a retry with it answers the first outcome, never a second write. */
  readonly idempotencyKey: string;
  /** The caller's consistency token from earlier writes, merged into the one the write returns. */
  readonly token?: string | null;
}

/** What every write answers. */
export interface WriteAnswer<T> {
  readonly value: T;
  /**
   * Send it with later reads to see this write and the caller's earlier ones: the caller's token
   * merged with this write's commit. `null` only when nothing was written and the caller sent no
   * token (a decline decided without touching the books).
   */
  readonly token: TokenText | null;
  /** `true` when this is the stored answer to an earlier request with the same key. */
  readonly replayed: boolean;
}

/** A page of a list, newest first, in the shape every Mainstay list uses. */
export interface Page<T> {
  readonly data: readonly T[];
  readonly hasMore: boolean;
  /** Pass it as `startingAfter` for the next page; `null` on the last page. */
  readonly nextCursor: string | null;
}

/** Whatever can merge tokens: the router (`Router.mergeTokens`). */
export interface TokenMerger {
  mergeTokens(...tokens: (string | null | undefined)[]): TokenText;
}

/**
 * `answer` with the caller's token merged into its own: how a write whose commit token comes from
 * elsewhere (a batch, a lane) keeps the contract. Without a caller token, `answer` as it is.
 */
export function withCallerToken<T>(
  merger: TokenMerger,
  answer: WriteAnswer<T>,
  callerToken: string | null | undefined,
): WriteAnswer<T> {
  if (!callerToken) return answer;
  return { ...answer, token: merger.mergeTokens(callerToken, answer.token) };
}
