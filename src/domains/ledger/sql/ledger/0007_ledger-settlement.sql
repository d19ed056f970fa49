-- Clearing and settlement (decision 51). A window's flow is what the counterparty's settlement
-- accounts were debited and credited with by postings stamped with the window, less the
-- transfers the settlement flow posts itself (the reserve and the settlement transfers), which
-- are recorded here in their own transaction and so never count as any window's flow.

-- A window whose close completed: closed on every shard, its reserve posted. One row, on the
-- counterparty's home shard, written in the same transaction as the reserve transfers.
CREATE TABLE public.ledger_window_closes (
  counterparty text NOT NULL CHECK (length(counterparty) BETWEEN 1 AND 255),
  window_number bigint NOT NULL CHECK (window_number > 0),
  reserve_basis_points integer NOT NULL CHECK (reserve_basis_points BETWEEN 0 AND 10000),
  closed_at timestamptz NOT NULL,
  PRIMARY KEY (counterparty, window_number)
);

-- The transfers the settlement flow posted for a window on this shard, each in the transaction
-- of its posting: `reserve` (settlement account -> risk reserve) and `settlement` (the window's
-- net out of a settlement account). `amount` is signed as it moved the settlement account:
-- positive credited it, negative debited it.
CREATE TABLE public.ledger_window_transfers (
  transfer_id text PRIMARY KEY,
  counterparty text NOT NULL,
  window_number bigint NOT NULL CHECK (window_number > 0),
  purpose text NOT NULL CHECK (purpose IN ('reserve', 'settlement')),
  account_id text NOT NULL,
  currency text NOT NULL,
  amount bigint NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE INDEX ledger_window_transfers_window
  ON public.ledger_window_transfers (counterparty, window_number);

-- A window's flow on this shard, per settlement account of the counterparty: the posted
-- debits and credits stamped with the window, and how many postings moved them, without the
-- settlement flow's own transfers. Pending reservations move nothing here: their post does.
CREATE FUNCTION public.ledger_window_flow(p_counterparty text, p_window bigint)
RETURNS TABLE (o_account_id text, o_currency text, o_debits bigint, o_credits bigint,
               o_transfers bigint)
LANGUAGE sql STABLE AS $fn$
  SELECT a.id, a.currency, sum(p.debit)::bigint, sum(p.credit)::bigint, count(*)
    FROM public.ledger_accounts a
    JOIN public.ledger_postings p
      ON p.account_id = a.id AND p.window_number = p_window AND (p.debit <> 0 OR p.credit <> 0)
   WHERE a.owner_id = p_counterparty AND a.kind = 'settlement'
     AND NOT EXISTS (SELECT 1 FROM public.ledger_window_transfers w
                      WHERE w.transfer_id = p.transfer_id)
   GROUP BY a.id, a.currency
   ORDER BY a.id
$fn$;
