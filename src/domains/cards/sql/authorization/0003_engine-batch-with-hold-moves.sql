
CREATE FUNCTION public.card_engine_batch(
  p_ids text[], p_request_ids text[], p_card_idx integer[], p_card_ids text[],
  p_amounts bigint[], p_currencies text[], p_merchant_ids text[], p_categories text[],
  p_references text[], p_ref_prev integer[], p_stand_in text[], p_decided_at timestamptz[],
  p_hold_seconds integer,
  p_hold_ids text[], p_move_hold_idx integer[], p_move_capture boolean[],
  p_move_amounts bigint[], p_move_keys text[], p_move_fingerprints text[]
) RETURNS TABLE (
  o_pos integer, o_outcome text, o_status text, o_id text, o_account_id text,
  o_exposure bigint, o_now timestamptz, o_body jsonb, o_detail text
) LANGUAGE plpgsql AS $fn$
DECLARE
  n integer := coalesce(cardinality(p_ids), 0);
  m integer := coalesce(cardinality(p_move_keys), 0);
  h integer := coalesce(cardinality(p_hold_ids), 0);
  v_now timestamptz := now();
  v_month integer := (extract(year FROM v_now AT TIME ZONE 'UTC') * 12
                      + extract(month FROM v_now AT TIME ZONE 'UTC'))::integer;
  c_found boolean[]; c_acct integer[]; c_blocked boolean[]; c_expiry integer[];
  c_vel_max integer[]; c_vel_start timestamptz[]; c_vel_count integer[]; c_vel_dirty boolean[];
  a_ids text[]; a_currency text[]; a_limit bigint[]; a_held bigint[]; a_posted bigint[];
  a_open boolean[]; a_dirty boolean[];
  h_found boolean[]; h_acct integer[]; h_status text[]; h_state text[]; h_held bigint[];
  h_captured bigint[]; h_reversed bigint[]; h_body jsonb[]; h_dirty boolean[];
  m_scopes text[]; m_claimed_pos integer[]; v_item_cards text[];
  v_moved integer := 0; v_failed integer := 0;
  m_claimed boolean[] := array_fill(false, ARRAY[m]);
  m_outcome text[] := array_fill(NULL::text, ARRAY[m]);
  m_body jsonb[] := array_fill(NULL::jsonb, ARRAY[m]);
  m_detail text[] := array_fill(NULL::text, ARRAY[m]);
  e_id text[] := array_fill(NULL::text, ARRAY[n]);
  e_same boolean[] := array_fill(false, ARRAY[n]);
  e_status text[] := array_fill(NULL::text, ARRAY[n]);
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
  rec record;
  i integer; ci integer; ai integer; hi integer; prev integer;
  st text; v_available bigint; v_hold boolean; v_move bigint;
  v_expected integer := 0; v_inserted integer;
