/**
 * Who a request acts for, and the port that proves it: the vocabulary every layer shares (the
 * HTTP layer checks it, the identity domain provides it, approvals compare it), with no code.
 */

/** Who a request acts for, as its credential proved. */
export interface Principal {
  /** How the credential was issued: an access token, an API key, a staff or customer session. */
  readonly kind: 'access_token' | 'api_key' | 'staff' | 'customer';
  /**
   * Who acts: the client id (access token), key id (API key), staff id or customer id (a
   * session). What the audit trail records, and what maker-checker compares.
   */
  readonly subject: string;
  readonly scopes: ReadonlySet<string>;
  /** A staff member's roles; empty for every other kind. */
  readonly roles: ReadonlySet<string>;
  /** The session the request came with (staff and customers), so it can be ended. */
  readonly sessionId?: string;
  /**
   * The ids a confined principal owns (a customer's session: its own id and its payment
   * user's). It reaches a route with path parameters only when the first one names an id it
   * owns, and a route without any only when every scope the route needs ends in `:self`; ids
   * below the first (a card of that user) are the owning service's to check.
   */
  readonly owns?: ReadonlySet<string>;
  /** The refusal for lacking `missing` scopes when the issuer can say why (a KYC level too low). */
  readonly refusal?: (missing: readonly string[]) => Error | null;
}

/** Verifies bearer credentials; the identity module provides one. */
export interface AccessControl {
  /** The credential's principal; throws `invalid_token` for anything it cannot vouch for. */
  authenticate(credential: string): Promise<Principal>;
}
