-- Cards on the ledger (decision 52): every change of what an authorization holds or has
-- captured leaves a row in card_ledger_outbox in the same transaction as the change, whichever
-- writer made it (the engine's batches, the hold sweeper, a kept stand-in answer). A leased job
-- drains the rows to the ledger by ids derived from (authorization_id, generation).

-- An authorization's count of ledger events so far; each event is numbered by it.
ALTER TABLE public.authorizations ADD COLUMN ledger_generation integer NOT NULL DEFAULT 0;

CREATE TABLE public.card_ledger_outbox (
  authorization_id text NOT NULL,
  generation integer NOT NULL CHECK (generation >= 0),
  account_id text NOT NULL,
  merchant_id text NOT NULL,
  currency text NOT NULL,
  -- What the authorization held before and after the event (0 unless its hold is open).
  held_before bigint NOT NULL CHECK (held_before >= 0),
  held_after bigint NOT NULL CHECK (held_after >= 0),
  -- What the event captured.
  captured bigint NOT NULL CHECK (captured >= 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_error text,
  PRIMARY KEY (authorization_id, generation)
);
CREATE INDEX card_ledger_outbox_due ON public.card_ledger_outbox (next_attempt_at);
CREATE INDEX card_ledger_outbox_account ON public.card_ledger_outbox (account_id);

-- The generation moves on when the open hold or the captured amount changes.
CREATE FUNCTION public.card_ledger_next_generation() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
  NEW.ledger_generation := OLD.ledger_generation + 1;
  RETURN NEW;
END
$fn$;
CREATE TRIGGER authorizations_ledger_generation
  BEFORE UPDATE OF held_amount, captured_amount, hold_state ON public.authorizations
  FOR EACH ROW
  WHEN ((CASE WHEN OLD.hold_state = 'open' THEN OLD.held_amount ELSE 0 END)
        IS DISTINCT FROM (CASE WHEN NEW.hold_state = 'open' THEN NEW.held_amount ELSE 0 END)
        OR OLD.captured_amount IS DISTINCT FROM NEW.captured_amount)
  EXECUTE FUNCTION public.card_ledger_next_generation();

-- New authorizations that hold (or captured) money: one statement per inserting statement.
CREATE FUNCTION public.card_ledger_outbox_on_insert() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
  INSERT INTO public.card_ledger_outbox (authorization_id, generation, account_id, merchant_id,
    currency, held_before, held_after, captured)
  SELECT n.id, n.ledger_generation, n.account_id, n.merchant_id, n.currency, 0,
         CASE WHEN n.hold_state = 'open' THEN n.held_amount ELSE 0 END, n.captured_amount
    FROM card_ledger_inserted n
   WHERE n.account_id IS NOT NULL
     AND ((n.hold_state = 'open' AND n.held_amount > 0) OR n.captured_amount > 0);
  RETURN NULL;
END
$fn$;
CREATE TRIGGER authorizations_ledger_outbox_insert
  AFTER INSERT ON public.authorizations
  REFERENCING NEW TABLE AS card_ledger_inserted
  FOR EACH STATEMENT EXECUTE FUNCTION public.card_ledger_outbox_on_insert();

-- Changed authorizations: a row per generation the statement moved on.
CREATE FUNCTION public.card_ledger_outbox_on_update() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
  INSERT INTO public.card_ledger_outbox (authorization_id, generation, account_id, merchant_id,
    currency, held_before, held_after, captured)
  SELECT n.id, n.ledger_generation, n.account_id, n.merchant_id, n.currency,
         CASE WHEN o.hold_state = 'open' THEN o.held_amount ELSE 0 END,
         CASE WHEN n.hold_state = 'open' THEN n.held_amount ELSE 0 END,
         n.captured_amount - o.captured_amount
    FROM card_ledger_new n JOIN card_ledger_old o ON o.id = n.id
   WHERE n.ledger_generation <> o.ledger_generation AND n.account_id IS NOT NULL;
  RETURN NULL;
END
$fn$;
CREATE TRIGGER authorizations_ledger_outbox_update
  AFTER UPDATE ON public.authorizations
  REFERENCING OLD TABLE AS card_ledger_old NEW TABLE AS card_ledger_new
  FOR EACH STATEMENT EXECUTE FUNCTION public.card_ledger_outbox_on_update();

-- What authorizations already hold or captured goes to the ledger as their generation 0.
INSERT INTO public.card_ledger_outbox (authorization_id, generation, account_id, merchant_id,
  currency, held_before, held_after, captured)
SELECT a.id, a.ledger_generation, a.account_id, a.merchant_id, a.currency, 0,
       CASE WHEN a.hold_state = 'open' THEN a.held_amount ELSE 0 END, a.captured_amount
  FROM public.authorizations a
 WHERE a.account_id IS NOT NULL
   AND ((a.hold_state = 'open' AND a.held_amount > 0) OR a.captured_amount > 0);
