/** The SQL of merchant QR codes (decision 50), on the shard of their merchant account. */
import type { Queryable } from '../../../../data/primary-writer.ts';

/** A QR code as stored, with its claim. */
export interface QrCodeRow {
  readonly id: string;
  readonly merchantAccountId: string;
  readonly amount: bigint;
  readonly currency: string;
  readonly reference: string;
  readonly expiresAt: Date;
  readonly createdAt: Date;
  readonly payerAccountId: string | null;
  readonly claimDigest: string | null;
  readonly paymentId: string | null;
  readonly paidAt: Date | null;
}

type Row = {
  id: string;
  merchant_account_id: string;
  amount: string;
  currency: string;
  reference: string;
  expires_at: Date;
  created_at: Date;
  payer_account_id: string | null;
  claim_digest: string | null;
  payment_id: string | null;
  paid_at: Date | null;
};

/** Stores a new QR code, unclaimed. */
export async function insertQrCode(
  tx: Queryable,
  qr: Pick<
    QrCodeRow,
    'id' | 'merchantAccountId' | 'amount' | 'currency' | 'reference' | 'expiresAt'
  >,
): Promise<QrCodeRow> {
  const { rows } = await tx.query<Row>(
    `INSERT INTO public.ledger_qr_codes (id, merchant_account_id, amount, currency, reference, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
    [qr.id, qr.merchantAccountId, qr.amount.toString(), qr.currency, qr.reference, qr.expiresAt],
  );
  return rowOf(rows[0] as Row);
}

/** QR code `id`, or `null`. */
export async function readQrCode(db: Queryable, id: string): Promise<QrCodeRow | null> {
  const { rows } = await db.query<Row>('SELECT * FROM public.ledger_qr_codes WHERE id = $1', [id]);
  return rows[0] === undefined ? null : rowOf(rows[0]);
}

/**
 * Claims QR code `id` for one payment when it is unclaimed and not expired; true when this call
 * claimed it. Either way the caller reads the row to learn whose claim stands.
 */
export async function claimQrCode(
  tx: Queryable,
  claim: { id: string; payerAccountId: string; digest: string; paymentId: string },
): Promise<boolean> {
  const { rowCount } = await tx.query(
    `UPDATE public.ledger_qr_codes
        SET payer_account_id = $2, claim_digest = $3, payment_id = $4, claimed_at = clock_timestamp()
      WHERE id = $1 AND claim_digest IS NULL AND expires_at > clock_timestamp()`,
    [claim.id, claim.payerAccountId, claim.digest, claim.paymentId],
  );
  return rowCount === 1;
}

/** Ends claim `digest` of QR code `id`: paid (stamped) or refused (released for another payer). */
export async function endQrClaim(
  tx: Queryable,
  id: string,
  digest: string,
  paid: boolean,
): Promise<void> {
  await tx.query(
    paid
      ? `UPDATE public.ledger_qr_codes SET paid_at = coalesce(paid_at, clock_timestamp())
          WHERE id = $1 AND claim_digest = $2`
      : `UPDATE public.ledger_qr_codes
            SET payer_account_id = NULL, claim_digest = NULL, payment_id = NULL, claimed_at = NULL
          WHERE id = $1 AND claim_digest = $2 AND paid_at IS NULL`,
    [id, digest],
  );
}

function rowOf(row: Row): QrCodeRow {
  return {
    id: row.id,
    merchantAccountId: row.merchant_account_id,
    amount: BigInt(row.amount),
    currency: row.currency,
    reference: row.reference,
    expiresAt: row.expires_at,
    createdAt: row.created_at,
    payerAccountId: row.payer_account_id,
    claimDigest: row.claim_digest,
    paymentId: row.payment_id,
    paidAt: row.paid_at,
  };
}
