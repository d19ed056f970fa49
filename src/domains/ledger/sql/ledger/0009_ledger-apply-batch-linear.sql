-- `ledger_apply_batch` again (decision 49): the same rules as 0008, at a cost that grows with the
-- batch, not with the accounts table nor with the square of the batch.
-- 1. The accounts are read by their ids alone (`id = ANY (...)`, one index probe each). 0008
--    read them with `... OR id IN (subquery)`, which no index serves: every batch scanned the
--    whole accounts index, and a generic plan compared each account with every id of the batch.
-- 2. Every lookup the loop made by scanning an array (an account's place among the batch's
--    accounts, a request's stored transfer, the first request of the batch with its id, a
--    pending transfer) is made once before the loop, through a map (a jsonb object, found by
--    binary search), so the loop reads positions and never searches.
-- 3. The postings are written into their arrays by position, in place, not appended with `||`,
--    which copied eleven arrays on every posting; they keep an account's and a request's
--    position, not copies of their ids.
-- 4. The window heads and each posting's window come from the accounts already read, not from
--    two more reads of `ledger_accounts` by the postings' ids; only the accounts changed are
--    written back.
CREATE OR REPLACE FUNCTION public.ledger_apply_batch(
  p_ids text[], p_kinds text[], p_debits text[], p_credits text[], p_amounts bigint[],
  p_currencies text[], p_pending_ids text[], p_timeouts integer[], p_linked boolean[],
  p_references text[]
) RETURNS TABLE (
  o_pos integer, o_status text, o_replayed boolean, o_detail text, o_created_at timestamptz,
  o_amount bigint
) LANGUAGE plpgsql SET enable_seqscan = off AS $fn$
DECLARE
  n integer := coalesce(cardinality(p_ids), 0);
  big constant bigint := 9223372036854775807;
  v_now timestamptz;
  r_status text[] := array_fill(NULL::text, ARRAY[n]);
  r_replayed boolean[] := array_fill(false, ARRAY[n]);
  r_detail text[] := array_fill(NULL::text, ARRAY[n]);
  r_created timestamptz[] := array_fill(NULL::timestamptz, ARRAY[n]);
  r_store boolean[] := array_fill(false, ARRAY[n]);
  r_debit text[] := array_fill(NULL::text, ARRAY[n]);
  r_credit text[] := array_fill(NULL::text, ARRAY[n]);
  r_amount bigint[] := array_fill(NULL::bigint, ARRAY[n]);
  r_currency text[] := array_fill(NULL::text, ARRAY[n]);
  r_timeout_at timestamptz[] := array_fill(NULL::timestamptz, ARRAY[n]);
  r_pstate text[] := array_fill(NULL::text, ARRAY[n]);
  v_keys text[]; v_amap jsonb; v_emap jsonb; v_fmap jsonb; v_heads jsonb;
  x_di integer[]; x_ci integer[]; x_eq integer[]; x_first integer[]; x_pi integer[];
  a_ids text[]; a_cur text[]; a_dmnec boolean[]; a_cmned boolean[]; a_closed boolean[];
  a_kind text[]; a_owner text[];
  a_dp bigint[]; a_cp bigint[]; a_dpe bigint[]; a_cpe bigint[]; a_seq bigint[]; a_dirty boolean[];
  s_dp bigint[]; s_cp bigint[]; s_dpe bigint[]; s_cpe bigint[]; s_seq bigint[]; s_dirty boolean[];
  e_ids text[]; e_kind text[]; e_debit text[]; e_credit text[]; e_amount bigint[];
  e_cur text[]; e_pending text[]; e_timeout integer[]; e_status text[]; e_created timestamptz[];
  e_pstate text[]; e_timeout_at timestamptz[]; e_dirty boolean[]; e_ref text[];
  e_di integer[]; e_ci integer[];
  s_pstate text[]; s_edirty boolean[];
  -- The postings, by position: the account's place in a_*, the request's place in p_*.
  ps_ai integer[] := '{}'; ps_seq bigint[] := '{}'; ps_k integer[] := '{}';
  ps_d bigint[] := '{}'; ps_c bigint[] := '{}'; ps_pd bigint[] := '{}'; ps_pc bigint[] := '{}';
  ps_tdp bigint[] := '{}'; ps_tcp bigint[] := '{}'; ps_tdpe bigint[] := '{}';
  ps_tcpe bigint[] := '{}';
  m integer := 0; s_m integer;
  i integer; j integer; k integer; q integer; di integer; ci integer; pi integer; failed integer;
  v_amount bigint; v_full bigint; v_kind text; v_ok boolean;
