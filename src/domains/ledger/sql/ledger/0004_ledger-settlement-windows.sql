-- Settlement windows on one shard (decision 49). A counterparty's windows are numbered 1, 2, ...
-- on every shard alike; the coordinator closes window N on each shard in turn, and a close is
-- idempotent, so a close repeated after a crash changes nothing.

-- Opens window 1 of a counterparty on this shard, if it has none yet (with its first account).
CREATE FUNCTION public.ledger_open_windows(p_counterparty text) RETURNS void
LANGUAGE sql AS $fn$
  INSERT INTO public.ledger_window_heads (counterparty, current_window, opened_at)
  VALUES (p_counterparty, 1, clock_timestamp()) ON CONFLICT (counterparty) DO NOTHING;
  INSERT INTO public.ledger_settlement_windows (counterparty, window_number, state, opened_at)
  VALUES (p_counterparty, 1, 'open', clock_timestamp())
  ON CONFLICT (counterparty, window_number) DO NOTHING;
$fn$;

-- Closes window `p_window` of a counterparty on this shard and opens the next one. It waits for
-- the batches posting into the window (they hold its head FOR SHARE). Answers `closed`,
-- `already_closed` (a repeat), `no_windows` or `not_open_yet` (a window past the open one).
CREATE FUNCTION public.ledger_close_window(p_counterparty text, p_window bigint)
RETURNS TABLE (o_outcome text, o_current bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
  v_current bigint;
  v_now timestamptz;
BEGIN
  SELECT current_window INTO v_current FROM public.ledger_window_heads
   WHERE counterparty = p_counterparty FOR UPDATE;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'no_windows'::text, NULL::bigint;
    RETURN;
  END IF;
  IF v_current > p_window THEN
    RETURN QUERY SELECT 'already_closed'::text, v_current;
    RETURN;
  END IF;
  IF v_current < p_window THEN
    RETURN QUERY SELECT 'not_open_yet'::text, v_current;
    RETURN;
  END IF;
  v_now := clock_timestamp();
  UPDATE public.ledger_settlement_windows SET state = 'closed', closed_at = v_now
   WHERE counterparty = p_counterparty AND window_number = p_window;
  INSERT INTO public.ledger_settlement_windows (counterparty, window_number, state, opened_at)
  VALUES (p_counterparty, p_window + 1, 'open', v_now);
  UPDATE public.ledger_window_heads SET current_window = p_window + 1, opened_at = v_now
   WHERE counterparty = p_counterparty;
  RETURN QUERY SELECT 'closed'::text, p_window + 1;
END
$fn$;

-- The counterparty's position in a window on this shard, per currency: what its settlement
-- accounts were debited and credited with by postings stamped with the window.
CREATE FUNCTION public.ledger_window_position(p_counterparty text, p_window bigint)
RETURNS TABLE (o_currency text, o_debits bigint, o_credits bigint, o_postings bigint)
LANGUAGE sql STABLE AS $fn$
  SELECT a.currency, sum(p.debit)::bigint, sum(p.credit)::bigint, count(*)
    FROM public.ledger_accounts a
    JOIN public.ledger_postings p ON p.account_id = a.id AND p.window_number = p_window
   WHERE a.owner_id = p_counterparty AND a.kind = 'settlement'
   GROUP BY a.currency
$fn$;
