/**
 * Card accounts and cards: open an account with a credit limit, change the limit (above a
 * threshold only once a second person approves), issue cards on it, block and unblock them.
 * Writes take an `Idempotency-Key` and answer with a consistency token; reads honour the token.
 */

import type { FastifyInstance, FastifyRequest } from 'fastify';
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
import {
  CREDIT_LIMIT_APPROVAL_DEFAULT,
  type CreditLimitApproval,
  creditLimitNeedsApproval,
} from '../config/credit-limit-approval.ts';
import type {
  CardAccountService,
  CreditLimitChange,
} from '../core/accounts/card-account-service.ts';
import {
  AccountIdParams,
  CardAccountSchema,
  CardIdParams,
  CardSchema,
  CreateCardAccountBody,
  cardAccountToJson,
  cardToJson,
  IssueCardBody,
  UpdateCardAccountBody,
} from './schemas/card-account-schema.ts';

type CreateBody = { currency: string; creditLimit: number };
type UpdateBody = { currency: string; creditLimit: number };
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

/** The maker-checker action of a credit limit change above the threshold. */
export const CREDIT_LIMIT_APPROVAL_ACTION = 'card_credit_limit';
/** Who may approve it (staff roles, decision 47). */
export const CREDIT_LIMIT_APPROVER_ROLES = ['risk_officer', 'admin'] as const;

/** Registers the card account and card routes on `app`. */
export function registerCardAccountRoutes(
  app: FastifyInstance,
  accounts: CardAccountService,
  approval: CreditLimitApproval = CREDIT_LIMIT_APPROVAL_DEFAULT,
) {
  for (const schema of [
    CreateCardAccountBody,
    UpdateCardAccountBody,
    CardAccountSchema,
    IssueCardBody,
    CardSchema,
  ]) {
    app.addSchema(schema);
  }
  registerCreateAccount(app, accounts);
  registerGetAccount(app, accounts);
  registerUpdateAccount(app, accounts, approval);
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

/**
 * `PATCH /v1/card-accounts/:accountId`: sets the credit limit, idempotent by key. A new limit
 * above the threshold of its currency (`cards.creditLimitApprovalAbove`) is maker-checker: the
 * call is stored and answered 202 until a risk officer or an admin other than the maker
 * approves it, then runs once. Before it is stored, the account is checked on its primary, so
 * an unknown or closed account or the wrong currency is refused at once, not after approval.
 */
function registerUpdateAccount(
  app: FastifyInstance,
  accounts: CardAccountService,
  approval: CreditLimitApproval,
): void {
  type Request = FastifyRequest<{ Params: { accountId: string }; Body: UpdateBody }>;
  const changeOf = (body: UpdateBody): CreditLimitChange => ({
    currency: body.currency,
    creditLimit: BigInt(body.creditLimit),
  });
  const needsApproval = (request: FastifyRequest) => {
    const change = changeOf((request as Request).body);
    return creditLimitNeedsApproval(approval, change.currency, change.creditLimit);
  };
  app.patch<{ Params: { accountId: string }; Body: UpdateBody }>(
    '/v1/card-accounts/:accountId',
    {
      config: {
        approval: {
          action: CREDIT_LIMIT_APPROVAL_ACTION,
          approverRoles: CREDIT_LIMIT_APPROVER_ROLES,
          when: needsApproval,
        },
      },
      schema: {
        security: requires('cards:manage'),
        summary: "Change a card account's credit limit",
        description:
          'A new limit above the threshold of its currency (config `cards.creditLimitApprovalAbove`, ' +
          'default 5,000,000 minor units) waits for a second person: the answer is 202 with an ' +
          'approval request, and the change runs once a risk officer or an admin other than the ' +
          'maker approves it. At or below the threshold it applies at once. Lowering below what ' +
          'the account uses is allowed: available credit turns negative and new authorizations ' +
          'are declined until it is repaid. 404 `resource_not_found`, 409 `state_conflict` for a ' +
          "closed account, 422 `currency_unsupported` when `currency` is not the account's.",
        tags: ['cards'],
        headers: IDEMPOTENCY_HEADER,
        params: AccountIdParams,
        body: ref(UpdateCardAccountBody),
        response: {
          200: json(
            CardAccountSchema,
            'The account with its new limit (also the answer to a retry).',
          ),
          ...problemResponses,
        },
      },
      preHandler: async (request) => {
        if (needsApproval(request))
          await accounts.checkCreditLimitChange(request.params.accountId, changeOf(request.body));
      },
    },
    async (request, reply) => {
      const written = await accounts.setCreditLimit(
        request.params.accountId,
        changeOf(request.body),
        writeContextOf(request),
      );
      answerWrite(reply, written, 200);
      return cardAccountToJson(written.value);
    },
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
