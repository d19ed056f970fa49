
CREATE TABLE public.card_accounts (
  id text PRIMARY KEY,
  currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  credit_limit bigint NOT NULL CHECK (credit_limit >= 0),
  held bigint NOT NULL DEFAULT 0 CHECK (held >= 0),
  posted bigint NOT NULL DEFAULT 0 CHECK (posted >= 0),
  status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE public.cards (
  id text PRIMARY KEY,
  account_id text NOT NULL REFERENCES public.card_accounts (id),
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'blocked')),
  brand text NOT NULL,
  last4 text NOT NULL CHECK (last4 ~ '^[0-9]{4}$'),
  expiry_month integer NOT NULL CHECK (expiry_month BETWEEN 1 AND 12),
  expiry_year integer NOT NULL CHECK (expiry_year BETWEEN 2000 AND 2999),
  velocity_count_max integer NOT NULL CHECK (velocity_count_max >= 0),
  velocity_window_seconds integer NOT NULL CHECK (velocity_window_seconds > 0),
  velocity_window_started_at timestamptz,
  velocity_count integer NOT NULL DEFAULT 0 CHECK (velocity_count >= 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cards_account_id ON public.cards (account_id);