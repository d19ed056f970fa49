/**
 * The development message provider: instead of a text message gateway, each message is written
 * to `identity_outbox` on the shard of its phone's customer bucket, found again by the phone's
 * keyed hash. Development tools and tests read the codes there (GET /v1/identity/outbox); a
 * production deployment passes a real {@link MessageProvider} and registers no outbox route.
 */
import { newEntityId } from '../../../../data/entity-id.ts';
import type { Router } from '../../../../data/router.ts';
import type { SecretsPort } from '../../../../secrets/secrets-port.ts';
import { CustomerKeys } from '../core/customer-keys.ts';
import type { MessageProvider } from '../core/providers.ts';
import { bucketOfPhone, phoneRoutingKey } from './customer-store.ts';

/** Messages one outbox read answers at most, newest first. */
export const OUTBOX_READ_MAX = 20;

export interface OutboxMessage {
  readonly id: string;
  readonly body: string;
  readonly createdAt: string;
}

export class OutboxMessageProvider implements MessageProvider {
  readonly #router: Router;
  readonly #secrets: SecretsPort;

  constructor(router: Router, secrets: SecretsPort) {
    this.#router = router;
    this.#secrets = secrets;
  }

  async send(phone: string, text: string): Promise<void> {
    const keys = await CustomerKeys.of(this.#secrets);
    const messageId = newEntityId('msg', bucketOfPhone(this.#router, phone));
    await this.#router.writeStatement(
      phoneRoutingKey(this.#router, phone),
      'INSERT INTO public.identity_outbox (message_id, phone_lookup, body) VALUES ($1, $2, $3)',
      [messageId, keys.lookup('phone', phone), text],
    );
  }

  /** The latest messages sent to `phone`, newest first. */
  async read(phone: string, limit = OUTBOX_READ_MAX): Promise<OutboxMessage[]> {
    const keys = await CustomerKeys.of(this.#secrets);
    const { value } = await this.#router.read(
      phoneRoutingKey(this.#router, phone),
      (db) =>
        db.query<{ message_id: string; body: string; created_at: Date }>(
          `SELECT message_id, body, created_at FROM public.identity_outbox
           WHERE phone_lookup = ANY($1) ORDER BY message_id DESC LIMIT $2`,
          [keys.lookups('phone', phone), limit],
        ),
      { consistency: 'primary' },
    );
    return value.rows.map((row) => ({
      id: row.message_id,
      body: row.body,
      createdAt: new Date(row.created_at).toISOString(),
    }));
  }
}
