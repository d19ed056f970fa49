/**
 * The SQL of customers (identity migration 0003): rows as stored, and the statements the
 * customer services send inside their transactions. Every function takes the connection or
 * transaction it runs on; the router chose the shard.
 */
import { formatEntityId } from '../../../../data/entity-id.ts';
import type { Queryable, Router } from '../../../../data/router.ts';

export const CUSTOMER_ID_TYPE = 'cus';

export interface CustomerRow {
  readonly customer_id: string;
  readonly phone_sealed: string;
  readonly password_hash: string;
  readonly kyc_level: number;
  readonly phone_verified_at: Date | null;
  readonly full_name_sealed: string | null;
  readonly id_type: 'cn_resident' | 'generic' | null;
  readonly id_number_sealed: string | null;
  readonly real_name_verified_at: Date | null;
  readonly card_last4: string | null;
  readonly card_verified_at: Date | null;
  readonly review_status: 'none' | 'pending' | 'approved' | 'rejected';
  readonly review_requested_at: Date | null;
  readonly reviewed_at: Date | null;
  readonly review_reason: string | null;
  readonly payment_user_id: string | null;
  readonly failed_logins: number;
  readonly locked_until: Date | null;
  readonly created_at: Date;
  readonly disabled_at: Date | null;
}

export const CUSTOMER_COLUMNS = `customer_id, phone_sealed, password_hash, kyc_level,
  phone_verified_at, full_name_sealed, id_type, id_number_sealed, real_name_verified_at,
  card_last4, card_verified_at, review_status, review_requested_at, reviewed_at, review_reason,
  payment_user_id, failed_logins, locked_until, created_at, disabled_at`;

export interface PhoneCodeRow {
  readonly code_id: string;
  readonly customer_id: string;
  readonly code_hash: Buffer;
  readonly password_hash: string;
  readonly attempts: number;
  readonly expires_at: Date;
  readonly used_at: Date | null;
}

/**
 * A key that routes to the shard of `customer:<phone>` without naming the phone: an id of the
 * customer type in that bucket with a zero body. Writes and reads by phone go by it, so the
 * phone number never reaches the recent-write trackers.
 */
export function phoneRoutingKey(router: Router, phone: string): string {
  return formatEntityId(CUSTOMER_ID_TYPE, bucketOfPhone(router, phone), 0, new Uint8Array(10));
}

/** The bucket a customer with `phone` is minted in. */
export function bucketOfPhone(router: Router, phone: string): number {
  return router.map.bucketOf(`customer:${phone}`);
}

/** The customer whose phone has one of `lookups`, or `null`; locked when `forUpdate`. */
export async function selectCustomerByPhone(
  db: Queryable,
  lookups: readonly Buffer[],
  forUpdate = false,
): Promise<CustomerRow | null> {
  const { rows } = await db.query<CustomerRow>(
    `SELECT ${CUSTOMER_COLUMNS} FROM public.identity_customers WHERE phone_lookup = ANY($1)
     ${forUpdate ? 'FOR UPDATE' : ''}`,
    [lookups],
  );
  return rows[0] ?? null;
}

/** One customer by id, or `null`. */
export async function selectCustomer(
  db: Queryable,
  customerId: string,
  forUpdate = false,
): Promise<CustomerRow | null> {
  const { rows } = await db.query<CustomerRow>(
    `SELECT ${CUSTOMER_COLUMNS} FROM public.identity_customers WHERE customer_id = $1
     ${forUpdate ? 'FOR UPDATE' : ''}`,
    [customerId],
  );
  return rows[0] ?? null;
}

/** Inserts a customer unless its phone is registered (a racing registration): `false` then. */
export async function insertCustomer(
  db: Queryable,
  row: {
    readonly customerId: string;
    readonly phoneLookup: Buffer;
    readonly phoneSealed: string;
    readonly passwordHash: string;
  },
): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO public.identity_customers (customer_id, phone_lookup, phone_sealed, password_hash)
     VALUES ($1, $2, $3, $4) ON CONFLICT (phone_lookup) DO NOTHING`,
    [row.customerId, row.phoneLookup, row.phoneSealed, row.passwordHash],
  );
  return rowCount === 1;
}

/** Records a new one-time code for a customer, valid for `ttlSeconds`. */
export async function insertPhoneCode(
  db: Queryable,
  code: {
    readonly codeId: string;
    readonly customerId: string;
    readonly codeHash: Buffer;
    readonly passwordHash: string;
    readonly ttlSeconds: number;
  },
): Promise<void> {
  await db.query(
    `INSERT INTO public.identity_phone_codes
       (code_id, customer_id, code_hash, password_hash, expires_at)
     VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))`,
    [code.codeId, code.customerId, code.codeHash, code.passwordHash, code.ttlSeconds],
  );
}

/** The customer's latest one-time code, or `null`; locked when `forUpdate`. */
export async function selectLatestCode(
  db: Queryable,
  customerId: string,
  forUpdate = false,
): Promise<PhoneCodeRow | null> {
  const { rows } = await db.query<PhoneCodeRow>(
    `SELECT code_id, customer_id, code_hash, password_hash, attempts, expires_at, used_at
     FROM public.identity_phone_codes WHERE customer_id = $1 ORDER BY code_id DESC LIMIT 1
     ${forUpdate ? 'FOR UPDATE' : ''}`,
    [customerId],
  );
  return rows[0] ?? null;
}

/** Counts one wrong try of a code. */
export async function countCodeAttempt(db: Queryable, codeId: string): Promise<void> {
  await db.query(
    'UPDATE public.identity_phone_codes SET attempts = attempts + 1 WHERE code_id = $1',
    [codeId],
  );
}

/** Updates `columns` of one customer (SQL assignments, parameters from $2), returning the row. */
export async function updateCustomer(
  db: Queryable,
  customerId: string,
  assignments: string,
  values: readonly unknown[],
  condition = 'true',
): Promise<CustomerRow | null> {
  const { rows } = await db.query<CustomerRow>(
    `UPDATE public.identity_customers SET ${assignments}
     WHERE customer_id = $1 AND (${condition}) RETURNING ${CUSTOMER_COLUMNS}`,
    [customerId, ...values],
  );
  return rows[0] ?? null;
}
