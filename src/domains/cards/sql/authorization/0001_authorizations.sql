
CREATE TABLE public.authorizations (
  id text PRIMARY KEY,
  request_id text NOT NULL CHECK (length(request_id) BETWEEN 1 AND 255),
  card_id text NOT NULL,
  account_id text,
  status text NOT NULL,
  decided_by text NOT NULL CHECK (decided_by IN ('issuer', 'stand_in')),
  amount bigint NOT NULL CHECK (amount > 0),
  currency text NOT NULL,
  merchant_id text NOT NULL,
  merchant_category text NOT NULL,
  merchant_reference text,
  held_amount bigint NOT NULL DEFAULT 0 CHECK (held_amount >= 0),
  captured_amount bigint NOT NULL DEFAULT 0 CHECK (captured_amount >= 0),
  reversed_amount bigint NOT NULL DEFAULT 0 CHECK (reversed_amount >= 0),
  hold_state text NOT NULL CHECK (hold_state IN ('open', 'closed', 'expired', 'none')),
  hold_expires_at timestamptz,
  fingerprint text NOT NULL,
  issuer_status text,
  exposure_amount bigint NOT NULL DEFAULT 0 CHECK (exposure_amount >= 0),
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK (held_amount + captured_amount + reversed_amount <= amount),
  UNIQUE (card_id, request_id)
);
CREATE INDEX authorizations_reference ON public.authorizations (card_id, merchant_id, merchant_reference)
  WHERE merchant_reference IS NOT NULL AND status = 'approved';
CREATE INDEX authorizations_open_holds ON public.authorizations (hold_expires_at)
  WHERE hold_state = 'open';
