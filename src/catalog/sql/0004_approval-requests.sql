
-- Maker-checker (decision 47): a sensitive request, kept as it was made (method, path, body,
-- idempotency key) until a different person with the right role approves it; then it runs once,
-- and its answer is kept beside it. In the catalog database, beside the topology the operations
-- change; `status` moves pending -> approved -> executed | failed, or pending -> rejected, each
-- step one conditional UPDATE, so two approvals cannot both run it.
CREATE TABLE approval_requests (
  id               text PRIMARY KEY,
  action           text NOT NULL,
  approver_roles   text[] NOT NULL,
  method           text NOT NULL,
  path             text NOT NULL,
  body             jsonb,
  idempotency_key  text,
  fingerprint      text NOT NULL,
  requested_by     text NOT NULL,
  requester_kind   text NOT NULL,
  requested_scopes text[] NOT NULL,
  requested_at     timestamptz NOT NULL DEFAULT now(),
  expires_at       timestamptz NOT NULL,
  status           text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'approved', 'rejected', 'executed', 'failed')),
  decided_by       text,
  decided_at       timestamptz,
  reason           text,
  result_status    integer,
  result           jsonb,
  finished_at      timestamptz,
  UNIQUE (requested_by, idempotency_key)
);
CREATE INDEX approval_requests_pending ON approval_requests (requested_at) WHERE status = 'pending';
