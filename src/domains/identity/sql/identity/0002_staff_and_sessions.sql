-- Staff accounts and sessions. A staff member's id is minted in the bucket of its username, so
-- a login finds the row with one keyed read, and the per-shard UNIQUE on username is global.
-- The password is an argon2id hash (PHC string); the TOTP secret is sealed (AES-256-GCM, key
-- purpose `identity-data-encryption`); totp_last_step refuses a code used twice.
CREATE TABLE public.identity_staff (
  staff_id        text PRIMARY KEY,
  username        text NOT NULL UNIQUE CHECK (username ~ '^[a-z][a-z0-9._-]{2,63}$'),
  display_name    text NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 200),
  roles           text[] NOT NULL,
  password_hash   text NOT NULL,
  totp_sealed     text NOT NULL,
  totp_last_step  bigint NOT NULL DEFAULT 0,
  failed_logins   integer NOT NULL DEFAULT 0,
  locked_until    timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  disabled_at     timestamptz
);

-- Sessions of people (staff now, customers later), on the shard of the person: the token is
-- `mainstay_ss_<session id>_<secret>`, the secret kept as its SHA-256.
CREATE TABLE public.identity_sessions (
  session_id     text PRIMARY KEY,
  person_id      text NOT NULL,
  person_kind    text NOT NULL CHECK (person_kind IN ('staff', 'customer')),
  secret_sha256  bytea NOT NULL CHECK (octet_length(secret_sha256) = 32),
  created_at     timestamptz NOT NULL DEFAULT now(),
  expires_at     timestamptz NOT NULL,
  revoked_at     timestamptz,
  source_ip      text
);
CREATE INDEX identity_sessions_person ON public.identity_sessions (person_id);
