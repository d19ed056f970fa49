-- The end-of-day checks of one shard's books (decision 49), with two more checks on the postings
-- themselves, which the account-level checks of 0003 cannot see:
--   transfer_legs: the postings of one transfer, per currency of the accounts they touch,
--     carry as much debit as credit, posted and pending (a unit moved from one transfer's leg
--     to another's on the same account leaves every account total intact, and only this shows
--     it);
--   posting_running_totals: each posting's totals equal the sum of its account's movements up
--     to it (a balance at a past time, and a statement, are read from these totals).
-- The first break of an account's running totals is reported, not every posting after it.
CREATE OR REPLACE FUNCTION public.ledger_check_books()
RETURNS TABLE (o_check text, o_subject text, o_expected text, o_actual text)
LANGUAGE sql STABLE AS $fn$
  WITH trial AS (
    SELECT currency, sum(debits_posted) AS dp, sum(credits_posted) AS cp,
           sum(debits_pending) AS dpe, sum(credits_pending) AS cpe
      FROM public.ledger_accounts GROUP BY currency
  ), moved AS (
    SELECT account_id, sum(debit) AS d, sum(credit) AS c, sum(debit_pending) AS pd,
           sum(credit_pending) AS pc, count(*) AS n, max(seq) AS last
      FROM public.ledger_postings GROUP BY account_id
  ), lastp AS (
    SELECT DISTINCT ON (account_id) account_id, debits_posted, credits_posted, debits_pending,
           credits_pending
      FROM public.ledger_postings ORDER BY account_id, seq DESC
  ), legs AS (
    SELECT p.transfer_id, a.currency, sum(p.debit) AS d, sum(p.credit) AS c,
           sum(p.debit_pending) AS pd, sum(p.credit_pending) AS pc
      FROM public.ledger_postings p JOIN public.ledger_accounts a ON a.id = p.account_id
     GROUP BY p.transfer_id, a.currency
  ), running AS (
    SELECT account_id, seq, debits_posted, credits_posted, debits_pending, credits_pending,
           sum(debit) OVER w AS rd, sum(credit) OVER w AS rc, sum(debit_pending) OVER w AS rpd,
           sum(credit_pending) OVER w AS rpc
      FROM public.ledger_postings
    WINDOW w AS (PARTITION BY account_id ORDER BY seq ROWS UNBOUNDED PRECEDING)
  )
  SELECT 'trial_balance_posted', currency, dp::text, cp::text FROM trial WHERE dp <> cp
  UNION ALL
  SELECT 'trial_balance_pending', currency, dpe::text, cpe::text FROM trial WHERE dpe <> cpe
  UNION ALL
  SELECT 'account_totals', a.id,
         format('%s/%s/%s/%s', coalesce(m.d, 0), coalesce(m.c, 0), coalesce(m.pd, 0),
                coalesce(m.pc, 0)),
         format('%s/%s/%s/%s', a.debits_posted, a.credits_posted, a.debits_pending,
                a.credits_pending)
    FROM public.ledger_accounts a LEFT JOIN moved m ON m.account_id = a.id
   WHERE (coalesce(m.d, 0), coalesce(m.c, 0), coalesce(m.pd, 0), coalesce(m.pc, 0))
         IS DISTINCT FROM (a.debits_posted, a.credits_posted, a.debits_pending, a.credits_pending)
  UNION ALL
  SELECT 'posting_sequence', a.id, a.last_seq::text,
         format('%s postings, last %s', coalesce(m.n, 0), coalesce(m.last, 0))
    FROM public.ledger_accounts a LEFT JOIN moved m ON m.account_id = a.id
   WHERE coalesce(m.n, 0) <> a.last_seq OR coalesce(m.last, 0) <> a.last_seq
  UNION ALL
  SELECT 'last_posting_totals', a.id,
         format('%s/%s/%s/%s', a.debits_posted, a.credits_posted, a.debits_pending,
                a.credits_pending),
         format('%s/%s/%s/%s', l.debits_posted, l.credits_posted, l.debits_pending,
                l.credits_pending)
    FROM public.ledger_accounts a JOIN lastp l ON l.account_id = a.id
   WHERE (l.debits_posted, l.credits_posted, l.debits_pending, l.credits_pending)
         IS DISTINCT FROM (a.debits_posted, a.credits_posted, a.debits_pending, a.credits_pending)
  UNION ALL
  SELECT 'postings_without_account', p.account_id, 'an account', 'none'
    FROM (SELECT DISTINCT account_id FROM public.ledger_postings) p
   WHERE NOT EXISTS (SELECT 1 FROM public.ledger_accounts a WHERE a.id = p.account_id)
  UNION ALL
  SELECT 'transfer_legs', format('%s %s', transfer_id, currency),
         format('%s/%s', d, pd), format('%s/%s', c, pc)
    FROM legs WHERE d <> c OR pd <> pc
  UNION ALL
  (SELECT DISTINCT ON (account_id) 'posting_running_totals', format('%s #%s', account_id, seq),
         format('%s/%s/%s/%s', rd, rc, rpd, rpc),
         format('%s/%s/%s/%s', debits_posted, credits_posted, debits_pending, credits_pending)
    FROM running
   WHERE (rd, rc, rpd, rpc) <> (debits_posted, credits_posted, debits_pending, credits_pending)
   ORDER BY account_id, seq)
$fn$;
