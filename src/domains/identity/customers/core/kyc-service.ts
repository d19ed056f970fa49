/**
 * A customer's KYC steps after the phone: the real name (a legal name and an identity number,
 * sealed, one customer per number across every shard), the bank card (a bank's four-element
 * check; only the last four digits and a keyed hash are kept) and the documents (sealed). A
 * customer whose card is verified and who has sent a document waits in the staff review queue.
 * Every step checks its input before anything is written, and writes in one transaction on the
 * customer's shard under the caller's idempotency key.
 */
import { createHash } from 'node:crypto';
import { newEntityId, taggedBucket } from '../../../../data/entity-id.ts';
import { fingerprintOf, onceInTransaction } from '../../../../data/idempotency.ts';
import type { Queryable, Router } from '../../../../data/router.ts';
import type { WriteAnswer, WriteContext } from '../../../../data/write-contract.ts';
import { MainstayError } from '../../../../errors/mainstay-error.ts';
import type { SecretsPort } from '../../../../secrets/secrets-port.ts';
import { identityError } from '../../errors.ts';
import {
  type CustomerRow,
  phoneRoutingKey,
  selectCustomer,
  selectCustomerByPhone,
  updateCustomer,
} from '../store/customer-store.ts';
import {
  checkBankCard,
  checkDocument,
  checkFullName,
  checkIdNumber,
  type DocumentKind,
  type IdType,
} from './customer-input.ts';
import { CustomerKeys } from './customer-keys.ts';
import { type CustomerRecord, recordOf } from './customer-record.ts';
import { KYC_LEVEL, requireKycLevel } from './kyc-levels.ts';
import type { CardCheckProvider } from './providers.ts';

export interface DocumentAnswer {
  readonly document: {
    readonly id: string;
    readonly kind: DocumentKind;
    readonly mediaType: string;
    readonly sizeBytes: number;
    readonly createdAt: string;
  };
  readonly customer: CustomerRecord;
}

/** Puts a customer with a verified card and a document in the review queue (unless there). */
const QUEUE_IF_READY = `UPDATE public.identity_customers
  SET review_status = 'pending', review_requested_at = now(), review_reason = NULL
  WHERE customer_id = $1 AND card_verified_at IS NOT NULL AND review_status IN ('none', 'rejected')
    AND EXISTS (SELECT 1 FROM public.identity_customer_documents d WHERE d.customer_id = $1)`;

export class KycService {
  readonly #router: Router;
  readonly #secrets: SecretsPort;
  readonly #cards: CardCheckProvider;

  constructor(router: Router, secrets: SecretsPort, cards: CardCheckProvider) {
    this.#router = router;
    this.#secrets = secrets;
    this.#cards = cards;
  }

  /** Records a verified real name: level 2. The identity number is claimed for this customer. */
  async realName(
    customerId: string,
    input: { readonly fullName: string; readonly idNumber: string; readonly idType: IdType },
    context: WriteContext,
  ): Promise<WriteAnswer<CustomerRecord>> {
    const fullName = checkFullName(input.fullName);
    const idNumber = checkIdNumber(input.idType, input.idNumber);
    const keys = await CustomerKeys.of(this.#secrets);
    const before = await this.#row(customerId);
    requireKycLevel(before.kyc_level, KYC_LEVEL.phoneVerified, 'real-name verification');
    const scope = `customer_real_name:${customerId}`;
    if (
      before.real_name_verified_at !== null &&
      !(await this.#isReplay(customerId, scope, context))
    )
      throw stepDone('the real name is verified already');
    const numberKey = `${input.idType}:${idNumber}`;
    await this.#claimIdNumber(keys.lookups('id-number', numberKey), customerId, numberKey);
    const claim = {
      scope,
      key: context.idempotencyKey,
      fingerprint: fingerprintOf({
        idNumber: keys.lookup('id-number', numberKey).toString('hex'),
        fullName: keys.lookup('full-name', fullName).toString('hex'),
      }),
    };
    return this.#once(customerId, claim, context, async (tx) => {
      const row = await updateCustomer(
        tx,
        customerId,
        `full_name_sealed = $2, id_type = $3, id_number_sealed = $4, id_number_lookup = $5,
         real_name_verified_at = now(), kyc_level = greatest(kyc_level, 2)`,
        [
          keys.seal(customerId, 'fullName', fullName),
          input.idType,
          keys.seal(customerId, 'idNumber', idNumber),
          keys.lookup('id-number', numberKey),
        ],
        'real_name_verified_at IS NULL AND kyc_level >= 1',
      );
      if (!row) throw stepDone('the real name is verified already');
      return { statusCode: 200, body: recordOf(row, keys) };
    });
  }

