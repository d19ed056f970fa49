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
}

/** Verifies bearer credentials; the identity module provides one. */
export interface AccessControl {
  /** The credential's principal; throws `invalid_token` for anything it cannot vouch for. */
  authenticate(credential: string): Promise<Principal>;
}
