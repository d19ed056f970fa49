import type { CatalogSnapshot } from './catalog-store.ts';

/**
 * The server currently primary (and not fenced) in a data centre, per the catalog. A question
 * about the catalog, asked by the data layer when it routes and by the fleet when it sets up,
 * re-seeds or fails over; it lives with the catalog so that neither has to import the other.
 */
export function primaryOf(snapshot: CatalogSnapshot, dc: string): string | undefined {
  return snapshot.servers.find(
    (s) => s.dc === dc && s.role === 'primary' && s.fencedAtEpoch === null,
  )?.id;
}
