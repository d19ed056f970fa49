-- The end-of-day checks of one shard's books (decision 49). Each row is a break, none when the
-- books hold: the trial balance per currency (debits equal credits, posted and pending), each
-- account's totals equal to the sum of its postings, its postings numbered 1..last_seq without a
-- gap, and its last posting carrying its current totals.
CREATE FUNCTION public.ledger_check_books()
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
$fn$;
