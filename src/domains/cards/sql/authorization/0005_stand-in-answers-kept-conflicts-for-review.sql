
ALTER TABLE public.stand_in_reconciliations DROP CONSTRAINT stand_in_reconciliations_result_check;
ALTER TABLE public.stand_in_reconciliations ADD CONSTRAINT stand_in_reconciliations_result_check
  CHECK (result IN ('matched', 'exposure', 'duplicate_dropped', 'declined_recorded',
                    'answer_conflict'));
CREATE TABLE public.stand_in_conflicts (
  authorization_id text PRIMARY KEY,
  card_id text NOT NULL,
  request_id text NOT NULL,
  issuer_status text NOT NULL,
  stand_in_status text NOT NULL,
  amount bigint NOT NULL,
  currency text NOT NULL,
  resolution text NOT NULL
    CHECK (resolution IN ('stand_in_answer_kept', 'issuer_answer_kept')),
  detail text NOT NULL,
  detected_at timestamptz NOT NULL DEFAULT now()
);
CREATE FUNCTION public.card_keep_stand_in_answer(
  p_card_id text, p_request_id text, p_status text, p_amount bigint, p_currency text,
  p_decided_at timestamptz, p_hold_seconds integer
) RETURNS TABLE (o_result text, o_status text, o_id text, o_exposure bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
  v_account text;
  v_currency text;
  a public.authorizations%ROWTYPE;
  v_hold boolean;
  v_exposure bigint;
  v_resolution text;
BEGIN
  SELECT account_id INTO v_account FROM public.authorizations
   WHERE card_id = p_card_id AND request_id = p_request_id;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'missing'::text, NULL::text, NULL::text, 0::bigint;
    RETURN;
  END IF;
  -- The account first, then the authorization: the lock order of every writer of holds.
  IF v_account IS NOT NULL THEN
    SELECT currency INTO v_currency FROM public.card_accounts WHERE id = v_account
       FOR NO KEY UPDATE;
  END IF;
  SELECT * INTO a FROM public.authorizations
   WHERE card_id = p_card_id AND request_id = p_request_id FOR UPDATE;
  IF a.decided_by = 'stand_in' OR a.status = p_status
     OR EXISTS (SELECT 1 FROM public.stand_in_conflicts WHERE authorization_id = a.id) THEN
    RETURN QUERY SELECT 'duplicate_dropped'::text, a.status, a.id, 0::bigint;
    RETURN;
  END IF;
  IF a.captured_amount > 0 OR a.reversed_amount > 0 THEN
    v_resolution := 'issuer_answer_kept';
    v_exposure := 0;
  ELSE
    v_resolution := 'stand_in_answer_kept';
    v_hold := p_status = 'approved' AND v_account IS NOT NULL AND v_currency = p_currency;
    v_exposure := CASE WHEN p_status = 'approved' THEN p_amount ELSE 0 END;
    UPDATE public.card_accounts
       SET held = held - CASE WHEN a.hold_state = 'open' THEN a.held_amount ELSE 0 END
                       + CASE WHEN v_hold THEN p_amount ELSE 0 END,
           updated_at = now()
     WHERE id = v_account;
    UPDATE public.authorizations
       SET status = p_status, decided_by = 'stand_in', issuer_status = a.status,
           held_amount = CASE WHEN v_hold THEN p_amount ELSE 0 END,
           hold_state = CASE WHEN v_hold THEN 'open' ELSE 'none' END,
           hold_expires_at = CASE WHEN v_hold
                                  THEN p_decided_at + make_interval(secs => p_hold_seconds) END,
           exposure_amount = v_exposure, updated_at = now()
     WHERE id = a.id;
  END IF;
  INSERT INTO public.stand_in_conflicts (authorization_id, card_id, request_id, issuer_status,
    stand_in_status, amount, currency, resolution, detail)
  VALUES (a.id, p_card_id, p_request_id, a.status, p_status, p_amount, p_currency, v_resolution,
    CASE WHEN v_resolution = 'issuer_answer_kept'
         THEN format('the issuer''s hold was already moved (captured %s, reversed %s)',
                     a.captured_amount, a.reversed_amount)
         ELSE format('the issuer had decided %s; stand-in answered %s', a.status, p_status) END)
  ON CONFLICT (authorization_id) DO NOTHING;
  INSERT INTO public.stand_in_reconciliations (authorization_id, card_id, request_id, result,
    stand_in_status, issuer_status, amount, currency, exposure_amount, decided_at)
  VALUES (a.id, p_card_id, p_request_id, 'answer_conflict', p_status, a.status, p_amount,
    p_currency, v_exposure, p_decided_at)
  ON CONFLICT (authorization_id) DO UPDATE
    SET result = 'answer_conflict', stand_in_status = p_status, issuer_status = a.status,
        exposure_amount = v_exposure, applied_at = now()
    WHERE public.stand_in_reconciliations.result = 'duplicate_dropped';
  RETURN QUERY SELECT 'answer_conflict'::text,
    CASE WHEN v_resolution = 'issuer_answer_kept' THEN a.status ELSE p_status END, a.id,
    v_exposure;
END
$fn$;