  /**
   * Verifies a bank card: the bank checks it against the customer's verified name, identity
   * number and phone. Kept: the last four digits and a keyed hash, never the number.
   */
  async bankCard(
    customerId: string,
    input: { readonly cardNumber: string },
    context: WriteContext,
  ): Promise<WriteAnswer<CustomerRecord>> {
    const cardNumber = checkBankCard(input.cardNumber);
    const keys = await CustomerKeys.of(this.#secrets);
    const row = await this.#row(customerId);
    requireKycLevel(row.kyc_level, KYC_LEVEL.realNameVerified, 'bank-card verification');
    const scope = `customer_bank_card:${customerId}`;
    if (row.card_verified_at !== null && !(await this.#isReplay(customerId, scope, context)))
      throw stepDone('a bank card is verified already');
    const verdict = await this.#cards.check({ ...this.#elementsOf(row, keys), cardNumber });
    if (!verdict.confirmed) {
      throw identityError(
        'bank_card_not_confirmed',
        "the bank did not confirm this card for the customer's verified name, identity number and phone",
      );
    }
    const cardLookup = keys.lookup('bank-card', cardNumber);
    const claim = {
      scope,
      key: context.idempotencyKey,
      fingerprint: fingerprintOf({ card: cardLookup.toString('hex') }),
    };
    return this.#once(customerId, claim, context, async (tx) => {
      const updated = await updateCustomer(
        tx,
        customerId,
        'card_last4 = $2, card_lookup = $3, card_verified_at = now()',
        [cardNumber.slice(-4), cardLookup],
        'card_verified_at IS NULL AND kyc_level >= 2',
      );
      if (!updated) throw stepDone('a bank card is verified already');
      await tx.query(QUEUE_IF_READY, [customerId]);
      return { statusCode: 200, body: recordOf(await this.#rowIn(tx, customerId), keys) };
    });
  }

  /** Stores a document sealed; with a verified card, the customer joins the review queue. */
  async document(
    customerId: string,
    input: {
      readonly kind: DocumentKind;
      readonly contentBase64: string;
      readonly mediaType: string;
    },
    context: WriteContext,
  ): Promise<WriteAnswer<DocumentAnswer>> {
    const bytes = checkDocument(input.contentBase64, input.mediaType);
    const keys = await CustomerKeys.of(this.#secrets);
    const row = await this.#row(customerId);
    requireKycLevel(row.kyc_level, KYC_LEVEL.phoneVerified, 'sending a document');
    const scope = `customer_document:${customerId}`;
    if (row.review_status === 'approved' && !(await this.#isReplay(customerId, scope, context)))
      throw stepDone('the KYC review is approved; no more documents are needed');
    const bucket = taggedBucket(customerId) ?? 0;
    const documentId = newEntityId('kdoc', bucket);
    const claim = {
      scope,
      key: context.idempotencyKey,
      fingerprint: fingerprintOf({
        kind: input.kind,
        mediaType: input.mediaType,
        sha256: createHash('sha256').update(bytes).digest('hex'),
      }),
    };
    return this.#once(customerId, claim, context, async (tx) => {
      const { rows } = await tx.query<{ created_at: Date }>(
        `INSERT INTO public.identity_customer_documents
           (document_id, customer_id, kind, media_type, size_bytes, content_sealed)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING created_at`,
        [
          documentId,
          customerId,
          input.kind,
          input.mediaType,
          bytes.length,
          keys.seal(customerId, `document:${documentId}`, bytes.toString('base64')),
        ],
      );
      await tx.query(QUEUE_IF_READY, [customerId]);
      const document = {
        id: documentId,
        kind: input.kind,
        mediaType: input.mediaType,
        sizeBytes: bytes.length,
        createdAt: new Date(rows[0]?.created_at as Date).toISOString(),
      };
      return {
        statusCode: 201,
        body: { document, customer: recordOf(await this.#rowIn(tx, customerId), keys) },
      };
    });
  }

  /** The verified name and identity number of the customer with `phone` (the development bank). */
  async verifiedElementsOf(phone: string): Promise<{ name: string; idNumber: string } | null> {
    const keys = await CustomerKeys.of(this.#secrets);
    const { value: row } = await this.#router.read(
      phoneRoutingKey(this.#router, phone),
      (db) => selectCustomerByPhone(db, keys.lookups('phone', phone)),
      { consistency: 'primary' },
    );
    if (!row || row.real_name_verified_at === null) return null;
    const { name, idNumber } = this.#elementsOf(row, keys);
    return { name, idNumber };
  }

  #elementsOf(row: CustomerRow, keys: CustomerKeys) {
    const id = row.customer_id;
    return {
      name: keys.open(id, 'fullName', row.full_name_sealed ?? ''),
      idNumber: keys.open(id, 'idNumber', row.id_number_sealed ?? ''),
      phone: keys.open(id, 'phone', row.phone_sealed),
    };
  }

  /**
   * Claims an identity number for `customerId` on the shard of the number's bucket, or throws
   * `id_number_in_use` when another customer holds it. Claiming it again is harmless.
   */
  async #claimIdNumber(lookups: Buffer[], customerId: string, numberKey: string): Promise<void> {
    const bucket = this.#router.map.bucketOf(`id-number:${numberKey}`);
    await this.#router.write(newEntityId('idn', bucket), async (tx) => {
      await tx.query(
        `INSERT INTO public.identity_id_number_claims (id_number_lookup, customer_id, bucket)
         SELECT $1, $2, $4 WHERE NOT EXISTS (
           SELECT 1 FROM public.identity_id_number_claims WHERE id_number_lookup = ANY($3))
         ON CONFLICT (id_number_lookup) DO NOTHING`,
        [lookups[0], customerId, lookups, bucket],
      );
      const { rows } = await tx.query<{ customer_id: string }>(
        'SELECT customer_id FROM public.identity_id_number_claims WHERE id_number_lookup = ANY($1)',
        [lookups],
      );
      if (rows.some((row) => row.customer_id !== customerId)) {
        throw identityError(
          'id_number_in_use',
          'another customer verified their real name with this identity number',
        );
      }
    });
  }

  /** Whether this idempotency key already answered this step (a retry, answered as before). */
  async #isReplay(customerId: string, scope: string, context: WriteContext): Promise<boolean> {
    const { value } = await this.#router.read(
      customerId,
      (db) =>
        db.query('SELECT 1 FROM public.idempotency_keys WHERE scope = $1 AND key = $2', [
          scope,
          context.idempotencyKey,
        ]),
      { consistency: 'primary' },
    );
    return (value.rowCount ?? 0) > 0;
  }

  async #once<T>(
    customerId: string,
    claim: { scope: string; key: string; fingerprint: string },
    context: WriteContext,
    work: (tx: Queryable) => Promise<{ statusCode: number; body: T }>,
  ): Promise<WriteAnswer<T>> {
    const result = await this.#router.write(
      customerId,
      (tx) => onceInTransaction(tx, claim, () => work(tx)),
      { token: context.token ?? null },
    );
    return { value: result.value.body, token: result.token, replayed: result.value.replayed };
  }

  async #row(customerId: string): Promise<CustomerRow> {
    const { value } = await this.#router.read(customerId, (db) => selectCustomer(db, customerId), {
      consistency: 'primary',
    });
    if (!value) throw new MainstayError('resource_not_found', `no customer ${customerId}`);
    return value;
  }

  async #rowIn(tx: Queryable, customerId: string): Promise<CustomerRow> {
    const row = await selectCustomer(tx, customerId);
    if (!row) throw new MainstayError('resource_not_found', `no customer ${customerId}`);
    return row;
  }
}

function stepDone(detail: string): MainstayError {
  return identityError('kyc_state_conflict', detail);
}
