-- A claim of an identity number is routed by the number's bucket (the router's hash of the clear
-- number), which the row cannot recompute: it holds the number only as a keyed hash. The bucket
-- is now kept with the claim, so a bucket move takes the claims of its bucket (decision 58).
-- Claims written before this column existed have none; a move refuses while the shard holds one.
ALTER TABLE public.identity_id_number_claims
  ADD COLUMN bucket integer CHECK (bucket >= 0);
