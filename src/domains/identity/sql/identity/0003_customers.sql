-- Customers, their phone codes, KYC documents and the development outbox. A customer's id is
-- minted in the bucket of `customer:<phone>`, so login by phone is one keyed read; every row of a
-- customer (codes, documents) carries the customer's bucket and lives on the same shard.
-- Personal data is sealed (AES-256-GCM, key purpose `identity-data-encryption`, bound to the
-- customer and field); what must be found or compared is kept as a keyed hash (HMAC-SHA256 under
-- a key derived from the same purpose key with a label of its own): the phone, the identity
-- number, the bank card. No column holds a phone, a name, an identity or a card number in clear
-- (the development outbox keeps the text of each message, one-time codes included).
CREATE TABLE public.identity_customers (
  customer_id           text PRIMARY KEY CHECK (customer_id ~ '^cus_[0-9A-Z]{30}$'),
  phone_lookup          bytea NOT NULL UNIQUE CHECK (octet_length(phone_lookup) = 32),
  phone_sealed          text NOT NULL,
  password_hash         text NOT NULL,
  kyc_level             smallint NOT NULL DEFAULT 0 CHECK (kyc_level BETWEEN 0 AND 3),
  phone_verified_at     timestamptz,
  full_name_sealed      text,
  id_type               text CHECK (id_type IN ('cn_resident', 'generic')),
  id_number_sealed      text,
  id_number_lookup      bytea CHECK (octet_length(id_number_lookup) = 32),
  real_name_verified_at timestamptz,
  card_last4            text CHECK (card_last4 ~ '^[0-9]{4}$'),
  card_lookup           bytea CHECK (octet_length(card_lookup) = 32),
  card_verified_at      timestamptz,
  review_status         text NOT NULL DEFAULT 'none'
    CHECK (review_status IN ('none', 'pending', 'approved', 'rejected')),
  review_requested_at   timestamptz,
  reviewed_at           timestamptz,
  reviewed_by           text,
  review_reason         text CHECK (char_length(review_reason) BETWEEN 1 AND 1000),
  payment_user_id       text,
  failed_logins         integer NOT NULL DEFAULT 0,
  locked_until          timestamptz,
  created_at            timestamptz NOT NULL DEFAULT now(),
  disabled_at           timestamptz,
  CHECK ((kyc_level >= 1) = (phone_verified_at IS NOT NULL)),
  CHECK (kyc_level < 2 OR real_name_verified_at IS NOT NULL),
  CHECK (kyc_level < 3 OR (card_verified_at IS NOT NULL AND review_status = 'approved'))
);
-- The review queue: pending customers of a shard, oldest id first.
CREATE INDEX identity_customers_review ON public.identity_customers (review_status, customer_id);

-- One identity number, one customer, across every shard: the claim lives on the shard of the
-- number's own bucket and is taken before the customer's row is written.
CREATE TABLE public.identity_id_number_claims (
  id_number_lookup bytea PRIMARY KEY CHECK (octet_length(id_number_lookup) = 32),
  customer_id      text NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now()
);

-- One-time codes sent to a phone: only a keyed hash of the code is kept, with the password the
-- registration that asked for it chose (set on the account when the code confirms the phone).
CREATE TABLE public.identity_phone_codes (
  code_id       text PRIMARY KEY CHECK (code_id ~ '^pcode_[0-9A-Z]{30}$'),
  customer_id   text NOT NULL REFERENCES public.identity_customers (customer_id),
  code_hash     bytea NOT NULL CHECK (octet_length(code_hash) = 32),
  password_hash text NOT NULL,
  attempts      integer NOT NULL DEFAULT 0,
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL,
  used_at       timestamptz
);
CREATE INDEX identity_phone_codes_customer ON public.identity_phone_codes (customer_id, code_id DESC);

CREATE TABLE public.identity_customer_documents (
  document_id    text PRIMARY KEY CHECK (document_id ~ '^kdoc_[0-9A-Z]{30}$'),
  customer_id    text NOT NULL REFERENCES public.identity_customers (customer_id),
  kind           text NOT NULL CHECK (kind IN ('id_front', 'id_back', 'selfie', 'proof_of_address')),
  media_type     text NOT NULL CHECK (media_type IN ('image/jpeg', 'image/png', 'application/pdf')),
  size_bytes     integer NOT NULL CHECK (size_bytes BETWEEN 1 AND 524288),
  content_sealed text NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX identity_customer_documents_customer
  ON public.identity_customer_documents (customer_id, document_id);

-- What the development message provider "sent": each text message, on the shard of the phone's
-- customer bucket. A production deployment sends through a real provider and leaves it empty.
CREATE TABLE public.identity_outbox (
  message_id   text PRIMARY KEY CHECK (message_id ~ '^msg_[0-9A-Z]{30}$'),
  phone_lookup bytea NOT NULL CHECK (octet_length(phone_lookup) = 32),
  body         text NOT NULL CHECK (char_length(body) BETWEEN 1 AND 1000),
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX identity_outbox_phone ON public.identity_outbox (phone_lookup, message_id DESC);
