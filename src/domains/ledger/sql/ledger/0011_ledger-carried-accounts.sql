-- Moving a bucket with the books (decision 58): an account's balance is brought forward to the
-- shard its bucket moves to, and its history stays on the shards where it was written.
--
-- On the shard an account left: `carried_to` says where it went ({shard, at, seq: its last
-- posting here, closed: whether it was closed before}); the account is closed here, its
-- balance brought to zero by a transfer to this shard's `mainstay.bucket-move` clearing stripe.
-- On the shard it reached: `history` lists the parts of its postings on earlier shards, newest
-- first ({shard, fromSeq, toSeq, since, until}), and `first_seq` is its first posting here
-- (the balance brought forward, from this shard's clearing stripe). A shard it comes back to
-- keeps its earlier postings; its new part starts at `first_seq`.
ALTER TABLE public.ledger_accounts
  ADD COLUMN carried_to jsonb,
  ADD COLUMN history jsonb NOT NULL DEFAULT '[]'::jsonb,
  ADD COLUMN first_seq bigint NOT NULL DEFAULT 1 CHECK (first_seq >= 1);

-- A transfer copied from the shard its account left, so that a retry of it on the new shard is
-- answered from here and never applied again: it has no postings here (they stay where it was
-- applied), and this names that shard.
ALTER TABLE public.ledger_transfers ADD COLUMN carried_from_shard integer;
