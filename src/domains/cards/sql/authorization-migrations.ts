import type { MigrationSet } from '../../../migrations/migration.ts';
import { AUTHORIZE_BATCH_SQL } from '../store/authorize-batch-sql.ts';
import { ENGINE_BATCH_SIGNATURE, ENGINE_BATCH_SQL } from '../store/engine-batch-sql.ts';

/**
 * Authorizations, the stand-in reconciliation ledger, its dead letters (advices the forwarder
 * quarantined), and the server-side functions the hot
 * path runs: `card_engine_batch` (one call decides and writes a whole micro-batch of
 * authorizations, advices and hold moves; it superseded `card_authorize_batch`) and
 * `card_expire_holds` (the sweeper's bounded step). Apply after {@link CARD_ACCOUNT_MIGRATIONS}.
 *
 * Functions live in schema `public` with the tables they touch; migrations run on both DCs'
 * primaries, so the copy DC has the same functions when it takes over.
 */
export const AUTHORIZATION_MIGRATIONS: MigrationSet = {
  name: 'card-authorizations',
  migrations: [
    {
      version: 1,
      name: 'authorizations',
      sql: `
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
${AUTHORIZE_BATCH_SQL}
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
$fn$;`,
    },
    {
      version: 2,
      name: 'stand-in quarantine',
      // Dead letters of the advice forwarder. Loose types on purpose (numeric amount, text
      // time): a row must fit whatever malformed advice it has to keep.
      sql: `
CREATE TABLE public.stand_in_quarantine (
  authorization_id text PRIMARY KEY,
  card_id text NOT NULL,
  request_id text NOT NULL,
  stand_in_status text NOT NULL,
  amount numeric NOT NULL,
  currency text NOT NULL,
  decided_at text NOT NULL,
  error_code text NOT NULL,
  error_message text NOT NULL,
  failure_count integer NOT NULL CHECK (failure_count > 0),
  advice jsonb NOT NULL,
  quarantined_at timestamptz NOT NULL DEFAULT now()
);`,
    },
    {
      version: 3,
      name: 'engine batch with hold moves',
      // One function for the whole lane (authorizations, advices, captures, reversals); see
      // engine-batch-sql.ts. card_authorize_batch stays for processes on the old code.
      sql: `${ENGINE_BATCH_SQL}
COMMENT ON COLUMN public.authorizations.fingerprint IS
  'SHA-256 of the request fields for rows written by card_authorize_batch; empty for rows '
  'written by card_engine_batch, which matches a repeated request id on the stored fields';`,
    },
    {
      version: 4,
      name: 'engine batch reaches rows by key',
      // Every statement of the batch function reaches its rows through their keys (the ids the
      // batch names), so a sequential scan is never its right plan. The planner still chose
      // them: the cached generic plan guesses ten rows per array, and on tables of a few
      // thousand rows it scanned card_accounts and cards whole, which grow with every batch's
      // dead row versions until vacuum runs. Measured with bench:double11 (decision 26).
      sql: `ALTER FUNCTION public.card_engine_batch(${ENGINE_BATCH_SIGNATURE})
  SET enable_seqscan = off;`,
    },
    {
      version: 5,
      name: 'stand-in answers kept, conflicts for review',
      // Decision 37: a request has one answer whichever path gave it. An advice that meets an
      // issuer row for the same card and request id with another status keeps the answer
      // stand-in gave (the one the client received) as the book entry, unless the issuer's
      // hold was already captured or reversed (someone acted on the issuer's answer), and the
      // conflict is listed for a person either way. Stand-in decides only after a synchronous
      // replica showed no acknowledged issuer answer, so an issuer row met here committed after
      // that check and was not acknowledged before the stand-in answer.
      // Text frozen here: never edited.
      sql: `
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
$fn$;`,
    },
  ],
};
