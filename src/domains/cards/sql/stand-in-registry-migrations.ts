import type { MigrationSet } from '../../../migrations/migration.ts';
import { loadMigrationSet } from '../../../migrations/migration-files.ts';

/**
 * The stand-in registry on the witness's catalog database (decisions 37 and 38): every stand-in
 * decision of every API process, and the exposure stand-in approvals have opened per account and
 * per card. It lives on the witness because that server stands in neither data centre, so it is
 * up when a shard's primary is not, and every API process reaches it. Schema `stand_in` keeps it
 * apart from the catalog's own tables. Text frozen in `stand-in-registry/`: a change is a new
 * file.
 */
export const STAND_IN_REGISTRY_MIGRATIONS: MigrationSet = loadMigrationSet(
  'stand-in-registry',
  new URL('./stand-in-registry/', import.meta.url),
);
