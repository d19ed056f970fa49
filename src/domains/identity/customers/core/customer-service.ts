/**
 * Customers: registration by phone and password, the phone confirmed by a one-time code, login.
 * A customer lives on the shard of `customer:<phone>` (its id is minted in that bucket), so
 * registration, confirmation and login are each one keyed read or write there.
 *
 * Nothing tells an outsider whether a phone is registered: registering answers the same `202`
 * whether the phone is new or known (a known, confirmed phone gets a notice instead of a code);
 * a code is judged the same for an unknown phone and a wrong code, and only a caller holding the
 * right code learns that it expired, was used, or was voided by wrong tries; every login failure
 * is the same `login_failed`, after the same argon2 work.
 */
import { randomInt, timingSafeEqual } from 'node:crypto';
import { hash, verify } from '@node-rs/argon2';
import { newEntityId } from '../../../../data/entity-id.ts';
import { fingerprintOf, onceInTransaction } from '../../../../data/idempotency.ts';
import type { Router } from '../../../../data/router.ts';
import type { WriteAnswer, WriteContext } from '../../../../data/write-contract.ts';
import type { MainstayError } from '../../../../errors/mainstay-error.ts';
import type { SecretsPort } from '../../../../secrets/secrets-port.ts';
import type { AccountTrace } from '../../core/login-trace.ts';
import type { SessionService } from '../../core/sessions/session-service.ts';
import { checkPassword, PASSWORD_HASH_OPTIONS } from '../../core/staff/passwords.ts';
import { LOCKOUT_FAILURES, LOCKOUT_MINUTES } from '../../core/staff/staff-service.ts';
import { identityError } from '../../errors.ts';
import {
  bucketOfPhone,
  CUSTOMER_ID_TYPE,
  type CustomerRow,
  countCodeAttempt,
  insertCustomer,
  insertPhoneCode,
  type PhoneCodeRow,
  phoneRoutingKey,
  selectCustomer,
  selectCustomerByPhone,
  selectLatestCode,
  updateCustomer,
} from '../store/customer-store.ts';
import { checkPhone } from './customer-input.ts';
import { CustomerKeys, lookupUnder } from './customer-keys.ts';
import { type CustomerRecord, recordOf } from './customer-record.ts';
import { maskPhone } from './masking.ts';
import type { MessageProvider } from './providers.ts';

/** A one-time code: 6 digits, valid 5 minutes, void after 5 wrong tries, good once. */
export const PHONE_CODE_TTL_SECONDS = 300;
export const PHONE_CODE_ATTEMPTS_MAX = 5;

/** The answer to every registration, whether the phone was new or known. */
export interface RegistrationAnswer {
  readonly status: 'code_sent';
  readonly phone: string;
  readonly expiresInSeconds: number;
}

/** A hash to verify against when the phone is unknown, so both cost the same. */
const DUMMY_HASH = hash('mainstay-no-such-customer', PASSWORD_HASH_OPTIONS);

export class CustomerService {
  readonly #router: Router;
  readonly #secrets: SecretsPort;
  readonly #sessions: SessionService;
  readonly #messages: MessageProvider;

  constructor(
    router: Router,
    secrets: SecretsPort,
    sessions: SessionService,
    messages: MessageProvider,
  ) {
    this.#router = router;
    this.#secrets = secrets;
    this.#sessions = sessions;
    this.#messages = messages;
  }

