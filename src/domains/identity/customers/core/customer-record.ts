/**
 * A customer as every answer and list shows it: personal data opened only to be masked, never
 * given out whole.
 */
import type { CustomerRow } from '../store/customer-store.ts';
import type { CustomerKeys } from './customer-keys.ts';
import { maskCard, maskIdNumber, maskName, maskPhone } from './masking.ts';

export interface CustomerRecord {
  readonly id: string;
  readonly phone: string;
  readonly kycLevel: number;
  readonly phoneVerified: boolean;
  readonly realName: {
    readonly fullName: string;
    readonly idType: string;
    readonly idNumber: string;
  } | null;
  readonly bankCard: { readonly number: string } | null;
  readonly review: {
    readonly status: CustomerRow['review_status'];
    readonly reason: string | null;
    readonly requestedAt: string | null;
    readonly reviewedAt: string | null;
  };
  readonly paymentUserId: string | null;
  readonly createdAt: string;
}

const iso = (date: Date | null) => (date === null ? null : new Date(date).toISOString());

/** The masked record of `row`. */
export function recordOf(row: CustomerRow, keys: CustomerKeys): CustomerRecord {
  const id = row.customer_id;
  const realName =
    row.full_name_sealed !== null && row.id_number_sealed !== null && row.id_type !== null
      ? {
          fullName: maskName(keys.open(id, 'fullName', row.full_name_sealed)),
          idType: row.id_type,
          idNumber: maskIdNumber(keys.open(id, 'idNumber', row.id_number_sealed)),
        }
      : null;
  return {
    id,
    phone: maskPhone(keys.open(id, 'phone', row.phone_sealed)),
    kycLevel: row.kyc_level,
    phoneVerified: row.phone_verified_at !== null,
    realName,
    bankCard: row.card_last4 === null ? null : { number: maskCard(row.card_last4) },
    review: {
      status: row.review_status,
      reason: row.review_reason,
      requestedAt: iso(row.review_requested_at),
      reviewedAt: iso(row.reviewed_at),
    },
    paymentUserId: row.payment_user_id,
    createdAt: new Date(row.created_at).toISOString(),
  };
}
