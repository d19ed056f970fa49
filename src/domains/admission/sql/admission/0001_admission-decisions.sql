-- The admission gate (decision 55): every decision it took, with the change request as checked
-- and the figures it cited, kept in the catalog database on the witness beside the approvals
-- (state every API process shares, off the money path). A caller's retry with the same
-- idempotency key finds its first decision by (requested_by, idempotency_key).
CREATE TABLE admission_decisions (
  id               text PRIMARY KEY,
  requested_by     text NOT NULL,
  idempotency_key  text NOT NULL,
  fingerprint      text NOT NULL,
  title            text NOT NULL,
  system           text NOT NULL,
  review_required  boolean NOT NULL,
  request          jsonb NOT NULL,
  decision         jsonb NOT NULL,
  created_at       timestamptz NOT NULL,
  UNIQUE (requested_by, idempotency_key)
);

-- Each table's size and row counters at each evaluation, so that the next one measures its growth
-- and its reads and writes over the time between. Written in the decision's own transaction;
-- samples older than the retention are deleted by the same writes.
CREATE TABLE admission_table_samples (
  table_name             text NOT NULL,
  taken_at               timestamptz NOT NULL,
  bytes                  bigint NOT NULL CHECK (bytes >= 0),
  rows_read              bigint NOT NULL CHECK (rows_read >= 0),
  rows_read_on_replicas  bigint NOT NULL CHECK (rows_read_on_replicas >= 0),
  rows_written           bigint NOT NULL CHECK (rows_written >= 0),
  PRIMARY KEY (table_name, taken_at)
);
CREATE INDEX admission_table_samples_taken_at ON admission_table_samples (taken_at);
