-- Cross-shard transfers (decision 49, "Across shards"): a coordinator row on the debtor's shard,
-- written in the same transaction as the first leg (an outbox), and the call that writes both.
--
-- States: `pending_debit` (leg 1 pending here: debtor -> the in_transit stripe), `credit_pending`
-- (leg 2 pending on the creditor's shard too), `posting` (leg 1 posted here, leg 2 being
-- posted), `posted`; or `voiding` (a leg refused: the pending legs being voided), `voided`.
CREATE TABLE public.ledger_cross_shard (
  id text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 200),
  debit_account_id text NOT NULL,
  credit_account_id text NOT NULL,
  amount bigint NOT NULL CHECK (amount > 0),
  currency text NOT NULL,
  reference text CHECK (reference IS NULL OR length(reference) <= 255),
  timeout_seconds integer NOT NULL CHECK (timeout_seconds > 0),
  -- The in_transit stripes: this shard's (leg 1's credit), fixed with leg 1; the creditor
  -- shard's (leg 2's debit), fixed once by the first driver that reaches leg 2.
  debit_transit_id text NOT NULL,
  credit_transit_id text,
  state text NOT NULL CHECK (state IN ('pending_debit', 'credit_pending', 'posting', 'posted',
                                       'voiding', 'voided')),
  -- Whether leg 2 was applied (so voiding voids it too), and why a transfer is voided.
  credit_leg_pending boolean NOT NULL DEFAULT false,
  void_reason text,
  attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  last_error text,
  next_attempt_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
-- What a driver scans: the rows not final, due first.
CREATE INDEX ledger_cross_shard_due ON public.ledger_cross_shard (next_attempt_at)
  WHERE state NOT IN ('posted', 'voided');

-- Starts a cross-shard transfer on the debtor's shard, in the caller's transaction: leg 1 (a
-- pending transfer `<id>:debit` from the debtor to an in_transit stripe of `p_transit_code`
-- here) through `ledger_apply_batch`, and, when it is pending, the coordinator row. A retry is
-- answered from the row (`pending`, replayed) or from leg 1's stored refusal; the same id with
-- other fields is `exists_with_different_fields`. `in_transit_account_not_found` when this shard
-- has no stripe of the code in the currency (a setup fault, nothing is written).
CREATE FUNCTION public.ledger_cross_shard_start(
  p_id text, p_debit text, p_credit text, p_amount bigint, p_currency text, p_reference text,
  p_transit_code text, p_timeout integer
) RETURNS TABLE (o_status text, o_replayed boolean, o_state text)
LANGUAGE plpgsql AS $fn$
DECLARE
  v_row public.ledger_cross_shard;
  v_leg text := p_id || ':debit';
  v_transit text;
  v_count integer;
  v_status text;
  v_replayed boolean;
  v_now timestamptz;
BEGIN
  SELECT * INTO v_row FROM public.ledger_cross_shard WHERE id = p_id;
  IF NOT FOUND THEN
    -- Leg 1's stripe: the one a first attempt chose, else one picked by the id.
    SELECT credit_account_id INTO v_transit FROM public.ledger_transfers WHERE id = v_leg;
    IF v_transit IS NULL THEN
      SELECT count(*) INTO v_count FROM public.ledger_accounts
       WHERE code = p_transit_code AND currency = p_currency AND kind = 'in_transit';
      IF v_count = 0 THEN
        RETURN QUERY SELECT 'in_transit_account_not_found'::text, false, NULL::text;
        RETURN;
      END IF;
      SELECT id INTO v_transit FROM public.ledger_accounts
       WHERE code = p_transit_code AND currency = p_currency AND kind = 'in_transit'
       ORDER BY stripe
       OFFSET ((hashtextextended(p_id, 0) & 9223372036854775807) % v_count) LIMIT 1;
    END IF;
    SELECT b.o_status, b.o_replayed INTO v_status, v_replayed
      FROM public.ledger_apply_batch(ARRAY[v_leg], ARRAY['pending'], ARRAY[p_debit],
             ARRAY[v_transit], ARRAY[p_amount], ARRAY[p_currency], ARRAY[NULL::text],
             ARRAY[p_timeout], ARRAY[false], ARRAY[p_reference]) b;
    IF v_status <> 'pending' THEN
      RETURN QUERY SELECT v_status, v_replayed, NULL::text;
      RETURN;
    END IF;
    v_now := clock_timestamp();
    INSERT INTO public.ledger_cross_shard (id, debit_account_id, credit_account_id, amount,
           currency, reference, timeout_seconds, debit_transit_id, state, next_attempt_at,
           created_at, updated_at)
    VALUES (p_id, p_debit, p_credit, p_amount, p_currency, p_reference, p_timeout, v_transit,
            'pending_debit', v_now, v_now, v_now)
    ON CONFLICT (id) DO NOTHING;
    IF FOUND THEN
      RETURN QUERY SELECT 'pending'::text, false, 'pending_debit'::text;
      RETURN;
    END IF;
    -- A concurrent start of the same id wrote the row first: answer as a retry.
    SELECT * INTO v_row FROM public.ledger_cross_shard WHERE id = p_id;
  END IF;
  IF v_row.debit_account_id IS DISTINCT FROM p_debit
     OR v_row.credit_account_id IS DISTINCT FROM p_credit
     OR v_row.amount IS DISTINCT FROM p_amount
     OR v_row.currency IS DISTINCT FROM p_currency
     OR v_row.reference IS DISTINCT FROM p_reference THEN
    RETURN QUERY SELECT 'exists_with_different_fields'::text, false, NULL::text;
    RETURN;
  END IF;
  RETURN QUERY SELECT 'pending'::text, true, v_row.state;
END
$fn$;
