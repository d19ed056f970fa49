/**
 * What a public identity call (a login, a registration, a code check) learned about the account
 * it names, for the audit trail only: the HTTP answer never depends on it. A service fills it in
 * as it goes, with what it has at hand anyway, so filling it in costs no read and no time.
 */
export interface AccountTrace {
  /** The account's id (`stf_...`, `cus_...`) once found; absent for an unknown account. */
  account?: string;
  /** Why the call failed, once the service knows: `unknown_account`, `wrong_password`, ... */
  reason?: string;
  /** What a registration sent: `code` or `notice` (the phone was confirmed already). */
  sent?: 'code' | 'notice';
}
