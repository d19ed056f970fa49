/**
 * The ledger over HTTP (decision 49): accounts and their balances, statements and past balances,
 * institution accounts, and transfers (single, linked, two-phase) through the batching engine.
 * Writes answer with a consistency token; reads honour it.
 */
import type { FastifyInstance } from 'fastify';
import { requires } from '../../../http/access-control.ts';
import { readRoute, SERVED_BY_RESPONSE_HEADER } from '../../../http/consistency-header.ts';
import { problemResponses } from '../../../http/routes/problem-responses.ts';
import {
  answerWrite,
  IDEMPOTENCY_HEADER,
  json,
  ref,
  writeContextOf,
} from '../../../http/routes/route-helpers.ts';
import { assertKnownCurrency } from '../../../http/schemas/money-schema.ts';
import type { LedgerAccountFilter, LedgerAccountList } from '../core/ledger-account-list.ts';
import type {
  AccountGuard,
  CustomerAccountKind,
  InstitutionAccountKind,
  LedgerAccountService,
} from '../core/ledger-account-service.ts';
import type { LedgerEngine } from '../core/ledger-engine.ts';
import type { LedgerRequest } from '../core/ledger-types.ts';
import {
  BalanceAtQuery,
  BalanceAtSchema,
  InstitutionAccountSchema,
  InstitutionParams,
  InstitutionQuery,
  institutionAccountToJson,
  LedgerAccountListQuery,
  LedgerAccountListSchema,
  LedgerAccountParams,
  LedgerAccountSchema,
  ledgerAccountToJson,
  OpenInstitutionAccountBody,
  OpenLedgerAccountBody,
  outcomeToJson,
  StatementQuery,
  StatementSchema,
  SubmitTransfersBody,
  statementLineToJson,
  TransferOutcomeSchema,
  TransferOutcomesSchema,
  TransferRequestSchema,
} from './ledger-schemas.ts';

/** What the ledger routes call. */
export interface LedgerRouteServices {
  readonly accounts: LedgerAccountService;
  readonly accountList: LedgerAccountList;
  readonly engine: LedgerEngine;
}

/** What each ledger route requires. */
export const LEDGER_SCOPES: Readonly<Record<string, string>> = {
  'ledger:read': 'Read ledger accounts, balances, statements and institution accounts.',
  'ledger:write': "Open customers' ledger accounts and submit transfers.",
  'ledger:admin': "Open the institution's own accounts (settlement, fees, reserve...).",
};

const ACCOUNT_READ = readRoute(['primary', 'session', 'bounded']);
const TAGS = ['ledger'];

type TransferBody = {
  shardKey?: string;
  requests: {
    id: string;
    kind?: 'transfer' | 'pending' | 'post' | 'void';
    debitAccountId?: string;
    creditAccountId?: string;
    amount?: number;
    currency?: string;
    pendingId?: string;
    timeoutSeconds?: number;
    reference?: string;
    linked?: boolean;
  }[];
};

/** Registers every ledger route on `app`. */
export function registerLedgerRoutes(app: FastifyInstance, services: LedgerRouteServices): void {
  for (const schema of [
    OpenLedgerAccountBody,
    OpenInstitutionAccountBody,
    LedgerAccountSchema,
    LedgerAccountListSchema,
    InstitutionAccountSchema,
    TransferRequestSchema,
    SubmitTransfersBody,
    TransferOutcomeSchema,
    TransferOutcomesSchema,
    StatementSchema,
    BalanceAtSchema,
  ]) {
    app.addSchema(schema);
  }
  registerOpenAccount(app, services.accounts);
  registerListAccounts(app, services.accountList);
  registerGetAccount(app, services.accounts);
  registerStatement(app, services.accounts);
  registerBalanceAt(app, services.accounts);
  registerOpenInstitution(app, services.accounts);
  registerGetInstitution(app, services.accounts);
  registerTransfers(app, services.engine);
}

