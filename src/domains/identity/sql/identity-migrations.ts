import type { MigrationSet } from '../../../migrations/migration.ts';
import { loadMigrationSet } from '../../../migrations/migration-files.ts';

/** API clients and API keys on every shard. Frozen in `identity/`: a change is a new file. */
export const IDENTITY_MIGRATIONS: MigrationSet = loadMigrationSet(
  'identity',
  new URL('./identity/', import.meta.url),
);
