-- The audit trail of this shard: who did what, when, from where, with what outcome, as one hash
-- chain (docs/operating/audit.md). Each entry's hash covers the previous entry's hash, its own
-- seq and every field, computed by the API process (src/audit/audit-hash.ts), never here: a
-- superuser could replace a function in this database, but not the verifier's own code.
--
-- seq is not an identity column: a sequence is not replicated, so the logical copy that becomes
-- the home at a DC loss would start it again at 1. It is taken from audit_chain_head, whose one
-- row each append locks (FOR UPDATE), so appends serialize per shard and seq has no gaps.
CREATE TABLE public.audit_log (
  seq         bigint PRIMARY KEY CHECK (seq >= 1),
  entry_id    uuid NOT NULL UNIQUE,
  at          timestamptz NOT NULL,
  actor_kind  text NOT NULL,
  actor       text NOT NULL,
  action      text NOT NULL,
  target      text,
  source_ip   text,
  outcome     integer NOT NULL,
  request_id  text,
  detail      jsonb,
  prev_hash   bytea NOT NULL CHECK (octet_length(prev_hash) = 32),
  hash        bytea NOT NULL CHECK (octet_length(hash) = 32)
);
CREATE INDEX audit_log_at ON public.audit_log (at, seq);
CREATE INDEX audit_log_actor ON public.audit_log (actor, at, seq);

-- The end of the chain: the last entry's seq and hash. No row until the first append, which
-- creates it from the log (a copy made by initial copy must not hold a row of its own).
CREATE TABLE public.audit_chain_head (
  id    boolean PRIMARY KEY DEFAULT true CHECK (id),
  seq   bigint NOT NULL,
  hash  bytea NOT NULL CHECK (octet_length(hash) = 32)
);

-- Append-only: UPDATE and DELETE are refused. A superuser can disable the trigger; the chain
-- makes that detectable, not impossible. TRUNCATE is not refused: the fleet empties a copy's
-- tables to rebuild it. Triggers do not fire in logical replication's apply worker.
CREATE FUNCTION public.audit_log_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'public.audit_log is append-only: % refused', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON public.audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION public.audit_log_refuse_change();
