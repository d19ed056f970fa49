import type { MigrationSet } from '../migrations/migration.ts';
import { loadMigrationSet } from '../migrations/migration-files.ts';

/**
 * Schema of the catalog database on the witness, frozen in `sql/` (one file per migration, never
 * edited once released): the topology and its epoch, fencing and copy states, and the shared
 * recent-write store (decision 35).
 */
export const CATALOG_MIGRATIONS: MigrationSet = loadMigrationSet(
  'catalog',
  new URL('./sql/', import.meta.url),
);
