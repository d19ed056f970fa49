
CREATE TABLE public.stand_in_quarantine (
  authorization_id text PRIMARY KEY,
  card_id text NOT NULL,
  request_id text NOT NULL,
  stand_in_status text NOT NULL,
  amount numeric NOT NULL,
  currency text NOT NULL,
  decided_at text NOT NULL,
  error_code text NOT NULL,
  error_message text NOT NULL,
  failure_count integer NOT NULL CHECK (failure_count > 0),
  advice jsonb NOT NULL,
  quarantined_at timestamptz NOT NULL DEFAULT now()
);