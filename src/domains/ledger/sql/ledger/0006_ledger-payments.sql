-- Payments (decision 50): merchant QR codes on their merchant account's shard, each with its one
-- payment claim; batches and their items on the batch's shard, each item's outcome kept once
-- decided so a resumed batch applies nothing twice; and the fees of cross-shard payments,
-- reserved with the transfer's first leg and waiting here until the transfer ends.

CREATE TABLE public.ledger_qr_codes (
  id text PRIMARY KEY,
  merchant_account_id text NOT NULL,
  amount bigint NOT NULL CHECK (amount > 0),
  currency text NOT NULL,
  reference text NOT NULL CHECK (length(reference) BETWEEN 1 AND 255),
  expires_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  -- The one claim of a payment: who pays, under which idempotency key (its digest), by which
  -- transfer; released when the payment is refused, stamped `paid_at` when it applies.
  payer_account_id text,
  claim_digest text,
  payment_id text,
  claimed_at timestamptz,
  paid_at timestamptz,
  CHECK ((claim_digest IS NULL) = (payer_account_id IS NULL)),
  CHECK ((claim_digest IS NULL) = (payment_id IS NULL)),
  CHECK (paid_at IS NULL OR claim_digest IS NOT NULL)
);

CREATE TABLE public.ledger_payment_batches (
  id text PRIMARY KEY,
  format text NOT NULL CHECK (format IN ('csv', 'jsonl')),
  state text NOT NULL CHECK (state IN ('processing', 'completed')),
  line_count integer NOT NULL CHECK (line_count >= 0),
  item_count integer NOT NULL CHECK (item_count >= 0),
  -- Moved forward by the process running the batch; a batch whose heartbeat is old is resumed.
  heartbeat_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL,
  completed_at timestamptz
);
CREATE INDEX ledger_payment_batches_processing ON public.ledger_payment_batches (heartbeat_at)
  WHERE state = 'processing';

-- One row per line of the file that is an item or a bad line (blank lines and the CSV header
-- have none). `waiting` until its outcome is known; then `done` with the ledger's status or the
-- line's error code.
CREATE TABLE public.ledger_payment_batch_items (
  batch_id text NOT NULL REFERENCES public.ledger_payment_batches (id),
  line integer NOT NULL CHECK (line > 0),
  debit_account_id text,
  credit_account_id text,
  amount bigint CHECK (amount IS NULL OR amount > 0),
  currency text,
  reference text,
  state text NOT NULL CHECK (state IN ('waiting', 'done')),
  status text,
  detail text,
  fee bigint,
  replayed boolean NOT NULL DEFAULT false,
  decided_at timestamptz,
  PRIMARY KEY (batch_id, line),
  CHECK ((state = 'done') = (status IS NOT NULL))
);
CREATE INDEX ledger_payment_batch_items_waiting ON public.ledger_payment_batch_items (batch_id, line)
  WHERE state = 'waiting';

-- The fee of a cross-shard payment: pending from the payer with the transfer's first leg, in the
-- same transaction; posted when the transfer posts, voided when it voids.
CREATE TABLE public.ledger_payment_fees (
  transfer_id text PRIMARY KEY,
  fee_id text NOT NULL,
  debit_account_id text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
