
CREATE TABLE catalog_epoch (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  epoch bigint NOT NULL CHECK (epoch > 0),
  bucket_count integer NOT NULL CHECK (bucket_count > 0),
  changed_at timestamptz NOT NULL DEFAULT now(),
  reason text NOT NULL
);
CREATE TABLE data_centres (
  id text PRIMARY KEY,
  synchronous_commit text NOT NULL
);
CREATE TABLE servers (
  id text PRIMARY KEY,
  dc text REFERENCES data_centres (id),
  role text NOT NULL CHECK (role IN ('primary', 'replica', 'witness')),
  host text NOT NULL,
  port integer NOT NULL CHECK (port BETWEEN 1 AND 65535),
  upstream text REFERENCES servers (id)
);
CREATE TABLE shards (
  id integer PRIMARY KEY CHECK (id >= 0),
  database text NOT NULL UNIQUE,
  home_dc text NOT NULL REFERENCES data_centres (id),
  copy_dc text NOT NULL REFERENCES data_centres (id),
  CHECK (home_dc <> copy_dc)
);
CREATE TABLE shard_buckets (
  bucket integer PRIMARY KEY CHECK (bucket >= 0),
  shard_id integer NOT NULL REFERENCES shards (id)
);
CREATE TABLE catalog_events (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  epoch bigint NOT NULL,
  reason text NOT NULL
);
CREATE TABLE catalog_flags (
  name text PRIMARY KEY,
  value text NOT NULL,
  set_at timestamptz NOT NULL DEFAULT now()
);