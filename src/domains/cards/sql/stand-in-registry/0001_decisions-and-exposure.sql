
CREATE SCHEMA stand_in;
CREATE TABLE stand_in.decisions (
  card_id text NOT NULL,
  request_id text NOT NULL,
  authorization_id text NOT NULL UNIQUE,
  shard_id integer NOT NULL,
  account_id text,
  status text NOT NULL,
  amount bigint NOT NULL CHECK (amount > 0),
  currency text NOT NULL,
  advice jsonb NOT NULL,
  decided_at timestamptz NOT NULL DEFAULT now(),
  decided_by_process text NOT NULL,
  applied_at timestamptz,
  PRIMARY KEY (card_id, request_id)
);
CREATE INDEX decisions_unapplied ON stand_in.decisions (decided_at) WHERE applied_at IS NULL;
CREATE INDEX decisions_applied ON stand_in.decisions (applied_at) WHERE applied_at IS NOT NULL;
-- outstanding: stand-in approvals not yet on the issuer's books. overshoot (accounts only): how
-- far the account's books stood above its credit limit when last measured on the shard's
-- primary (at overshoot_at, its clock), after advices were applied.
CREATE TABLE stand_in.exposure (
  scope text NOT NULL CHECK (scope IN ('account', 'card')),
  id text NOT NULL,
  currency text NOT NULL,
  outstanding bigint NOT NULL DEFAULT 0 CHECK (outstanding >= 0),
  overshoot bigint NOT NULL DEFAULT 0 CHECK (overshoot >= 0),
  overshoot_at timestamptz,
  PRIMARY KEY (scope, id)
);
-- One stand-in decision, atomically across every API process: the answer already given for the
-- card and request id if there is one; else the proposed advice, or the capped one when an
-- approval would take the account's or the card's stand-in exposure past its cap.
CREATE FUNCTION stand_in.decide(
  p_card_id text, p_request_id text, p_authorization_id text, p_shard_id integer,
  p_account_id text, p_amount bigint, p_currency text, p_proposed jsonb, p_capped jsonb,
  p_account_cap bigint, p_card_cap bigint, p_process text
) RETURNS TABLE (o_advice jsonb, o_replayed boolean, o_capped boolean)
LANGUAGE plpgsql AS $fn$
DECLARE
  v_existing jsonb;
  v_advice jsonb := p_proposed;
  v_capped boolean := false;
  v_account stand_in.exposure%ROWTYPE;
  v_card stand_in.exposure%ROWTYPE;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended(p_card_id || ' ' || p_request_id, 3779));
  SELECT advice INTO v_existing FROM stand_in.decisions
   WHERE card_id = p_card_id AND request_id = p_request_id;
  IF FOUND THEN
    RETURN QUERY SELECT v_existing, true, false;
    RETURN;
  END IF;
  IF p_proposed->'outcome'->>'status' = 'approved' THEN
    IF p_account_id IS NULL THEN
      v_capped := true;
    ELSE
      INSERT INTO stand_in.exposure (scope, id, currency)
      VALUES ('account', p_account_id, p_currency), ('card', p_card_id, p_currency)
      ON CONFLICT (scope, id) DO NOTHING;
      -- Rows locked in (scope, id) order, the account before the card, in every caller.
      SELECT * INTO v_account FROM stand_in.exposure
       WHERE scope = 'account' AND id = p_account_id FOR UPDATE;
      SELECT * INTO v_card FROM stand_in.exposure
       WHERE scope = 'card' AND id = p_card_id FOR UPDATE;
      v_capped := v_account.outstanding + v_account.overshoot + p_amount > p_account_cap
               OR v_card.outstanding + p_amount > p_card_cap;
      IF NOT v_capped THEN
        UPDATE stand_in.exposure SET outstanding = outstanding + p_amount
         WHERE (scope = 'account' AND id = p_account_id) OR (scope = 'card' AND id = p_card_id);
      END IF;
    END IF;
    IF v_capped THEN
      v_advice := p_capped;
    END IF;
  END IF;
  INSERT INTO stand_in.decisions (card_id, request_id, authorization_id, shard_id, account_id,
    status, amount, currency, advice, decided_by_process)
  VALUES (p_card_id, p_request_id, p_authorization_id, p_shard_id, p_account_id,
    v_advice->'outcome'->>'status', p_amount, p_currency, v_advice, p_process);
  PERFORM pg_notify('mainstay_stand_in', p_shard_id::text);
  RETURN QUERY SELECT v_advice, false, v_capped;
END
$fn$;
-- Marks decisions applied on the issuer (idempotent), releases what their approvals held in
-- outstanding, and records the accounts' overshoot measured on the shard's primary after the
-- application (at p_measured_at, its clock; an older measurement never replaces a newer one).
-- Exposure rows are locked in (scope, id) order, as stand_in.decide locks them.
CREATE FUNCTION stand_in.applied(
  p_authorization_ids text[], p_accounts text[], p_overshoots bigint[],
  p_measured_at timestamptz
) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
  m_cards text[]; m_accounts text[]; m_amounts bigint[];
  rec record;
BEGIN
  WITH marked AS (
    UPDATE stand_in.decisions SET applied_at = now()
     WHERE authorization_id = ANY (p_authorization_ids) AND applied_at IS NULL
       AND status = 'approved'
    RETURNING card_id, account_id, amount
  )
  SELECT array_agg(card_id), array_agg(account_id), array_agg(amount)
    INTO m_cards, m_accounts, m_amounts FROM marked;
  UPDATE stand_in.decisions SET applied_at = now()
   WHERE authorization_id = ANY (p_authorization_ids) AND applied_at IS NULL;
  FOR rec IN
    SELECT x.scope, x.id, sum(x.amount)::bigint AS released, max(x.overshoot) AS overshoot
      FROM (SELECT 'account'::text AS scope, u.account AS id, u.amount, NULL::bigint AS overshoot
              FROM unnest(m_accounts, m_amounts) AS u(account, amount)
             WHERE u.account IS NOT NULL
            UNION ALL
            SELECT 'card', u.card, u.amount, NULL FROM unnest(m_cards, m_amounts) AS u(card, amount)
            UNION ALL
            SELECT 'account', u.id, 0, u.overshoot
              FROM unnest(p_accounts, p_overshoots) AS u(id, overshoot)) x
     GROUP BY x.scope, x.id ORDER BY x.scope, x.id
  LOOP
    UPDATE stand_in.exposure e
       SET outstanding = greatest(e.outstanding - rec.released, 0),
           overshoot = CASE WHEN rec.overshoot IS NOT NULL
                             AND (e.overshoot_at IS NULL OR e.overshoot_at <= p_measured_at)
                            THEN rec.overshoot ELSE e.overshoot END,
           overshoot_at = CASE WHEN rec.overshoot IS NOT NULL
                                AND (e.overshoot_at IS NULL OR e.overshoot_at <= p_measured_at)
                               THEN p_measured_at ELSE e.overshoot_at END
     WHERE e.scope = rec.scope AND e.id = rec.id;
  END LOOP;
END
$fn$;