BEGIN
  IF n = 0 THEN
    RETURN;
  END IF;
  -- Accounts first, in id order, with those of the pending transfers this batch posts or voids
  -- (their accounts never change, so reading them unlocked is safe); each read by its id.
  SELECT array_agg(DISTINCT k.id) INTO v_keys
    FROM (SELECT unnest(p_debits) UNION ALL SELECT unnest(p_credits)
          UNION ALL SELECT t.debit_account_id FROM public.ledger_transfers t
                     WHERE t.id = ANY (p_pending_ids)
          UNION ALL SELECT t.credit_account_id FROM public.ledger_transfers t
                     WHERE t.id = ANY (p_pending_ids)) k(id)
   WHERE k.id IS NOT NULL;
  SELECT array_agg(l.id ORDER BY l.id), array_agg(l.currency ORDER BY l.id),
         array_agg(l.debits_must_not_exceed_credits ORDER BY l.id),
         array_agg(l.credits_must_not_exceed_debits ORDER BY l.id),
         array_agg(l.closed ORDER BY l.id),
         array_agg(l.debits_posted ORDER BY l.id), array_agg(l.credits_posted ORDER BY l.id),
         array_agg(l.debits_pending ORDER BY l.id), array_agg(l.credits_pending ORDER BY l.id),
         array_agg(l.last_seq ORDER BY l.id), array_agg(false ORDER BY l.id),
         array_agg(l.kind ORDER BY l.id), array_agg(l.owner_id ORDER BY l.id)
    INTO a_ids, a_cur, a_dmnec, a_cmned, a_closed, a_dp, a_cp, a_dpe, a_cpe, a_seq, a_dirty,
         a_kind, a_owner
    FROM (SELECT * FROM public.ledger_accounts WHERE id = ANY (v_keys)
           ORDER BY id FOR NO KEY UPDATE) l;
  a_ids := coalesce(a_ids, '{}');
  -- Taken after the locks, so a posting's time never goes back along its account's seq.
  v_now := clock_timestamp();
  -- Then the transfers the batch names (its own ids and the pending ones), locked in id order.
  SELECT array_agg(t.id ORDER BY t.id), array_agg(t.kind ORDER BY t.id),
         array_agg(t.debit_account_id ORDER BY t.id), array_agg(t.credit_account_id ORDER BY t.id),
         array_agg(t.amount ORDER BY t.id), array_agg(t.currency ORDER BY t.id),
         array_agg(t.pending_id ORDER BY t.id), array_agg(t.timeout_seconds ORDER BY t.id),
         array_agg(t.status ORDER BY t.id), array_agg(t.created_at ORDER BY t.id),
         array_agg(t.pending_state ORDER BY t.id), array_agg(t.timeout_at ORDER BY t.id),
         array_agg(false ORDER BY t.id), array_agg(t.reference ORDER BY t.id)
    INTO e_ids, e_kind, e_debit, e_credit, e_amount, e_cur, e_pending, e_timeout, e_status,
         e_created, e_pstate, e_timeout_at, e_dirty, e_ref
    FROM (SELECT * FROM public.ledger_transfers
           WHERE id = ANY (p_ids) OR id = ANY (p_pending_ids)
           ORDER BY id FOR UPDATE) t;
  e_ids := coalesce(e_ids, '{}');
  -- The maps: an account's place, a stored transfer's place, a batch id's first place.
  SELECT coalesce(jsonb_object_agg(u.id, u.o), '{}') INTO v_amap
    FROM unnest(a_ids) WITH ORDINALITY u(id, o);
  SELECT coalesce(jsonb_object_agg(u.id, u.o), '{}') INTO v_emap
    FROM unnest(e_ids) WITH ORDINALITY u(id, o);
  SELECT coalesce(jsonb_object_agg(f.id, f.o), '{}') INTO v_fmap
    FROM (SELECT u.id, min(u.o) AS o FROM unnest(p_ids) WITH ORDINALITY u(id, o)
           WHERE u.id IS NOT NULL GROUP BY u.id) f;
  SELECT array_agg((v_amap ->> u.d)::integer ORDER BY u.x),
         array_agg((v_amap ->> u.c)::integer ORDER BY u.x),
         array_agg((v_emap ->> u.id)::integer ORDER BY u.x),
         array_agg((v_fmap ->> u.id)::integer ORDER BY u.x),
         array_agg((v_emap ->> u.pid)::integer ORDER BY u.x)
    INTO x_di, x_ci, x_eq, x_first, x_pi
    FROM unnest(p_debits, p_credits, p_ids, p_pending_ids) WITH ORDINALITY u(d, c, id, pid, x);
  SELECT array_agg((v_amap ->> u.d)::integer ORDER BY u.x),
         array_agg((v_amap ->> u.c)::integer ORDER BY u.x)
    INTO e_di, e_ci
    FROM unnest(e_debit, e_credit) WITH ORDINALITY u(d, c, x);

  i := 1;
  WHILE i <= n LOOP
    j := i;
    WHILE j < n AND coalesce(p_linked[j], false) LOOP
      j := j + 1;
    END LOOP;
    IF j > i THEN
      s_dp := a_dp; s_cp := a_cp; s_dpe := a_dpe; s_cpe := a_cpe; s_seq := a_seq;
      s_dirty := a_dirty; s_pstate := e_pstate; s_edirty := e_dirty;
      s_m := m;
    END IF;
    failed := 0;
    FOR k IN i .. j LOOP
      IF coalesce(p_linked[j], false) THEN
        -- The batch ends inside a chain: the chain was cut, nothing of it is applied.
        r_status[k] := 'linked_chain_open';
        failed := k;
        CONTINUE;
      END IF;
      v_kind := p_kinds[k];
      -- A repeated id: answered from what is stored, or from an earlier request of this batch.
      q := x_eq[k];
      IF q IS NULL THEN
        q := x_first[k];
        IF q < k AND r_store[q] THEN
          r_replayed[k] := true;
          r_created[k] := r_created[q];
          r_amount[k] := r_amount[q];
          IF p_kinds[q] IS DISTINCT FROM v_kind
             OR p_debits[q] IS DISTINCT FROM p_debits[k]
             OR p_credits[q] IS DISTINCT FROM p_credits[k]
             OR p_amounts[q] IS DISTINCT FROM p_amounts[k]
             OR p_currencies[q] IS DISTINCT FROM p_currencies[k]
             OR p_pending_ids[q] IS DISTINCT FROM p_pending_ids[k]
             OR p_timeouts[q] IS DISTINCT FROM p_timeouts[k]
             OR p_references[q] IS DISTINCT FROM p_references[k] THEN
            r_status[k] := 'exists_with_different_fields';
            r_replayed[k] := false;
          ELSE
            r_status[k] := r_status[q];
            r_detail[k] := r_detail[q];
          END IF;
          IF failed = 0 AND r_status[k] NOT IN ('posted', 'pending', 'voided', 'expired') THEN
            failed := k;
          END IF;
          CONTINUE;
        END IF;
      ELSE
        r_replayed[k] := true;
        r_created[k] := e_created[q];
        r_amount[k] := e_amount[q];
        IF e_kind[q] IS DISTINCT FROM v_kind
           OR (v_kind IN ('transfer', 'pending')
               AND (e_debit[q] IS DISTINCT FROM p_debits[k]
                    OR e_credit[q] IS DISTINCT FROM p_credits[k]
                    OR e_cur[q] IS DISTINCT FROM p_currencies[k]
                    OR e_amount[q] IS DISTINCT FROM p_amounts[k]))
           OR (v_kind IN ('post', 'void', 'expire')
               AND (e_pending[q] IS DISTINCT FROM p_pending_ids[k]
                    OR (p_amounts[k] IS NOT NULL AND e_amount[q] <> p_amounts[k])))
           OR e_timeout[q] IS DISTINCT FROM p_timeouts[k]
           OR e_ref[q] IS DISTINCT FROM p_references[k] THEN
          r_status[k] := 'exists_with_different_fields';
          r_replayed[k] := false;
        ELSE
          r_status[k] := e_status[q];
        END IF;
        IF failed = 0 AND r_status[k] NOT IN ('posted', 'pending', 'voided', 'expired') THEN
          failed := k;
        END IF;
        CONTINUE;
      END IF;

      r_created[k] := v_now;
      r_store[k] := true;
      IF v_kind IN ('transfer', 'pending') THEN
        r_debit[k] := p_debits[k];
        r_credit[k] := p_credits[k];
        r_amount[k] := p_amounts[k];
        r_currency[k] := p_currencies[k];
        di := x_di[k];
        ci := x_ci[k];
        v_amount := p_amounts[k];
        IF v_amount IS NULL OR v_amount <= 0 OR p_currencies[k] IS NULL
           OR p_debits[k] IS NULL OR p_credits[k] IS NULL OR p_debits[k] = p_credits[k]
           OR (v_kind = 'pending' AND coalesce(p_timeouts[k], 0) <= 0) THEN
          -- Refused at the edge; never stored.
          r_status[k] := 'invalid_request';
          r_store[k] := false;
        ELSIF di IS NULL THEN
          r_status[k] := 'debit_account_not_found';
        ELSIF ci IS NULL THEN
          r_status[k] := 'credit_account_not_found';
        ELSIF a_cur[di] <> p_currencies[k] OR a_cur[ci] <> p_currencies[k] THEN
          r_status[k] := 'currency_mismatch';
        ELSIF a_closed[di] OR a_closed[ci] THEN
          r_status[k] := 'account_closed';
        ELSIF v_amount > big - a_dp[di] - a_dpe[di] OR v_amount > big - a_cp[ci] - a_cpe[ci] THEN
          r_status[k] := 'overflows';
        ELSIF a_dmnec[di] AND a_dp[di] + a_dpe[di] + v_amount > a_cp[di] THEN
          r_status[k] := 'insufficient_funds';
        ELSIF a_cmned[ci] AND a_cp[ci] + a_cpe[ci] + v_amount > a_dp[ci] THEN
          r_status[k] := 'exceeds_debits';
        ELSE
          IF v_kind = 'transfer' THEN
            a_dp[di] := a_dp[di] + v_amount;
            a_cp[ci] := a_cp[ci] + v_amount;
            r_status[k] := 'posted';
          ELSE
            a_dpe[di] := a_dpe[di] + v_amount;
            a_cpe[ci] := a_cpe[ci] + v_amount;
            r_status[k] := 'pending';
            r_pstate[k] := 'open';
            r_timeout_at[k] := v_now + make_interval(secs => p_timeouts[k]);
          END IF;
          FOREACH q IN ARRAY ARRAY[di, ci] LOOP
            a_seq[q] := a_seq[q] + 1;
            a_dirty[q] := true;
            m := m + 1;
            ps_ai[m] := q;
            ps_seq[m] := a_seq[q];
            ps_k[m] := k;
            ps_d[m] := CASE WHEN q = di AND v_kind = 'transfer' THEN v_amount ELSE 0 END;
            ps_c[m] := CASE WHEN q = ci AND v_kind = 'transfer' THEN v_amount ELSE 0 END;
            ps_pd[m] := CASE WHEN q = di AND v_kind = 'pending' THEN v_amount ELSE 0 END;
            ps_pc[m] := CASE WHEN q = ci AND v_kind = 'pending' THEN v_amount ELSE 0 END;
            ps_tdp[m] := a_dp[q]; ps_tcp[m] := a_cp[q];
            ps_tdpe[m] := a_dpe[q]; ps_tcpe[m] := a_cpe[q];
          END LOOP;
        END IF;
      ELSIF v_kind IN ('post', 'void', 'expire') THEN
        pi := x_pi[k];
        IF pi IS NULL OR e_kind[pi] <> 'pending' THEN
          -- A pending transfer of this same batch is not visible yet: post it in a later call.
          r_status[k] := 'pending_transfer_not_found';
          r_amount[k] := coalesce(p_amounts[k], 0);
          r_currency[k] := coalesce(p_currencies[k], '');
          IF failed = 0 AND r_status[k] NOT IN ('posted', 'pending', 'voided', 'expired') THEN
            failed := k;
          END IF;
          CONTINUE;
        END IF;
        r_debit[k] := e_debit[pi];
        r_credit[k] := e_credit[pi];
        r_currency[k] := e_cur[pi];
        v_full := e_amount[pi];
        v_amount := CASE WHEN v_kind = 'post' THEN coalesce(p_amounts[k], v_full) ELSE v_full END;
        r_amount[k] := v_amount;
        di := e_di[pi];
        ci := e_ci[pi];
        IF e_pstate[pi] IS DISTINCT FROM 'open' THEN
          r_status[k] := 'pending_transfer_already_' || coalesce(e_pstate[pi], 'closed');
        ELSIF v_kind = 'expire' AND e_timeout_at[pi] > v_now THEN
          r_status[k] := 'pending_transfer_not_expired';
        ELSIF v_kind <> 'expire' AND e_timeout_at[pi] <= v_now THEN
          r_status[k] := 'pending_transfer_expired';
        ELSIF v_kind = 'post' AND (v_amount <= 0 OR v_amount > v_full) THEN
          r_status[k] := 'exceeds_pending_amount';
        ELSIF v_kind = 'post' AND (a_closed[di] OR a_closed[ci]) THEN
          r_status[k] := 'account_closed';
        ELSE
          a_dpe[di] := a_dpe[di] - v_full;
          a_cpe[ci] := a_cpe[ci] - v_full;
          IF v_kind = 'post' THEN
            a_dp[di] := a_dp[di] + v_amount;
            a_cp[ci] := a_cp[ci] + v_amount;
            r_status[k] := 'posted';
            e_pstate[pi] := 'posted';
          ELSIF v_kind = 'void' THEN
            r_status[k] := 'voided';
            e_pstate[pi] := 'voided';
          ELSE
            r_status[k] := 'expired';
            e_pstate[pi] := 'expired';
          END IF;
          e_dirty[pi] := true;
          FOREACH q IN ARRAY ARRAY[di, ci] LOOP
            a_seq[q] := a_seq[q] + 1;
            a_dirty[q] := true;
            m := m + 1;
            ps_ai[m] := q;
            ps_seq[m] := a_seq[q];
            ps_k[m] := k;
            ps_d[m] := CASE WHEN q = di AND v_kind = 'post' THEN v_amount ELSE 0 END;
            ps_c[m] := CASE WHEN q = ci AND v_kind = 'post' THEN v_amount ELSE 0 END;
            ps_pd[m] := CASE WHEN q = di THEN -v_full ELSE 0 END;
            ps_pc[m] := CASE WHEN q = ci THEN -v_full ELSE 0 END;
            ps_tdp[m] := a_dp[q]; ps_tcp[m] := a_cp[q];
            ps_tdpe[m] := a_dpe[q]; ps_tcpe[m] := a_cpe[q];
          END LOOP;
        END IF;
      ELSE
        r_status[k] := 'invalid_request';
        r_store[k] := false;
      END IF;
      -- Every member is decided (on running totals the undo below restores), so that a member
      -- after the failing one is still recognised as a replay or a reused id.
      IF failed = 0 AND r_status[k] NOT IN ('posted', 'pending', 'voided', 'expired') THEN
        failed := k;
      END IF;
    END LOOP;
    IF j > i AND failed > 0 THEN
      -- A chain is all or nothing: undo what its earlier requests did, refuse the rest.
      a_dp := s_dp; a_cp := s_cp; a_dpe := s_dpe; a_cpe := s_cpe; a_seq := s_seq;
      a_dirty := s_dirty; e_pstate := s_pstate; e_dirty := s_edirty;
      -- The chain's postings are dropped: the next ones overwrite them, the write reads 1..m.
      m := s_m;
      FOR k IN i .. j LOOP
        IF k <> failed
           AND NOT (r_replayed[k] OR coalesce(r_status[k], '') = 'exists_with_different_fields') THEN
          r_status[k] := 'linked_event_failed';
          r_pstate[k] := NULL;
          r_timeout_at[k] := NULL;
          r_created[k] := v_now;
          r_store[k] := r_store[k] OR r_status[failed] <> 'linked_chain_open';
          IF r_amount[k] IS NULL THEN
            r_amount[k] := coalesce(p_amounts[k], 0);
          END IF;
        END IF;
        IF r_status[failed] = 'linked_chain_open' THEN
          r_store[k] := false;
        END IF;
      END LOOP;
    END IF;
    i := j + 1;
  END LOOP;

  -- Writes, set-based.
  INSERT INTO public.ledger_transfers (id, kind, debit_account_id, credit_account_id, amount,
         currency, pending_id, timeout_seconds, timeout_at, pending_state, status, linked,
         reference, created_at, updated_at)
  SELECT p_ids[x], p_kinds[x], coalesce(r_debit[x], p_debits[x]),
         coalesce(r_credit[x], p_credits[x]), greatest(coalesce(r_amount[x], p_amounts[x], 0), 0),
         coalesce(r_currency[x], p_currencies[x], ''), p_pending_ids[x], p_timeouts[x],
         r_timeout_at[x], r_pstate[x], r_status[x], coalesce(p_linked[x], false),
         p_references[x], v_now, v_now
    FROM generate_series(1, n) x
   WHERE r_store[x];
  IF m > 0 THEN
    -- The window heads of the counterparties whose settlement accounts this batch posts to,
    -- held until commit, after the accounts and transfers; a close waits for them.
    SELECT coalesce(jsonb_object_agg(h.counterparty, h.current_window), '{}') INTO v_heads
      FROM (SELECT w.counterparty, w.current_window FROM public.ledger_window_heads w
             WHERE w.counterparty = ANY (ARRAY(
                     SELECT DISTINCT a_owner[x] FROM generate_series(1, cardinality(a_ids)) x
                      WHERE a_dirty[x] AND a_kind[x] = 'settlement' AND a_owner[x] IS NOT NULL))
             ORDER BY w.counterparty FOR SHARE) h;
    INSERT INTO public.ledger_postings (account_id, seq, transfer_id, posted_at, debit, credit,
           debit_pending, credit_pending, debits_posted, credits_posted, debits_pending,
           credits_pending, window_number)
    SELECT a_ids[u.ai], u.s, p_ids[u.k], v_now, u.d, u.c, u.pd, u.pc, u.tdp, u.tcp, u.tdpe,
           u.tcpe,
           CASE WHEN a_kind[u.ai] = 'settlement' THEN (v_heads ->> a_owner[u.ai])::bigint END
      FROM unnest(ps_ai[1:m], ps_seq[1:m], ps_k[1:m], ps_d[1:m], ps_c[1:m], ps_pd[1:m],
                  ps_pc[1:m], ps_tdp[1:m], ps_tcp[1:m], ps_tdpe[1:m], ps_tcpe[1:m])
           AS u(ai, s, k, d, c, pd, pc, tdp, tcp, tdpe, tcpe);
    UPDATE public.ledger_accounts l
       SET debits_posted = u.dp, credits_posted = u.cp, debits_pending = u.dpe,
           credits_pending = u.cpe, last_seq = u.seq, updated_at = v_now
      FROM (SELECT a_ids[x] AS id, a_dp[x] AS dp, a_cp[x] AS cp, a_dpe[x] AS dpe,
                   a_cpe[x] AS cpe, a_seq[x] AS seq
              FROM generate_series(1, cardinality(a_ids)) x WHERE a_dirty[x]) u
     WHERE l.id = u.id
       AND l.id = ANY (ARRAY(SELECT a_ids[x] FROM generate_series(1, cardinality(a_ids)) x
                              WHERE a_dirty[x]));
  END IF;
  IF true = ANY (e_dirty) THEN
    UPDATE public.ledger_transfers t SET pending_state = u.st, updated_at = v_now
      FROM unnest(e_ids, e_pstate, e_dirty) AS u(id, st, dirty)
     WHERE u.dirty AND t.id = u.id
       AND t.id = ANY (ARRAY(SELECT e_ids[x] FROM generate_series(1, cardinality(e_ids)) x
                              WHERE e_dirty[x]));
  END IF;
  RETURN QUERY
    SELECT x, r_status[x], r_replayed[x], r_detail[x], r_created[x], r_amount[x]
      FROM generate_series(1, n) x;
END
$fn$;
