
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
) WITH (fillfactor = 70);