
CREATE TABLE public.demo_customers (
  id text PRIMARY KEY,
  bucket integer NOT NULL CHECK (bucket >= 0),
  full_name text NOT NULL,
  country text NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
  created_at timestamptz NOT NULL DEFAULT now()
);