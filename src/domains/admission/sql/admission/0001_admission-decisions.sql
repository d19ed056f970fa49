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

-- Each table's size at each evaluation, so that the next one measures its growth. Written in the
-- decision's own transaction; samples older than the retention are deleted by the same writes.
CREATE TABLE admission_size_samples (
  table_name  text NOT NULL,
  taken_at    timestamptz NOT NULL,
  bytes       bigint NOT NULL CHECK (bytes >= 0),
  PRIMARY KEY (table_name, taken_at)
);
CREATE INDEX admission_size_samples_taken_at ON admission_size_samples (taken_at);