  /**
   * Registers a phone: a new customer at level 0 and a code by text message; a known phone not
   * yet confirmed gets a new code (the password of whoever confirms it is the one kept); a
   * confirmed phone gets a notice. The same answer in every case; the message is sent once the
   * write has committed, and not again for a replay. `trace` learns the customer's id and what
   * was sent (not in a replay), for the audit trail.
   */
  async register(
    input: { readonly phone: string; readonly password: string },
    context: WriteContext,
    trace: AccountTrace = {},
  ): Promise<WriteAnswer<RegistrationAnswer>> {
    const phone = checkPhone(input.phone);
    checkPassword(input.password);
    const passwordHash = await hash(input.password, PASSWORD_HASH_OPTIONS);
    const keys = await CustomerKeys.of(this.#secrets);
    const bucket = bucketOfPhone(this.#router, phone);
    const newId = newEntityId(CUSTOMER_ID_TYPE, bucket);
    const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
    const codeId = newEntityId('pcode', bucket);
    const claim = {
      scope: `customer_register:${keys.lookup('phone', phone).toString('hex')}`,
      key: context.idempotencyKey,
      fingerprint: fingerprintOf({ phone }),
    };
    let outgoing: string | null = null;
    let account: AccountTrace = {};
    const result = await this.#router.write(
      phoneRoutingKey(this.#router, phone),
      (tx) =>
        onceInTransaction(tx, claim, async () => {
          await insertCustomer(tx, {
            customerId: newId,
            phoneLookup: keys.lookup('phone', phone),
            phoneSealed: keys.seal(newId, 'phone', phone),
            passwordHash,
          });
          const row = await selectCustomerByPhone(tx, keys.lookups('phone', phone), true);
          if (!row) throw new Error('a customer row vanished inside its transaction');
          if (row.phone_verified_at !== null) {
            outgoing = noticeText();
            account = { account: row.customer_id, sent: 'notice' };
          } else {
            const codeHash = lookupUnder(keys.keys.current, 'phone-code', `${codeId}:${code}`);
            const ttlSeconds = PHONE_CODE_TTL_SECONDS;
            await insertPhoneCode(tx, {
              codeId,
              customerId: row.customer_id,
              codeHash,
              passwordHash,
              ttlSeconds,
            });
            outgoing = codeText(code);
            account = { account: row.customer_id, sent: 'code' };
          }
          return { statusCode: 202, body: registrationAnswer(phone) };
        }),
      { token: context.token ?? null },
    );
    const { body, replayed } = result.value;
    if (!replayed) Object.assign(trace, account);
    if (!replayed && outgoing !== null) await this.#messages.send(phone, outgoing);
    return { value: body, token: result.token, replayed };
  }

  /**
   * Confirms a phone with its latest code: level 1, and the password its registration chose.
   * `trace` learns the customer's id once found, for the audit trail.
   */
  async verifyPhone(
    input: { readonly phone: string; readonly code: string },
    context: WriteContext,
    trace: AccountTrace = {},
  ): Promise<WriteAnswer<{ status: 'phone_verified'; customer: CustomerRecord }>> {
    const phone = checkPhone(input.phone);
    const keys = await CustomerKeys.of(this.#secrets);
    const routing = phoneRoutingKey(this.#router, phone);
    const { value: found } = await this.#router.read(
      routing,
      async (db) => {
        const row = await selectCustomerByPhone(db, keys.lookups('phone', phone));
        return { row, code: row ? await selectLatestCode(db, row.customer_id) : null };
      },
      { consistency: 'primary' },
    );
    const { row, code } = found;
    if (row) trace.account = row.customer_id;
    if (!row || !code || !/^[0-9]{6}$/.test(input.code)) throw codeInvalid();
    if (!codeMatches(keys, code, input.code)) {
      const open = code.used_at === null && code.attempts < PHONE_CODE_ATTEMPTS_MAX;
      if (open) await this.#router.write(routing, (tx) => countCodeAttempt(tx, code.code_id));
      throw codeInvalid();
    }
    const claim = {
      scope: `customer_verify_phone:${row.customer_id}`,
      key: context.idempotencyKey,
      fingerprint: fingerprintOf({ phone, codeId: code.code_id }),
    };
    const result = await this.#router.write(
      routing,
      (tx) =>
        onceInTransaction(tx, claim, async () => {
          const confirmed = await this.#useCode(tx, row.customer_id, code.code_id);
          return {
            statusCode: 200,
            body: { status: 'phone_verified' as const, customer: recordOf(confirmed, keys) },
          };
        }),
      { token: context.token ?? null },
    );
    return { value: result.value.body, token: result.token, replayed: result.value.replayed };
  }

  /** Marks the code used and confirms the phone, or throws why the right code does not count. */
  async #useCode(
    tx: Parameters<typeof selectLatestCode>[0],
    customerId: string,
    codeId: string,
  ): Promise<CustomerRow> {
    const code = await selectLatestCode(tx, customerId, true);
    if (!code || code.code_id !== codeId) throw codeInvalid();
    if (code.used_at !== null)
      throw identityError('phone_code_used', 'this code was used already; a code works once');
    if (code.attempts >= PHONE_CODE_ATTEMPTS_MAX) {
      throw identityError(
        'phone_code_attempts_exceeded',
        `this code is void after ${PHONE_CODE_ATTEMPTS_MAX} wrong tries; register again for a new one`,
      );
    }
    if (new Date(code.expires_at).getTime() <= Date.now()) {
      throw identityError(
        'phone_code_expired',
        `this code expired (codes last ${PHONE_CODE_TTL_SECONDS / 60} minutes); register again for a new one`,
      );
    }
    await tx.query('UPDATE public.identity_phone_codes SET used_at = now() WHERE code_id = $1', [
      codeId,
    ]);
    const updated = await updateCustomer(
      tx,
      customerId,
      `password_hash = $2, phone_verified_at = coalesce(phone_verified_at, now()),
       kyc_level = greatest(kyc_level, 1), failed_logins = 0, locked_until = NULL`,
      [code.password_hash],
    );
    if (!updated) throw codeInvalid();
    return updated;
  }

  /**
   * Logs in by phone and password: a session token, or `login_failed` for every failure. `trace`
   * learns the customer's id and why a login failed, for the audit trail; the answer does not.
   */
  async login(
    input: { readonly phone: string; readonly password: string },
    sourceIp: string | null,
    trace: AccountTrace = {},
  ): Promise<{ token: string; expiresAt: string; sessionId: string; customer: CustomerRecord }> {
    checkPassword(input.password);
    const phone = checkPhone(input.phone);
    const keys = await CustomerKeys.of(this.#secrets);
    const routing = phoneRoutingKey(this.#router, phone);
    const { value: row } = await this.#router.read(
      routing,
      (db) => selectCustomerByPhone(db, keys.lookups('phone', phone)),
      { consistency: 'primary' },
    );
    if (row) trace.account = row.customer_id;
    const passwordOk = await verify(row?.password_hash ?? (await DUMMY_HASH), input.password);
    const locked = row?.locked_until != null && new Date(row.locked_until).getTime() > Date.now();
    const usable = row !== null && row.phone_verified_at !== null && row.disabled_at === null;
    if (!row || locked || !passwordOk || !usable) {
      trace.reason = failureOf(row, locked, passwordOk);
      if (row && !locked) await this.#recordFailure(routing, row.customer_id);
      throw loginFailed();
    }
    if (row.failed_logins > 0) {
      await this.#router.write(routing, (tx) =>
        updateCustomer(tx, row.customer_id, 'failed_logins = 0, locked_until = NULL', []),
      );
    }
    const session = await this.#sessions.open('customer', row.customer_id, sourceIp);
    return { ...session, customer: recordOf(row, keys) };
  }

  /** Ends a customer's session (logout): its token is refused from now on. */
  async logout(sessionId: string): Promise<void> {
    await this.#sessions.end(sessionId);
  }

  /** The customer as they may see themselves: personal data masked. */
  async me(customerId: string): Promise<CustomerRecord> {
    const keys = await CustomerKeys.of(this.#secrets);
    const { value: row } = await this.#router.read(
      customerId,
      (db) => selectCustomer(db, customerId),
      {
        consistency: 'primary',
      },
    );
    if (!row) throw identityError('login_failed', 'the session names no customer; log in again');
    return recordOf(row, keys);
  }

  async #recordFailure(routing: string, customerId: string): Promise<void> {
    await this.#router.write(routing, (tx) =>
      updateCustomer(
        tx,
        customerId,
        `failed_logins = failed_logins + 1,
         locked_until = CASE WHEN failed_logins + 1 >= $2
           THEN now() + make_interval(mins => $3) ELSE locked_until END`,
        [LOCKOUT_FAILURES, LOCKOUT_MINUTES],
      ),
    );
  }
}

