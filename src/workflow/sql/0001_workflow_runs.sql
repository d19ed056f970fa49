-- Durable workflow runs (decision 54): a run, its steps in order, and its event log. Kept in the
-- catalog database on the witness, beside the topology the operations change.
CREATE TABLE workflow_runs (
  id               text PRIMARY KEY,
  workflow         text NOT NULL,
  input            jsonb NOT NULL,
  status           text NOT NULL CHECK (status IN (
                     'running', 'waiting_approval', 'compensating',
                     'succeeded', 'compensated', 'compensation_failed', 'rejected')),
  started_by       text NOT NULL,
  idempotency_key  text NOT NULL,
  request_hash     text NOT NULL,
  error            jsonb,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  finished_at      timestamptz,
  UNIQUE (started_by, idempotency_key)
);
-- Runs a worker may pick up: those in progress, oldest first.
CREATE INDEX workflow_runs_active ON workflow_runs (created_at)
  WHERE status IN ('running', 'compensating');
CREATE INDEX workflow_runs_listed ON workflow_runs (created_at DESC, id DESC);

CREATE TABLE workflow_steps (
  run_id          text NOT NULL REFERENCES workflow_runs (id),
  position        integer NOT NULL CHECK (position >= 0),
  name            text NOT NULL,
  module          text NOT NULL,
  input           jsonb NOT NULL,
  status          text NOT NULL CHECK (status IN (
                    'pending', 'waiting_approval', 'running', 'succeeded', 'failed',
                    'compensating', 'compensated', 'compensation_failed', 'rejected')),
  -- The phase last entered: preflight, execute, verify or compensate.
  phase           text,
  attempts        integer NOT NULL DEFAULT 0,
  attempts_max    integer NOT NULL CHECK (attempts_max >= 1),
  approver_roles  text[],
  decided_by      text,
  decided_at      timestamptz,
  decision_reason text,
  output          jsonb,
  error           jsonb,
  started_at      timestamptz,
  finished_at     timestamptz,
  PRIMARY KEY (run_id, position)
);

CREATE TABLE workflow_events (
  run_id    text NOT NULL REFERENCES workflow_runs (id),
  seq       bigint GENERATED ALWAYS AS IDENTITY,
  at        timestamptz NOT NULL DEFAULT clock_timestamp(),
  position  integer,
  kind      text NOT NULL,
  detail    text NOT NULL,
  PRIMARY KEY (run_id, seq)
);
