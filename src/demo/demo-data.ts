import type { CatalogStore } from '../catalog/catalog-store.ts';
import { bucketOf } from '../data/bucket-hash.ts';
import { shardOfBucket } from '../data/shard-map.ts';
import type { MigrationSet } from '../migrations/migration.ts';
import { loadMigrationSet } from '../migrations/migration-files.ts';

/**
 * A small, honest demo dataset: customers spread over the shards by the shard map, written on
 * each shard's home primary and replicated like any application data. Domains bring their own
 * demo data on top of it.
 */
export const DEMO_MIGRATIONS: MigrationSet = loadMigrationSet(
  'demo',
  new URL('./sql/', import.meta.url),
  { demo_customers: { kind: 'bucket', column: 'bucket' } },
);

export const DEMO_CUSTOMER_COUNT = 2_000;
export const DEMO_FLAG = 'demo_data_loaded';

const GIVEN = ['Wei', 'Li', 'Ana', 'Jonas', 'Amara', 'Kenji', 'Sofia', 'Omar', 'Ines', 'Raj'];
const FAMILY = [
  'Zhang',
  'Wang',
  'Silva',
  'Berg',
  'Okafor',
  'Sato',
  'Rossi',
  'Haddad',
  'Costa',
  'Patel',
];
const COUNTRIES = ['CN', 'SG', 'BR', 'SE', 'NG', 'JP', 'IT', 'AE', 'PT', 'IN'];

/** One demo customer, with the bucket its id hashes to. */
export interface DemoCustomer {
  readonly id: string;
  readonly bucket: number;
  readonly fullName: string;
  readonly country: string;
}

/** The demo customers, the same on every run (ids and names derive from the index). */
export function demoCustomers(bucketCount: number, count = DEMO_CUSTOMER_COUNT): DemoCustomer[] {
  return Array.from({ length: count }, (_, index) => {
    const id = `cus_demo${String(index).padStart(6, '0')}`;
    return {
      id,
      bucket: bucketOf(id, bucketCount),
      fullName: `${GIVEN[index % GIVEN.length]} ${FAMILY[Math.floor(index / GIVEN.length) % FAMILY.length]}`,
      country: COUNTRIES[(index * 7) % COUNTRIES.length] as string,
    };
  });
}

/** Where to write a shard's rows: its home primary's pool for the shard database. */
export type ShardWriter = (shardId: number) => {
  query(sql: string, values: unknown[]): Promise<unknown>;
};

/**
 * Loads the demo customers once per fleet: a catalog flag records that it happened, and every
 * insert is `ON CONFLICT DO NOTHING`, so a crash half-way is mended by the next start.
 */
export async function loadDemoData(catalog: CatalogStore, writer: ShardWriter): Promise<boolean> {
  if ((await catalog.getFlag(DEMO_FLAG)) !== null) return false;
  const snapshot = await catalog.load();
  if (!snapshot) return false;
  const byShard = new Map<number, DemoCustomer[]>();
  for (const customer of demoCustomers(snapshot.bucketCount)) {
    const shard = shardOfBucket(snapshot, customer.bucket);
    byShard.set(shard, [...(byShard.get(shard) ?? []), customer]);
  }
  for (const [shard, customers] of byShard) {
    await writer(shard).query(
      `INSERT INTO public.demo_customers (id, bucket, full_name, country)
       SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[])
       ON CONFLICT (id) DO NOTHING`,
      [
        customers.map((c) => c.id),
        customers.map((c) => c.bucket),
        customers.map((c) => c.fullName),
        customers.map((c) => c.country),
      ],
    );
  }
  await catalog.setFlag(DEMO_FLAG, new Date().toISOString());
  return true;
}
