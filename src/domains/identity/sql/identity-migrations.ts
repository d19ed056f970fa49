import type { MigrationSet } from '../../../migrations/migration.ts';
import { loadMigrationSet } from '../../../migrations/migration-files.ts';

/** API clients and API keys on every shard. Frozen in `identity/`: a change is a new file. */
export const IDENTITY_MIGRATIONS: MigrationSet = loadMigrationSet(
  'identity',
  new URL('./identity/', import.meta.url),
  {
    // Every id below is minted in the bucket of the key its writes are routed by.
    identity_api_clients: { kind: 'key', column: 'client_id' },
    identity_api_keys: { kind: 'key', column: 'key_id' },
    identity_staff: { kind: 'key', column: 'staff_id' },
    identity_sessions: { kind: 'key', column: 'session_id' },
    identity_customers: { kind: 'key', column: 'customer_id' },
    identity_phone_codes: { kind: 'key', column: 'code_id' },
    identity_customer_documents: { kind: 'key', column: 'document_id' },
    identity_outbox: { kind: 'key', column: 'message_id' },
    // Routed by the clear number's bucket, kept with the claim since 0004 (older rows have none).
    identity_id_number_claims: { kind: 'bucket', column: 'bucket' },
  },
);
