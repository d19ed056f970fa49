-- card_engine_batch (migration 3) superseded card_authorize_batch, which no code calls since.
DROP FUNCTION public.card_authorize_batch(text[], text[], integer[], text[], bigint[], text[],
  text[], text[], text[], integer[], text[], text[], timestamptz[], integer);
