-- API clients (OAuth2 client credentials) and API keys, each row on the shard its id's bucket
-- names, so that a lookup is one keyed read and the credentials survive a DC failover with the
-- data they guard. Neither table holds a usable secret:
--   * a client's secret is derived from the fleet's root key (purpose `api-credentials`, the
--     key named by secret_key_id) and secret_salt; a new salt is a new secret;
--   * an API key's secret is kept as its SHA-256 (the secret is 256 random bits, so a fast hash
--     is as strong as a slow one and costs nothing per request).
CREATE TABLE public.identity_api_clients (
  client_id     text PRIMARY KEY,
  name          text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
  scopes        text[] NOT NULL,
  secret_key_id text NOT NULL,
  secret_salt   text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  revoked_at    timestamptz
);

CREATE TABLE public.identity_api_keys (
  key_id        text PRIMARY KEY,
  name          text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
  scopes        text[] NOT NULL,
  secret_sha256 bytea NOT NULL CHECK (octet_length(secret_sha256) = 32),
  created_at    timestamptz NOT NULL DEFAULT now(),
  revoked_at    timestamptz,
  last_used_at  timestamptz
);
