import type { MigrationSet } from '../../../migrations/migration.ts';
import { loadMigrationSet } from '../../../migrations/migration-files.ts';

/**
 * The admission gate's tables in the catalog database (decision 55): its decisions and the size
 * samples growth is measured from. Applied by the fleet after the catalog's own schema.
 */
export const ADMISSION_MIGRATIONS: MigrationSet = loadMigrationSet(
  'admission',
  new URL('./admission/', import.meta.url),
);