/** `POST /v1/ledger/accounts`: a customer's account, once per idempotency key. */
function registerOpenAccount(app: FastifyInstance, accounts: LedgerAccountService): void {
  app.post<{
    Body: { currency: string; kind: CustomerAccountKind; ownerId?: string; guard?: AccountGuard };
  }>(
    '/v1/ledger/accounts',
    {
      schema: {
        security: requires('ledger:write'),
        summary: "Open a customer's ledger account",
        tags: TAGS,
        headers: IDEMPOTENCY_HEADER,
        body: ref(OpenLedgerAccountBody),
        response: {
          201: json(LedgerAccountSchema, 'The account (also the answer to a retry with this key).'),
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      assertKnownCurrency(request.body.currency);
      const written = await accounts.openAccount(request.body, writeContextOf(request));
      answerWrite(reply, written, 201);
      return ledgerAccountToJson(written.value);
    },
  );
}

/** `GET /v1/ledger/accounts`: accounts of every shard, newest first, by cursor. */
function registerListAccounts(app: FastifyInstance, list: LedgerAccountList): void {
  app.get<{ Querystring: LedgerAccountFilter & { limit?: number; startingAfter?: string } }>(
    '/v1/ledger/accounts',
    {
      schema: {
        security: requires('ledger:read'),
        summary: 'Ledger accounts of every shard, newest first',
        description:
          "Customers' accounts and the stripes of institution accounts, each with its balances; `kind`, `currency` and `ownerId` keep the accounts that match. Read on the shard primaries.",
        tags: TAGS,
        querystring: LedgerAccountListQuery,
        response: {
          200: json(LedgerAccountListSchema, 'A page of accounts.'),
          ...problemResponses,
        },
      },
    },
    async (request) => {
      const { limit = 20, startingAfter, ...filter } = request.query;
      const page = await list.list(filter, {
        limit,
        ...(startingAfter === undefined ? {} : { startingAfter }),
      });
      return { ...page, data: page.data.map(ledgerAccountToJson) };
    },
  );
}

/** `GET /v1/ledger/accounts/:accountId`: totals, balance and what is available. */
function registerGetAccount(app: FastifyInstance, accounts: LedgerAccountService): void {
  app.get<{ Params: { accountId: string } }>(
    '/v1/ledger/accounts/:accountId',
    {
      config: ACCOUNT_READ.config,
      schema: {
        security: requires('ledger:read'),
        summary: 'A ledger account with its balances',
        tags: TAGS,
        params: LedgerAccountParams,
        headers: ACCOUNT_READ.headers,
        response: {
          200: { ...json(LedgerAccountSchema, 'The account.'), headers: SERVED_BY_RESPONSE_HEADER },
          ...problemResponses,
        },
      },
    },
    async (request) =>
      ledgerAccountToJson(
        await accounts.getAccount(request.params.accountId, request.consistencyToken),
      ),
  );
}

/** `GET /v1/ledger/accounts/:accountId/statement`: postings newest first, by cursor. */
function registerStatement(app: FastifyInstance, accounts: LedgerAccountService): void {
  app.get<{
    Params: { accountId: string };
    Querystring: { limit?: number; startingAfter?: string };
  }>(
    '/v1/ledger/accounts/:accountId/statement',
    {
      config: ACCOUNT_READ.config,
      schema: {
        security: requires('ledger:read'),
        summary:
          "An account's statement: its postings, newest first, each with the totals after it",
        tags: TAGS,
        params: LedgerAccountParams,
        querystring: StatementQuery,
        headers: ACCOUNT_READ.headers,
        response: {
          200: {
            ...json(StatementSchema, 'A page of postings.'),
            headers: SERVED_BY_RESPONSE_HEADER,
          },
          ...problemResponses,
        },
      },
    },
    async (request) => {
      const { limit = 20, startingAfter } = request.query;
      const page = await accounts.statement(
        request.params.accountId,
        { limit, ...(startingAfter === undefined ? {} : { startingAfter }) },
        request.consistencyToken,
      );
      return { ...page, data: page.data.map(statementLineToJson) };
    },
  );
}

/** `GET /v1/ledger/accounts/:accountId/balance?at=`: the totals as they were at a time. */
function registerBalanceAt(app: FastifyInstance, accounts: LedgerAccountService): void {
  app.get<{ Params: { accountId: string }; Querystring: { at: string } }>(
    '/v1/ledger/accounts/:accountId/balance',
    {
      config: ACCOUNT_READ.config,
      schema: {
        security: requires('ledger:read'),
        summary: "An account's balance at a past time (one index probe, whatever its history)",
        tags: TAGS,
        params: LedgerAccountParams,
        querystring: BalanceAtQuery,
        headers: ACCOUNT_READ.headers,
        response: {
          200: { ...json(BalanceAtSchema, 'The totals then.'), headers: SERVED_BY_RESPONSE_HEADER },
          ...problemResponses,
        },
      },
    },
    async (request) => {
      const at = new Date(request.query.at);
      const then = await accounts.balanceAt(request.params.accountId, at, request.consistencyToken);
      return statementTotals(request.params.accountId, at, then);
    },
  );
}

function statementTotals(
  accountId: string,
  at: Date,
  then: Awaited<ReturnType<LedgerAccountService['balanceAt']>>,
) {
  const line = statementLineToJson({
    ...then,
    transferId: '',
    postedAt: at,
    debit: 0n,
    credit: 0n,
    debitPending: 0n,
    creditPending: 0n,
  });
  return {
    accountId,
    at: at.toISOString(),
    seq: line.seq,
    debitsPosted: line.debitsPosted,
    creditsPosted: line.creditsPosted,
    debitsPending: line.debitsPending,
    creditsPending: line.creditsPending,
    balance: line.balance,
  };
}

/** `POST /v1/ledger/institution-accounts`: stripes on every shard; repeating it is safe. */
function registerOpenInstitution(app: FastifyInstance, accounts: LedgerAccountService): void {
  app.post<{
    Body: { code: string; kind: InstitutionAccountKind; currency: string; counterparty?: string };
  }>(
    '/v1/ledger/institution-accounts',
    {
      schema: {
        security: requires('ledger:admin'),
        summary: "Open one of the institution's own accounts, striped over every shard",
        description:
          'Idempotent by its code and currency: a repeat keeps the stripes that exist and adds any missing.',
        tags: TAGS,
        body: ref(OpenInstitutionAccountBody),
        response: {
          200: json(InstitutionAccountSchema, 'The account and its stripes.'),
          ...problemResponses,
        },
      },
    },
    async (request) => {
      assertKnownCurrency(request.body.currency);
      return institutionAccountToJson(await accounts.openInstitutionAccount(request.body));
    },
  );
}

/** `GET /v1/ledger/institution-accounts/:code?currency=`: its stripes, summed. */
function registerGetInstitution(app: FastifyInstance, accounts: LedgerAccountService): void {
  app.get<{ Params: { code: string }; Querystring: { currency: string } }>(
    '/v1/ledger/institution-accounts/:code',
    {
      schema: {
        security: requires('ledger:read'),
        summary: 'An institution account: its stripes on every shard and their sum',
        tags: TAGS,
        params: InstitutionParams,
        querystring: InstitutionQuery,
        response: {
          200: json(InstitutionAccountSchema, 'The account, read on the primaries.'),
          ...problemResponses,
        },
      },
    },
    async (request) =>
      institutionAccountToJson(
        await accounts.institutionAccount(request.params.code, request.query.currency),
      ),
  );
}

/** `POST /v1/ledger/transfers`: up to 100 requests of one shard, one outcome each. */
function registerTransfers(app: FastifyInstance, engine: LedgerEngine): void {
  app.post<{ Body: TransferBody }>(
    '/v1/ledger/transfers',
    {
      schema: {
        security: requires('ledger:write'),
        summary: 'Transfers: single, linked (all or nothing), pending, post, void',
        description:
          "All requests of a call are on one shard (the first debit account's, or `shardKey`'s). Each request has a client id: a retry answers its first outcome (`replayed`), the same id with other fields is `exists_with_different_fields`. Business refusals are statuses (`insufficient_funds`...), not errors. A client id names one request per shard.",
        tags: TAGS,
        body: ref(SubmitTransfersBody),
        response: {
          200: json(TransferOutcomesSchema, 'One outcome per request, in order.'),
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      const requests = request.body.requests.map(ledgerRequestOf);
      const written = await engine.submitWithToken(
        requests,
        request.body.shardKey,
        request.consistencyToken,
      );
      answerWrite(reply, written, 200);
      return { data: written.value.map(outcomeToJson) };
    },
  );
}

/** A wire request as the engine takes it (the engine checks the combination of fields). */
function ledgerRequestOf(wire: TransferBody['requests'][number]): LedgerRequest {
  const kind = wire.kind ?? 'transfer';
  const common = {
    id: wire.id,
    ...(wire.reference === undefined ? {} : { reference: wire.reference }),
    ...(wire.linked === undefined ? {} : { linked: wire.linked }),
  };
  if (kind === 'transfer' || kind === 'pending') {
    return {
      ...common,
      kind,
      debitAccountId: wire.debitAccountId ?? '',
      creditAccountId: wire.creditAccountId ?? '',
      amount: BigInt(wire.amount ?? 0),
      currency: wire.currency ?? '',
      ...(wire.timeoutSeconds === undefined ? {} : { timeoutSeconds: wire.timeoutSeconds }),
    };
  }
  return {
    ...common,
    kind,
    pendingId: wire.pendingId ?? '',
    ...(wire.amount === undefined ? {} : { amount: BigInt(wire.amount) }),
  };
}
