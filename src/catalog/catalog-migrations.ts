import type { MigrationSet } from '../migrations/migration.ts';

/** Schema of the catalog database on the witness. */
export const CATALOG_MIGRATIONS: MigrationSet = {
  name: 'catalog',
  migrations: [
    {
      version: 1,
      name: 'topology',
      sql: `
CREATE TABLE catalog_epoch (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  epoch bigint NOT NULL CHECK (epoch > 0),
  bucket_count integer NOT NULL CHECK (bucket_count > 0),
  changed_at timestamptz NOT NULL DEFAULT now(),
  reason text NOT NULL
);
CREATE TABLE data_centres (
  id text PRIMARY KEY,
  synchronous_commit text NOT NULL
);
CREATE TABLE servers (
  id text PRIMARY KEY,
  dc text REFERENCES data_centres (id),
  role text NOT NULL CHECK (role IN ('primary', 'replica', 'witness')),
  host text NOT NULL,
  port integer NOT NULL CHECK (port BETWEEN 1 AND 65535),
  upstream text REFERENCES servers (id)
);
CREATE TABLE shards (
  id integer PRIMARY KEY CHECK (id >= 0),
  database text NOT NULL UNIQUE,
  home_dc text NOT NULL REFERENCES data_centres (id),
  copy_dc text NOT NULL REFERENCES data_centres (id),
  CHECK (home_dc <> copy_dc)
);
CREATE TABLE shard_buckets (
  bucket integer PRIMARY KEY CHECK (bucket >= 0),
  shard_id integer NOT NULL REFERENCES shards (id)
);
CREATE TABLE catalog_events (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  epoch bigint NOT NULL,
  reason text NOT NULL
);
CREATE TABLE catalog_flags (
  name text PRIMARY KEY,
  value text NOT NULL,
  set_at timestamptz NOT NULL DEFAULT now()
);`,
    },
    {
      version: 2,
      name: 'fencing-and-copy-state',
      sql: `
ALTER TABLE servers ADD COLUMN fenced_at_epoch bigint;
ALTER TABLE shards ADD COLUMN copy_state text NOT NULL DEFAULT 'replicating'
  CHECK (copy_state IN ('replicating', 'detached', 'quarantined'));
-- The epoch since which the shard's WAL positions are comparable: bumped only when its home
-- moves to another server lineage (a DC failover), not by an in-DC promotion.
ALTER TABLE shards ADD COLUMN lineage_epoch bigint NOT NULL DEFAULT 1;
ALTER TABLE catalog_events ADD COLUMN detail jsonb NOT NULL DEFAULT '{}';`,
    },
    {
      version: 3,
      name: 'shared-recent-writes',
      sql: `
-- The shared recent-write store (decision 35): per key written lately by any router, the shard,
-- the epoch and the WAL position of its last write. UNLOGGED: no WAL on the witness for each
-- write, at the price of an empty table after a witness crash. Keyed by a 64-bit hash of the key
-- (a collision only sends a read to the primary). No index but the key: written_at and lsn
-- change on every upsert, so updates stay HOT; the prune is a scan every few seconds.
CREATE UNLOGGED TABLE recent_writes (
  key_hash bigint PRIMARY KEY,
  shard_id integer NOT NULL,
  epoch bigint NOT NULL,
  lsn pg_lsn NOT NULL,
  written_at timestamptz NOT NULL
) WITH (fillfactor = 70);`,
    },
  ],
};
