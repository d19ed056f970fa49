
CREATE TABLE public.payment_users (
  id text PRIMARY KEY CHECK (id ~ '^usr_[0-9A-Z]{30}$'),
  full_name text NOT NULL CHECK (length(full_name) BETWEEN 1 AND 200),
  email text CHECK (email IS NULL OR length(email) BETWEEN 3 AND 254),
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE public.card_vault (
  token text PRIMARY KEY CHECK (token ~ '^ctok_[0-9A-Z]{30}$'),
  key_id text NOT NULL,
  nonce bytea NOT NULL CHECK (length(nonce) = 12),
  ciphertext bytea NOT NULL CHECK (length(ciphertext) BETWEEN 1 AND 1024),
  auth_tag bytea NOT NULL CHECK (length(auth_tag) = 16),
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE public.bound_cards (
  id text PRIMARY KEY CHECK (id ~ '^bcard_[0-9A-Z]{30}$'),
  user_id text NOT NULL REFERENCES public.payment_users (id),
  token text NOT NULL,
  pan_hash text NOT NULL CHECK (pan_hash ~ '^[0-9a-f]{64}$'),
  brand text NOT NULL
    CHECK (brand IN ('visa', 'mastercard', 'amex', 'unionpay', 'jcb', 'discover')),
  last4 text NOT NULL CHECK (last4 ~ '^[0-9]{4}$'),
  expiry_month smallint NOT NULL CHECK (expiry_month BETWEEN 1 AND 12),
  expiry_year smallint NOT NULL CHECK (expiry_year BETWEEN 2000 AND 2199),
  is_default boolean NOT NULL DEFAULT false,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'unbound')),
  created_at timestamptz NOT NULL DEFAULT now(),
  unbound_at timestamptz,
  CHECK (status = 'active' OR NOT is_default),
  CHECK ((status = 'unbound') = (unbound_at IS NOT NULL))
);
-- One active binding per card and user: the duplicate check's backstop.
CREATE UNIQUE INDEX bound_cards_active_card ON public.bound_cards (user_id, pan_hash)
  WHERE status = 'active';
-- At most one default per user (exactly one is kept by the service under the user's lock).
CREATE UNIQUE INDEX bound_cards_default ON public.bound_cards (user_id) WHERE is_default;
-- The list path: a user's active cards, newest first, by id (ids sort by creation).
CREATE INDEX bound_cards_active_by_user ON public.bound_cards (user_id, id DESC)
  WHERE status = 'active';