/** Whether `code` is the one `row` holds, under any accepted key. */
function codeMatches(keys: CustomerKeys, row: PhoneCodeRow, code: string): boolean {
  return keys.keys.accepted.some((key) =>
    timingSafeEqual(lookupUnder(key, 'phone-code', `${row.code_id}:${code}`), row.code_hash),
  );
}

function registrationAnswer(phone: string): RegistrationAnswer {
  return { status: 'code_sent', phone: maskPhone(phone), expiresInSeconds: PHONE_CODE_TTL_SECONDS };
}

function codeText(code: string): string {
  return `Mainstay: your code is ${code}. It expires in ${PHONE_CODE_TTL_SECONDS / 60} minutes. Never share it.`;
}

function noticeText(): string {
  return 'Mainstay: someone tried to register an account with this number, which already has one. If it was you, log in instead; otherwise ignore this message.';
}

function codeInvalid(): MainstayError {
  return identityError(
    'phone_code_invalid',
    `the code is wrong, or no code is waiting for this phone; after ${PHONE_CODE_ATTEMPTS_MAX} wrong tries a code is void`,
  );
}

/** Why a login failed, for the audit trail only. */
function failureOf(row: CustomerRow | null, locked: boolean, passwordOk: boolean): string {
  if (!row) return 'unknown_account';
  if (locked) return 'account_locked';
  if (row.disabled_at !== null) return 'account_disabled';
  if (!passwordOk) return 'wrong_password';
  return 'phone_not_confirmed';
}

function loginFailed(): MainstayError {
  return identityError(
    'login_failed',
    'the phone number or password is wrong, the phone is not confirmed, or the account is locked after repeated failures',
  );
}
