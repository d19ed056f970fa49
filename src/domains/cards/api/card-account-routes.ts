/**
 * Card accounts and cards: open an account with a credit limit, issue cards on it, block and
 * unblock them. Writes take an `Idempotency-Key` and answer with a consistency token; reads
 * honour the token.
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
import type { CardAccountService } from '../core/accounts/card-account-service.ts';
import {
  AccountIdParams,
  CardAccountSchema,
  CardIdParams,
  CardSchema,
  CreateCardAccountBody,
  cardAccountToJson,
  cardToJson,
  IssueCardBody,
} from './schemas/card-account-schema.ts';

type CreateBody = { currency: string; creditLimit: number };
type IssueBody = {
  brand?: 'visa' | 'mastercard' | 'unionpay';
  expiryMonth?: number;
  expiryYear?: number;
  velocityCountMax?: number;
  velocityWindowSeconds?: number;
};

/** Available credit is never read unboundedly stale; a card's status may be. */
const ACCOUNT_READ = readRoute(['primary', 'session', 'bounded']);
const CARD_READ = readRoute(['primary', 'session', 'bounded', 'any']);

/** Registers the card account and card routes on `app`. */
export function registerCardAccountRoutes(app: FastifyInstance, accounts: CardAccountService) {
  for (const schema of [CreateCardAccountBody, CardAccountSchema, IssueCardBody, CardSchema]) {
    app.addSchema(schema);
  }
  registerCreateAccount(app, accounts);
  registerGetAccount(app, accounts);
  registerIssueCard(app, accounts);
  registerGetCard(app, accounts);
  for (const action of ['block', 'unblock'] as const) registerCardAction(app, accounts, action);
}

/** `POST /v1/card-accounts`: opens an account with a credit limit, idempotent by key. */
function registerCreateAccount(app: FastifyInstance, accounts: CardAccountService): void {
  app.post<{ Body: CreateBody }>(
    '/v1/card-accounts',
    {
      schema: {
        security: requires('cards:manage'),
        summary: 'Open a card account with a credit limit',
        tags: ['cards'],
        headers: IDEMPOTENCY_HEADER,
        body: ref(CreateCardAccountBody),
        response: {
          201: json(CardAccountSchema, 'The account (also the answer to a retry with this key).'),
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      assertKnownCurrency(request.body.currency);
      const written = await accounts.createAccount(
        { currency: request.body.currency, creditLimit: BigInt(request.body.creditLimit) },
        writeContextOf(request),
      );
      answerWrite(reply, written, 201);
      return cardAccountToJson(written.value);
    },
  );
}

/** `GET /v1/card-accounts/:accountId`: the account and its available credit (never `any`). */
function registerGetAccount(app: FastifyInstance, accounts: CardAccountService): void {
  app.get<{ Params: { accountId: string } }>(
    '/v1/card-accounts/:accountId',
    {
      config: ACCOUNT_READ.config,
      schema: {
        security: requires('cards:read'),
        summary: 'A card account, with its available credit',
        tags: ['cards'],
        params: AccountIdParams,
        headers: ACCOUNT_READ.headers,
        response: {
          200: { ...json(CardAccountSchema, 'The account.'), headers: SERVED_BY_RESPONSE_HEADER },
          ...problemResponses,
        },
      },
    },
    async (request) =>
      cardAccountToJson(
        await accounts.getAccount(request.params.accountId, request.consistencyToken),
      ),
  );
}

/** `POST /v1/card-accounts/:accountId/cards`: issues a card (its number is never kept). */
function registerIssueCard(app: FastifyInstance, accounts: CardAccountService): void {
  app.post<{ Params: { accountId: string }; Body: IssueBody }>(
    '/v1/card-accounts/:accountId/cards',
    {
      schema: {
        security: requires('cards:manage'),
        summary: 'Issue a card on an account',
        description:
          'The card number is generated and never stored or shown: only its brand and last four digits.',
        tags: ['cards'],
        headers: IDEMPOTENCY_HEADER,
        params: AccountIdParams,
        body: ref(IssueCardBody),
        response: {
          201: json(CardSchema, 'The card (also the answer to a retry with this key).'),
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      const context = writeContextOf(request);
      const written = await accounts.issueCard(request.params.accountId, request.body, context);
      answerWrite(reply, written, 201);
      return cardToJson(written.value);
    },
  );
}

/** `GET /v1/cards/:cardId`: a card, readable at any consistency level. */
function registerGetCard(app: FastifyInstance, accounts: CardAccountService): void {
  app.get<{ Params: { cardId: string } }>(
    '/v1/cards/:cardId',
    {
      config: CARD_READ.config,
      schema: {
        security: requires('cards:read'),
        summary: 'A card',
        tags: ['cards'],
        params: CardIdParams,
        headers: CARD_READ.headers,
        response: {
          200: { ...json(CardSchema, 'The card.'), headers: SERVED_BY_RESPONSE_HEADER },
          ...problemResponses,
        },
      },
    },
    async (request) =>
      cardToJson(await accounts.getCard(request.params.cardId, request.consistencyToken)),
  );
}

/** `POST /v1/cards/:cardId/block` or `/unblock`: blocks a card or lifts its block. */
function registerCardAction(
  app: FastifyInstance,
  accounts: CardAccountService,
  action: 'block' | 'unblock',
): void {
  app.post<{ Params: { cardId: string } }>(
    `/v1/cards/:cardId/${action}`,
    {
      schema: {
        security: requires('cards:manage'),
        summary: action === 'block' ? 'Block a card' : 'Lift a block',
        description:
          action === 'block'
            ? 'Authorizations on a blocked card are declined (card_blocked, 62), in stand-in too once the block is known.'
            : 'An expired card stays expired.',
        tags: ['cards'],
        headers: IDEMPOTENCY_HEADER,
        params: CardIdParams,
        response: { 200: json(CardSchema, 'The card.'), ...problemResponses },
      },
    },
    async (request, reply) => {
      const context = writeContextOf(request);
      const { cardId } = request.params;
      const written =
        action === 'block'
          ? await accounts.blockCard(cardId, context)
          : await accounts.unblockCard(cardId, context);
      answerWrite(reply, written, 200);
      return cardToJson(written.value);
    },
  );
}
