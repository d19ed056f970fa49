
ALTER TABLE servers ADD COLUMN fenced_at_epoch bigint;
ALTER TABLE shards ADD COLUMN copy_state text NOT NULL DEFAULT 'replicating'
  CHECK (copy_state IN ('replicating', 'detached', 'quarantined'));
-- The epoch since which the shard's WAL positions are comparable: bumped only when its home
-- moves to another server lineage (a DC failover), not by an in-DC promotion.
ALTER TABLE shards ADD COLUMN lineage_epoch bigint NOT NULL DEFAULT 1;
ALTER TABLE catalog_events ADD COLUMN detail jsonb NOT NULL DEFAULT '{}';