BEGIN
  IF n = 0 AND m = 0 THEN
    RETURN;
  END IF;
  -- Lock and load in one statement: the rows are locked in id order (LockRows sits above the
  -- sort) and, under READ COMMITTED, read as the batch before us committed them.
  SELECT array_agg(l.id ORDER BY l.id), array_agg(l.currency ORDER BY l.id),
         array_agg(l.credit_limit ORDER BY l.id), array_agg(l.held ORDER BY l.id),
         array_agg(l.posted ORDER BY l.id), array_agg(l.status = 'open' ORDER BY l.id),
         array_agg(false ORDER BY l.id)
    INTO a_ids, a_currency, a_limit, a_held, a_posted, a_open, a_dirty
    FROM (SELECT id, currency, credit_limit, held, posted, status FROM public.card_accounts
           WHERE id IN (SELECT account_id FROM public.cards WHERE id = ANY (p_card_ids)
                        UNION
                        SELECT account_id FROM public.authorizations WHERE id = ANY (p_hold_ids))
           ORDER BY id FOR NO KEY UPDATE) l;

  IF m > 0 THEN
    m_scopes := ARRAY(SELECT CASE WHEN c THEN 'authorization_capture'
                                  ELSE 'authorization_reverse' END
                        FROM unnest(p_move_capture) WITH ORDINALITY u(c, ord) ORDER BY ord);
    -- Keys in (scope, key) order, after the accounts: the same order in every writer.
    WITH claimed AS (
      INSERT INTO public.idempotency_keys (scope, key, fingerprint)
      SELECT u.scope, u.key, u.fp FROM unnest(m_scopes, p_move_keys, p_move_fingerprints)
             AS u(scope, key, fp) ORDER BY u.scope, u.key
      ON CONFLICT (scope, key) DO NOTHING
      RETURNING scope, key
    )
    SELECT array_agg(u.ord::integer) INTO m_claimed_pos
      FROM claimed c JOIN unnest(m_scopes, p_move_keys) WITH ORDINALITY u(scope, key, ord)
        ON u.scope = c.scope AND u.key = c.key;
    FOR i IN SELECT unnest(m_claimed_pos) LOOP
      m_claimed[i] := true;
    END LOOP;
    IF coalesce(cardinality(m_claimed_pos), 0) < m THEN
      FOR rec IN
        SELECT u.ord::integer AS ord, k.fingerprint = u.fp AS same, k.response
          FROM unnest(m_scopes, p_move_keys, p_move_fingerprints, m_claimed)
               WITH ORDINALITY u(scope, key, fp, claimed, ord)
          JOIN public.idempotency_keys k ON k.scope = u.scope AND k.key = u.key
         WHERE NOT u.claimed AND k.key = ANY (p_move_keys)
           AND k.scope IN ('authorization_capture', 'authorization_reverse')
      LOOP
        m_outcome[rec.ord] := CASE WHEN NOT rec.same THEN 'key_reused'
                                   WHEN rec.response IS NULL THEN 'no_answer' ELSE 'replayed' END;
        m_body[rec.ord] := rec.response;
      END LOOP;
    END IF;
    SELECT array_agg(a.id IS NOT NULL ORDER BY u.ord), array_agg(ac.ai::integer ORDER BY u.ord),
           array_agg(a.status ORDER BY u.ord), array_agg(a.hold_state ORDER BY u.ord),
           array_agg(a.held_amount ORDER BY u.ord), array_agg(a.captured_amount ORDER BY u.ord),
           array_agg(a.reversed_amount ORDER BY u.ord),
           array_agg(CASE WHEN a.id IS NULL THEN NULL ELSE jsonb_build_object(
             'id', a.id, 'request_id', a.request_id, 'card_id', a.card_id,
             'account_id', a.account_id, 'status', a.status, 'decided_by', a.decided_by,
             'amount', a.amount::text, 'currency', a.currency, 'merchant_id', a.merchant_id,
             'merchant_category', a.merchant_category,
             'merchant_reference', a.merchant_reference,
             'hold_expires_at',
             to_char(a.hold_expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
             'created_at',
             to_char(a.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
             'issuer_status', a.issuer_status, 'exposure_amount', a.exposure_amount::text)
             END ORDER BY u.ord),
           array_agg(false ORDER BY u.ord)
      INTO h_found, h_acct, h_status, h_state, h_held, h_captured, h_reversed, h_body, h_dirty
      FROM unnest(p_hold_ids) WITH ORDINALITY u(id, ord)
      -- Locked in id order, after the accounts and keys, like every writer of holds.
      LEFT JOIN (SELECT * FROM public.authorizations WHERE id = ANY (p_hold_ids)
                  ORDER BY id FOR UPDATE) a ON a.id = u.id
      LEFT JOIN unnest(a_ids) WITH ORDINALITY ac(id, ai) ON ac.id = a.account_id;
    FOR i IN 1 .. m LOOP
      CONTINUE WHEN m_outcome[i] IS NOT NULL;
      v_failed := v_failed + 1;  -- taken back below when the move is applied
      hi := p_move_hold_idx[i];
      ai := h_acct[hi];
      IF NOT h_found[hi] THEN
        m_outcome[i] := 'not_found';
      ELSIF h_state[hi] <> 'open' OR ai IS NULL THEN
        m_outcome[i] := 'state_conflict';
        m_detail[i] := format('status %s, hold %s', h_status[hi], h_state[hi]);
      ELSE
        v_move := coalesce(p_move_amounts[i], h_held[hi]);
        IF v_move > h_held[hi] THEN
          m_outcome[i] := 'invalid_amount';
          m_detail[i] := format('amount %s exceeds the %s still held', v_move, h_held[hi]);
        ELSE
          h_held[hi] := h_held[hi] - v_move;
          IF p_move_capture[i] THEN
            h_captured[hi] := h_captured[hi] + v_move;
            a_posted[ai] := a_posted[ai] + v_move;
          ELSE
            h_reversed[hi] := h_reversed[hi] + v_move;
          END IF;
          h_state[hi] := CASE WHEN h_held[hi] = 0 THEN 'closed' ELSE 'open' END;
          h_dirty[hi] := true;
          a_held[ai] := a_held[ai] - v_move;
          a_dirty[ai] := true;
          m_outcome[i] := 'moved';
          v_moved := v_moved + 1;
          v_failed := v_failed - 1;
          m_body[i] := h_body[hi] || jsonb_build_object(
            'held_amount', h_held[hi]::text, 'captured_amount', h_captured[hi]::text,
            'reversed_amount', h_reversed[hi]::text, 'hold_state', h_state[hi]);
        END IF;
      END IF;
    END LOOP;
    -- Each statement below also names its rows by '= ANY (...)', so it reaches them through
    -- the primary key whatever the planner guesses of the unnest's size.
    IF v_moved > 0 THEN
      UPDATE public.authorizations a
         SET held_amount = u.held, captured_amount = u.captured, reversed_amount = u.reversed,
             hold_state = u.state, updated_at = v_now
        FROM unnest(p_hold_ids, h_held, h_captured, h_reversed, h_state, h_dirty)
             AS u(id, held, captured, reversed, state, dirty)
       WHERE u.dirty AND a.id = u.id AND a.id = ANY (p_hold_ids);
      UPDATE public.idempotency_keys k SET status_code = 200, response = u.body
        FROM unnest(m_scopes, p_move_keys, m_body, m_outcome, m_claimed)
             AS u(scope, key, body, outcome, claimed)
       WHERE u.claimed AND u.outcome = 'moved' AND k.scope = u.scope AND k.key = u.key
         AND k.scope IN ('authorization_capture', 'authorization_reverse')
         AND k.key = ANY (p_move_keys);
    END IF;
    IF v_failed > 0 THEN
      DELETE FROM public.idempotency_keys k
       USING unnest(m_scopes, p_move_keys, m_outcome, m_claimed)
             AS u(scope, key, outcome, claimed)
       WHERE u.claimed AND u.outcome <> 'moved' AND k.scope = u.scope AND k.key = u.key
         AND k.scope IN ('authorization_capture', 'authorization_reverse')
         AND k.key = ANY (p_move_keys);
    END IF;
  END IF;

  IF n > 0 THEN
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
    v_item_cards := ARRAY(SELECT p_card_ids[u.ci]
                            FROM unnest(p_card_idx) WITH ORDINALITY u(ci, ord) ORDER BY u.ord);
    FOR rec IN
      SELECT u.ord::integer AS ord, a.id, coalesce(a.issuer_status, a.status) AS status,
             (a.amount = u.amount AND a.currency = u.cur AND a.merchant_id = u.mid
              AND a.merchant_category = u.cat
              AND a.merchant_reference IS NOT DISTINCT FROM u.ref) AS same
        FROM unnest(v_item_cards, p_request_ids, p_amounts, p_currencies, p_merchant_ids,
                    p_categories, p_references) WITH ORDINALITY u(cid, rid, amount, cur, mid, cat,
                                                                  ref, ord)
        JOIN public.authorizations a ON a.card_id = u.cid AND a.request_id = u.rid
    LOOP
      e_id[rec.ord] := rec.id;
      e_same[rec.ord] := rec.same;
      e_status[rec.ord] := rec.status;
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
  END IF;

  FOR i IN 1 .. n LOOP
    ci := p_card_idx[i];
    IF e_id[i] IS NOT NULL THEN
      r_issuer[i] := e_status[i];
      r_outcome[i] := CASE WHEN p_stand_in[i] IS NOT NULL THEN 'duplicate_dropped'
                           WHEN e_same[i] THEN 'replayed' ELSE 'conflict' END;
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
    v_expected := v_expected + 1;
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

  IF n > 0 THEN
    INSERT INTO public.authorizations (
      id, request_id, card_id, account_id, status, decided_by, amount, currency, merchant_id,
      merchant_category, merchant_reference, held_amount, hold_state, hold_expires_at,
      fingerprint, issuer_status, exposure_amount, created_at)
    SELECT u.id, u.rid, p_card_ids[u.ci], u.account, u.status,
           CASE WHEN u.stand_in IS NULL THEN 'issuer' ELSE 'stand_in' END,
           u.amount, u.currency, u.mid, u.category, u.ref, u.held, u.hold_state, u.expires,
           '', CASE WHEN u.stand_in IS NULL THEN NULL ELSE u.issuer END, u.exposure,
           coalesce(u.decided_at, v_now)
      FROM unnest(p_ids, p_request_ids, p_card_idx, r_account, r_status, p_stand_in, p_amounts,
                  p_currencies, p_merchant_ids, p_categories, p_references, r_held,
                  r_hold_state, r_expires, r_issuer, r_exposure, p_decided_at, r_outcome)
           AS u(id, rid, ci, account, status, stand_in, amount, currency, mid, category, ref,
                held, hold_state, expires, issuer, exposure, decided_at, outcome)
     WHERE u.outcome IN ('new', 'matched', 'exposure', 'declined_recorded')
    ON CONFLICT (card_id, request_id) DO NOTHING;
    GET DIAGNOSTICS v_inserted = ROW_COUNT;
    IF v_inserted < v_expected THEN
      -- Another process stored one of these request ids between our read and our insert (only
      -- possible for a card with no account row to lock): 'lost' sends it round once more.
      FOR rec IN
        SELECT u.ord::integer AS ord
          FROM unnest(p_ids, r_outcome) WITH ORDINALITY u(id, outcome, ord)
         WHERE u.outcome IN ('new', 'matched', 'exposure', 'declined_recorded')
           AND NOT EXISTS (SELECT 1 FROM public.authorizations a WHERE a.id = u.id)
      LOOP
        r_outcome[rec.ord] := 'lost';
        r_hold_state[rec.ord] := 'none';
      END LOOP;
    END IF;
    UPDATE public.cards c SET velocity_count = u.cnt, velocity_window_started_at = u.started
      FROM unnest(p_card_ids, c_vel_count, c_vel_start, c_vel_dirty) AS u(id, cnt, started, dirty)
     WHERE u.dirty AND c.id = u.id AND c.id = ANY (p_card_ids);
    INSERT INTO public.stand_in_reconciliations (
      authorization_id, card_id, request_id, result, stand_in_status, issuer_status, amount,
      currency, exposure_amount, decided_at)
    SELECT u.id, p_card_ids[u.ci], u.rid, u.outcome, u.stand_in, u.issuer, u.amount,
           u.currency, u.exposure, u.decided_at
      FROM unnest(p_ids, p_card_idx, p_request_ids, r_outcome, p_stand_in, r_issuer, p_amounts,
                  p_currencies, r_exposure, p_decided_at)
           AS u(id, ci, rid, outcome, stand_in, issuer, amount, currency, exposure, decided_at)
     WHERE u.stand_in IS NOT NULL AND u.outcome <> 'lost'
    ON CONFLICT (authorization_id) DO NOTHING;
  END IF;
  UPDATE public.card_accounts a SET held = u.held, posted = u.posted, updated_at = v_now
    FROM unnest(a_ids, a_held, a_posted, a_dirty) AS u(id, held, posted, dirty)
   WHERE u.dirty AND a.id = u.id AND a.id = ANY (a_ids);

  RETURN QUERY
  SELECT u.ord::integer, u.outcome, u.issuer, u.eid, u.account, u.exposure,
         CASE WHEN u.ord = 1 THEN v_now END, NULL::jsonb, NULL::text
    FROM unnest(r_outcome, r_issuer, e_id, r_account, r_exposure) WITH ORDINALITY
         AS u(outcome, issuer, eid, account, exposure, ord);
  RETURN QUERY
  SELECT n + u.ord::integer, u.outcome, NULL::text, NULL::text, NULL::text, NULL::bigint,
         CASE WHEN n = 0 AND u.ord = 1 THEN v_now END, u.body, u.detail
    FROM unnest(m_outcome, m_body, m_detail) WITH ORDINALITY AS u(outcome, body, detail, ord);
END
$fn$;
COMMENT ON COLUMN public.authorizations.fingerprint IS
  'SHA-256 of the request fields for rows written by card_authorize_batch; empty for rows '
  'written by card_engine_batch, which matches a repeated request id on the stored fields';