CREATE TABLE public.stand_in_reconciliations (
  authorization_id text PRIMARY KEY,
  card_id text NOT NULL,
  request_id text NOT NULL,
  result text NOT NULL CHECK (result IN ('matched', 'exposure', 'duplicate_dropped', 'declined_recorded')),
  stand_in_status text NOT NULL,
  issuer_status text NOT NULL,
  amount bigint NOT NULL,
  currency text NOT NULL,
  exposure_amount bigint NOT NULL CHECK (exposure_amount >= 0),
  decided_at timestamptz NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION public.card_authorize_batch(
  p_ids text[], p_request_ids text[], p_card_idx integer[], p_card_ids text[],
  p_amounts bigint[], p_currencies text[], p_merchant_ids text[], p_categories text[],
  p_references text[], p_ref_prev integer[], p_fingerprints text[],
  p_stand_in text[], p_decided_at timestamptz[], p_hold_seconds integer
) RETURNS TABLE (
  o_pos integer, o_outcome text, o_issuer_status text, o_exposure bigint,
  o_id text, o_request_id text, o_card_id text, o_account_id text, o_status text,
  o_decided_by text, o_amount bigint, o_currency text, o_merchant_id text,
  o_merchant_category text, o_merchant_reference text, o_held_amount bigint,
  o_captured_amount bigint, o_reversed_amount bigint, o_hold_state text,
  o_hold_expires_at timestamptz, o_created_at timestamptz, o_flag_status text,
  o_exposure_amount bigint
) LANGUAGE plpgsql AS $fn$
DECLARE
  n integer := coalesce(cardinality(p_ids), 0);
  v_now timestamptz := now();
  v_month integer := (extract(year FROM v_now AT TIME ZONE 'UTC') * 12
                      + extract(month FROM v_now AT TIME ZONE 'UTC'))::integer;
  c_found boolean[]; c_acct integer[]; c_blocked boolean[]; c_expiry integer[];
  c_vel_max integer[]; c_vel_start timestamptz[]; c_vel_count integer[]; c_vel_dirty boolean[];
  a_ids text[]; a_currency text[]; a_limit bigint[]; a_held bigint[]; a_posted bigint[];
  a_open boolean[]; a_dirty boolean[];
  e_id text[] := array_fill(NULL::text, ARRAY[n]);
  e_fp text[] := array_fill(NULL::text, ARRAY[n]);
  e_dup boolean[] := array_fill(false, ARRAY[n]);
  ref_ok boolean[] := array_fill(false, ARRAY[n]);
  r_outcome text[] := array_fill(NULL::text, ARRAY[n]);
  r_issuer text[] := array_fill(NULL::text, ARRAY[n]);
  r_status text[] := array_fill(NULL::text, ARRAY[n]);
  r_account text[] := array_fill(NULL::text, ARRAY[n]);
  r_exposure bigint[] := array_fill(0::bigint, ARRAY[n]);
  r_held bigint[] := array_fill(0::bigint, ARRAY[n]);
  r_hold_state text[] := array_fill('none'::text, ARRAY[n]);
  r_expires timestamptz[] := array_fill(NULL::timestamptz, ARRAY[n]);
  r_auth text[] := array_fill(NULL::text, ARRAY[n]);
  rec record;
  i integer; ci integer; ai integer; prev integer;
  st text; v_available bigint; v_hold boolean;
BEGIN
  IF n = 0 THEN
    RETURN;
  END IF;
  PERFORM 1 FROM public.card_accounts
    WHERE id IN (SELECT account_id FROM public.cards WHERE id = ANY (p_card_ids))
    ORDER BY id FOR NO KEY UPDATE;
  SELECT array_agg(id ORDER BY id), array_agg(currency ORDER BY id),
         array_agg(credit_limit ORDER BY id), array_agg(held ORDER BY id),
         array_agg(posted ORDER BY id), array_agg(status = 'open' ORDER BY id),
         array_agg(false ORDER BY id)
    INTO a_ids, a_currency, a_limit, a_held, a_posted, a_open, a_dirty
    FROM public.card_accounts
   WHERE id IN (SELECT account_id FROM public.cards WHERE id = ANY (p_card_ids));
  SELECT array_agg(c.id IS NOT NULL ORDER BY u.ord), array_agg(ac.ai::integer ORDER BY u.ord),
         array_agg(c.status = 'blocked' ORDER BY u.ord),
         array_agg(c.expiry_year * 12 + c.expiry_month ORDER BY u.ord),
         array_agg(c.velocity_count_max ORDER BY u.ord),
         array_agg(CASE WHEN c.velocity_window_started_at IS NULL
                          OR c.velocity_window_started_at
                             + make_interval(secs => c.velocity_window_seconds) <= v_now
                        THEN v_now ELSE c.velocity_window_started_at END ORDER BY u.ord),
         array_agg(CASE WHEN c.velocity_window_started_at IS NULL
                          OR c.velocity_window_started_at
                             + make_interval(secs => c.velocity_window_seconds) <= v_now
                        THEN 0 ELSE c.velocity_count END ORDER BY u.ord),
         array_agg(false ORDER BY u.ord)
    INTO c_found, c_acct, c_blocked, c_expiry, c_vel_max, c_vel_start, c_vel_count, c_vel_dirty
    FROM unnest(p_card_ids) WITH ORDINALITY u(id, ord)
    LEFT JOIN public.cards c ON c.id = u.id
    LEFT JOIN unnest(a_ids) WITH ORDINALITY ac(id, ai) ON ac.id = c.account_id;
  FOR rec IN
    SELECT u.ord::integer AS ord, a.id, a.fingerprint
      FROM unnest(p_card_idx, p_request_ids) WITH ORDINALITY u(ci, rid, ord)
      JOIN public.authorizations a ON a.card_id = p_card_ids[u.ci] AND a.request_id = u.rid
  LOOP
    e_id[rec.ord] := rec.id;
    e_fp[rec.ord] := rec.fingerprint;
  END LOOP;
  FOR rec IN
    SELECT u.ord::integer AS ord
      FROM unnest(p_card_idx, p_merchant_ids, p_references) WITH ORDINALITY u(ci, mid, ref, ord)
     WHERE u.ref IS NOT NULL AND EXISTS (
       SELECT 1 FROM public.authorizations a
        WHERE a.card_id = p_card_ids[u.ci] AND a.merchant_id = u.mid
          AND a.merchant_reference = u.ref AND a.status = 'approved')
  LOOP
    e_dup[rec.ord] := true;
  END LOOP;

  FOR i IN 1 .. n LOOP
    ci := p_card_idx[i];
    IF e_id[i] IS NOT NULL THEN
      r_auth[i] := e_id[i];
      r_outcome[i] := CASE WHEN p_stand_in[i] IS NOT NULL THEN 'duplicate_dropped'
                           WHEN e_fp[i] = p_fingerprints[i] THEN 'replayed' ELSE 'conflict' END;
      CONTINUE;
    END IF;
    ai := c_acct[ci];
    prev := p_ref_prev[i];
    v_available := CASE WHEN ai IS NULL THEN 0 ELSE a_limit[ai] - a_held[ai] - a_posted[ai] END;
    IF NOT c_found[ci] OR ai IS NULL THEN st := 'unknown_card';
    ELSIF NOT a_open[ai] THEN st := 'account_closed';
    ELSIF c_blocked[ci] THEN st := 'card_blocked';
    ELSIF c_expiry[ci] < v_month THEN st := 'card_expired';
    ELSIF p_currencies[i] <> a_currency[ai] THEN st := 'currency_mismatch';
    ELSIF e_dup[i] OR (prev IS NOT NULL AND ref_ok[prev]) THEN st := 'duplicate';
    ELSIF c_vel_count[ci] >= c_vel_max[ci] THEN st := 'velocity_exceeded';
    ELSIF p_amounts[i] > v_available THEN st := 'insufficient_credit';
    ELSE st := 'approved';
    END IF;
    r_issuer[i] := st;
    r_auth[i] := p_ids[i];
    r_account[i] := CASE WHEN ai IS NULL THEN NULL ELSE a_ids[ai] END;
    IF p_stand_in[i] IS NULL THEN
      r_status[i] := st;
      r_outcome[i] := 'new';
      v_hold := st = 'approved';
    ELSIF p_stand_in[i] = 'approved' THEN
      r_status[i] := 'approved';
      r_outcome[i] := CASE WHEN st = 'approved' THEN 'matched' ELSE 'exposure' END;
      r_exposure[i] := CASE WHEN st = 'approved' THEN 0
                            WHEN st = 'insufficient_credit'
                            THEN p_amounts[i] - greatest(v_available, 0)
                            ELSE p_amounts[i] END;
      -- The promised money is held wherever it can be: on the card's account, in its currency.
      v_hold := ai IS NOT NULL AND p_currencies[i] = a_currency[ai];
    ELSE
      r_status[i] := p_stand_in[i];
      r_outcome[i] := 'declined_recorded';
      v_hold := false;
    END IF;
    IF v_hold THEN
      a_held[ai] := a_held[ai] + p_amounts[i];
      a_dirty[ai] := true;
      c_vel_count[ci] := c_vel_count[ci] + 1;
      c_vel_dirty[ci] := true;
      r_held[i] := p_amounts[i];
      r_hold_state[i] := 'open';
      r_expires[i] := coalesce(p_decided_at[i], v_now) + make_interval(secs => p_hold_seconds);
    END IF;
    ref_ok[i] := p_references[i] IS NOT NULL
      AND (e_dup[i] OR (prev IS NOT NULL AND ref_ok[prev]) OR r_status[i] = 'approved');
  END LOOP;

  INSERT INTO public.authorizations (
    id, request_id, card_id, account_id, status, decided_by, amount, currency, merchant_id,
    merchant_category, merchant_reference, held_amount, hold_state, hold_expires_at,
    fingerprint, issuer_status, exposure_amount, created_at)
  SELECT u.id, u.rid, p_card_ids[u.ci], u.account, u.status,
         CASE WHEN u.stand_in IS NULL THEN 'issuer' ELSE 'stand_in' END,
         u.amount, u.currency, u.mid, u.category, u.ref, u.held, u.hold_state, u.expires,
         u.fp, CASE WHEN u.stand_in IS NULL THEN NULL ELSE u.issuer END, u.exposure,
         coalesce(u.decided_at, v_now)
    FROM unnest(p_ids, p_request_ids, p_card_idx, r_account, r_status, p_stand_in, p_amounts,
                p_currencies, p_merchant_ids, p_categories, p_references, r_held, r_hold_state,
                r_expires, p_fingerprints, r_issuer, r_exposure, p_decided_at, r_outcome)
         AS u(id, rid, ci, account, status, stand_in, amount, currency, mid, category, ref, held,
              hold_state, expires, fp, issuer, exposure, decided_at, outcome)
   WHERE u.outcome IN ('new', 'matched', 'exposure', 'declined_recorded')
  ON CONFLICT (card_id, request_id) DO NOTHING;

  UPDATE public.card_accounts a SET held = u.held, updated_at = v_now
    FROM unnest(a_ids, a_held, a_dirty) AS u(id, held, dirty)
   WHERE u.dirty AND a.id = u.id;
  UPDATE public.cards c SET velocity_count = u.cnt, velocity_window_started_at = u.started
    FROM unnest(p_card_ids, c_vel_count, c_vel_start, c_vel_dirty) AS u(id, cnt, started, dirty)
   WHERE u.dirty AND c.id = u.id;

  INSERT INTO public.stand_in_reconciliations (
    authorization_id, card_id, request_id, result, stand_in_status, issuer_status, amount,
    currency, exposure_amount, decided_at)
  SELECT u.id, p_card_ids[u.ci], u.rid, u.outcome, u.stand_in,
         coalesce(u.issuer, (SELECT coalesce(a.issuer_status, a.status)
                               FROM public.authorizations a WHERE a.id = u.auth)),
         u.amount, u.currency, u.exposure, u.decided_at
    FROM unnest(p_ids, p_card_idx, p_request_ids, r_outcome, p_stand_in, r_issuer, p_amounts,
                p_currencies, r_exposure, p_decided_at, r_auth)
         AS u(id, ci, rid, outcome, stand_in, issuer, amount, currency, exposure, decided_at, auth)
   WHERE u.stand_in IS NOT NULL
  ON CONFLICT (authorization_id) DO NOTHING;

  RETURN QUERY
  SELECT u.ord::integer, u.outcome, coalesce(u.issuer, coalesce(a.issuer_status, a.status)),
         u.exposure, a.id, a.request_id, a.card_id, a.account_id, a.status, a.decided_by,
         a.amount, a.currency, a.merchant_id, a.merchant_category, a.merchant_reference,
         a.held_amount, a.captured_amount, a.reversed_amount, a.hold_state, a.hold_expires_at,
         a.created_at, a.issuer_status, a.exposure_amount
    FROM unnest(r_outcome, r_issuer, r_exposure, r_auth) WITH ORDINALITY
         AS u(outcome, issuer, exposure, auth, ord)
    LEFT JOIN public.authorizations a ON a.id = u.auth
   ORDER BY u.ord;
END
$fn$;
CREATE FUNCTION public.card_expire_holds(p_now timestamptz, p_limit integer) RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
  v_accounts text[];
  v_count integer;
BEGIN
  SELECT array_agg(DISTINCT d.account_id) INTO v_accounts
    FROM (SELECT account_id FROM public.authorizations
           WHERE hold_state = 'open' AND hold_expires_at <= p_now
           ORDER BY hold_expires_at LIMIT p_limit) d;
  IF v_accounts IS NULL THEN
    RETURN 0;
  END IF;
  -- Accounts first, in id order, like every writer of holds: no deadlock with batches.
  PERFORM 1 FROM public.card_accounts WHERE id = ANY (v_accounts) ORDER BY id FOR NO KEY UPDATE;
  WITH due AS (
    SELECT id, account_id, held_amount FROM public.authorizations
     WHERE account_id = ANY (v_accounts) AND hold_state = 'open' AND hold_expires_at <= p_now
     ORDER BY hold_expires_at LIMIT p_limit FOR UPDATE
  ), expired AS (
    UPDATE public.authorizations a SET hold_state = 'expired', held_amount = 0, updated_at = now()
      FROM due WHERE a.id = due.id
    RETURNING due.account_id, due.held_amount AS released
  ), per_account AS (
    SELECT account_id, sum(released)::bigint AS released, count(*)::integer AS n
      FROM expired GROUP BY account_id
  ), moved AS (
    UPDATE public.card_accounts c SET held = c.held - p.released, updated_at = now()
      FROM per_account p WHERE c.id = p.account_id
    RETURNING p.n
  )
  SELECT coalesce(sum(n), 0)::integer INTO v_count FROM moved;
  RETURN v_count;
END
$fn$;