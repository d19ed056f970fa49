import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Router } from '../../src/data/router.ts';
import type {
  CardAccountService,
  IssueCardOptions,
} from '../../src/domains/cards/accounts/card-account-service.ts';
import type { Card, CardAccount } from '../../src/domains/cards/accounts/card-account-types.ts';
import {
  AUTHORIZATION_COLUMNS,
  type AuthorizationRow,
  outcomeOfRow,
} from '../../src/domains/cards/authorization/authorization-row.ts';
import type {
  AuthorizationOutcome,
  AuthorizationRequest,
} from '../../src/domains/cards/authorization/authorization-types.ts';
import { isMainstayError } from '../../src/errors/mainstay-error.ts';

/** A request of `amount` CNY on `card` with a fresh request id (fields override). */
export function request(
  card: Card | string,
  amount: bigint,
  fields: Partial<AuthorizationRequest> = {},
): AuthorizationRequest {
  return {
    requestId: randomUUID(),
    cardId: typeof card === 'string' ? card : card.id,
    amount,
    currency: 'CNY',
    merchantId: 'mch_1',
    merchantCategory: '5411',
    ...fields,
  };
}

/** The code a promise is rejected with (`'resolved'` if it is not); rethrows foreign errors. */
export async function rejection(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (isMainstayError(error)) return error.code;
    throw error;
  }
  return 'resolved';
}

/**
 * Helpers of the card authorization tests bound to a router and the accounts service: open
 * accounts and cards, and read what the primaries hold now (advices return no token).
 */
export function cardAuthorizationHelpers(router: Router, accounts: CardAccountService) {
  async function onPrimary<T extends Record<string, unknown>>(
    key: string,
    sql: string,
    params: unknown[],
  ): Promise<T[]> {
    const { value } = await router.read(key, (db) => db.query<T>(sql, params), {
      consistency: 'primary',
    });
    return value.rows;
  }

  /** Held and posted amounts as the account's primary has them now. */
  async function balances(account: CardAccount): Promise<{ held: bigint; posted: bigint }> {
    const [row] = await onPrimary<{ held: string; posted: string }>(
      account.id,
      'SELECT held::text, posted::text FROM public.card_accounts WHERE id = $1',
      [account.id],
    );
    return { held: BigInt(row?.held ?? -1), posted: BigInt(row?.posted ?? -1) };
  }

  return {
    onPrimary,
    balances,
    async openAccount(creditLimit: bigint, currency = 'CNY'): Promise<CardAccount> {
      return (await accounts.createAccount({ currency, creditLimit }, randomUUID())).value;
    },
    async issue(account: CardAccount, options: IssueCardOptions = {}): Promise<Card> {
      return (await accounts.issueCard(account.id, options, randomUUID())).value;
    },
    /** An authorization as its shard's primary has it now. */
    async authorizationOnPrimary(id: string): Promise<AuthorizationOutcome> {
      const [row] = await onPrimary<AuthorizationRow & Record<string, unknown>>(
        id,
        `SELECT ${AUTHORIZATION_COLUMNS} FROM public.authorizations WHERE id = $1`,
        [id],
      );
      assert.ok(row, `authorization ${id} is stored`);
      return outcomeOfRow(row);
    },
    async available(account: CardAccount): Promise<bigint> {
      const { held, posted } = await balances(account);
      return account.creditLimit - held - posted;
    },
  };
}
