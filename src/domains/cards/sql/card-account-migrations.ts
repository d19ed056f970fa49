import type { MigrationSet } from '../../../migrations/migration.ts';

/**
 * Card accounts and cards, one family per shard: an account is minted in a bucket and its cards
 * in the same bucket, so the authorization engine finds a card, its account and the card's
 * authorizations in one shard transaction. Tables live in schema `public` so the publication
 * copies them to the other DC; every table has a primary key so updates replicate.
 *
 * `held + posted <= credit_limit` is not a table constraint on purpose: stand-in advices may
 * push an account over its limit (the money was promised while the issuer was away), and the
 * reconciliation records that exposure. The issuer path enforces the limit in its decisions.
 */
export const CARD_ACCOUNT_MIGRATIONS: MigrationSet = {
  name: 'card-accounts',
  migrations: [
    {
      version: 1,
      name: 'card_accounts_and_cards',
      sql: `
CREATE TABLE public.card_accounts (
  id text PRIMARY KEY,
  currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  credit_limit bigint NOT NULL CHECK (credit_limit >= 0),
  held bigint NOT NULL DEFAULT 0 CHECK (held >= 0),
  posted bigint NOT NULL DEFAULT 0 CHECK (posted >= 0),
  status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE public.cards (
  id text PRIMARY KEY,
  account_id text NOT NULL REFERENCES public.card_accounts (id),
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'blocked')),
  brand text NOT NULL,
  last4 text NOT NULL CHECK (last4 ~ '^[0-9]{4}$'),
  expiry_month integer NOT NULL CHECK (expiry_month BETWEEN 1 AND 12),
  expiry_year integer NOT NULL CHECK (expiry_year BETWEEN 2000 AND 2999),
  velocity_count_max integer NOT NULL CHECK (velocity_count_max >= 0),
  velocity_window_seconds integer NOT NULL CHECK (velocity_window_seconds > 0),
  velocity_window_started_at timestamptz,
  velocity_count integer NOT NULL DEFAULT 0 CHECK (velocity_count >= 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cards_account_id ON public.cards (account_id);`,
    },
  ],
};
