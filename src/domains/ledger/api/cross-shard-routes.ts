/**
 * Cross-shard transfers over HTTP (decision 49, "Across shards"): start one between two accounts
 * homed on different shards, and read how far it has come. The leased driver job completes it in
 * the background: posted on both sides or voided on both.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { requires } from '../../../http/access-control.ts';
import { problemResponses } from '../../../http/routes/problem-responses.ts';
import { json, ref } from '../../../http/routes/route-helpers.ts';
import {
  AmountSchema,
  amountToJson,
  assertKnownCurrency,
  CurrencySchema,
} from '../../../http/schemas/money-schema.ts';
import { LiteralUnion, Nullable } from '../../../http/schemas/schema-helpers.ts';
import type { CrossShardTransfers } from '../core/cross-shard/cross-shard-transfers.ts';
import {
  CROSS_SHARD_ID_LENGTH_MAX,
  CROSS_SHARD_STATES,
  type CrossShardAnswer,
  type CrossShardView,
} from '../core/cross-shard/cross-shard-types.ts';
import { LEDGER_STATUSES } from '../core/ledger-types.ts';

const TAGS = ['ledger'];
const LedgerAccountId = Type.String({ pattern: '^lacc_[0-9A-HJKMNP-TV-Z]{30}$' });
const TransferId = Type.String({
  minLength: 1,
  maxLength: CROSS_SHARD_ID_LENGTH_MAX,
  description:
    "The client's id for the transfer (also its idempotency key): a retry with the same id and fields answers the same, never a second transfer.",
});

export const StartCrossShardBody = Type.Object(
  {
    id: TransferId,
    debitAccountId: LedgerAccountId,
    creditAccountId: LedgerAccountId,
    amount: AmountSchema,
    currency: CurrencySchema,
    reference: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  },
  { $id: 'StartCrossShardTransfer', additionalProperties: false },
);

export const CrossShardStartSchema = Type.Object(
  {
    id: Type.String(),
    status: LiteralUnion(['pending', ...LEDGER_STATUSES] as const),
    replayed: Type.Boolean(),
    state: Nullable(LiteralUnion(CROSS_SHARD_STATES)),
  },
  { $id: 'CrossShardStart', additionalProperties: false },
);

export const CrossShardTransferSchema = Type.Object(
  {
    id: Type.String(),
    debitAccountId: Type.String(),
    creditAccountId: Type.String(),
    amount: AmountSchema,
    currency: Type.String(),
    reference: Nullable(Type.String()),
    state: LiteralUnion(CROSS_SHARD_STATES),
    voidReason: Nullable(Type.String()),
    attempts: Type.Integer(),
    lastError: Nullable(Type.String()),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
    legs: Type.Array(
      Type.Object({
        id: Type.String(),
        status: Type.String(),
        pendingState: Nullable(Type.String()),
      }),
    ),
  },
  { $id: 'CrossShardTransfer', additionalProperties: false },
);

const TransferParams = Type.Object({ id: TransferId });
const TransferQuery = Type.Object({ debitAccountId: Type.Optional(LedgerAccountId) });

/** Registers the cross-shard transfer routes on `app`. */
export function registerCrossShardRoutes(
  app: FastifyInstance,
  transfers: CrossShardTransfers,
): void {
  for (const schema of [StartCrossShardBody, CrossShardStartSchema, CrossShardTransferSchema]) {
    app.addSchema(schema);
  }
  registerStart(app, transfers);
  registerGet(app, transfers);
}

/** `POST /v1/ledger/cross-shard-transfers`: leg 1 and the coordinator row, in one transaction. */
function registerStart(app: FastifyInstance, transfers: CrossShardTransfers): void {
  app.post<{
    Body: {
      id: string;
      debitAccountId: string;
      creditAccountId: string;
      amount: number;
      currency: string;
      reference?: string;
    };
  }>(
    '/v1/ledger/cross-shard-transfers',
    {
      schema: {
        security: requires('ledger:write'),
        summary: 'Start a transfer between accounts homed on different shards',
        description:
          "`pending` when the debtor's leg is reserved and the transfer will complete in the background (posted on both sides, or voided on both); otherwise the debtor leg's refusal (`insufficient_funds`, `account_closed`...), with nothing moved. Two accounts on one shard are refused: use `POST /v1/ledger/transfers`.",
        tags: TAGS,
        body: ref(StartCrossShardBody),
        response: {
          200: json(CrossShardStartSchema, 'How the start came out.'),
          ...problemResponses,
        },
      },
    },
    async (request) => {
      assertKnownCurrency(request.body.currency);
      const { amount, reference, ...rest } = request.body;
      const answer = await transfers.start({
        ...rest,
        amount: BigInt(amount),
        ...(reference === undefined ? {} : { reference }),
      });
      return startToJson(answer);
    },
  );
}

/** `GET /v1/ledger/cross-shard-transfers/:id`: its state and every step on either shard. */
function registerGet(app: FastifyInstance, transfers: CrossShardTransfers): void {
  app.get<{ Params: { id: string }; Querystring: { debitAccountId?: string } }>(
    '/v1/ledger/cross-shard-transfers/:id',
    {
      schema: {
        security: requires('ledger:read'),
        summary: 'A cross-shard transfer: its state and its legs on both shards',
        description:
          'Read on the primaries. `debitAccountId` names the starting shard; without it every shard is asked.',
        tags: TAGS,
        params: TransferParams,
        querystring: TransferQuery,
        response: {
          200: json(CrossShardTransferSchema, 'The transfer.'),
          ...problemResponses,
        },
      },
    },
    async (request) =>
      viewToJson(await transfers.get(request.params.id, request.query.debitAccountId)),
  );
}

function startToJson(answer: CrossShardAnswer) {
  return {
    id: answer.id,
    status: answer.status,
    replayed: answer.replayed,
    state: answer.state,
  };
}

function viewToJson(view: CrossShardView) {
  return {
    id: view.id,
    debitAccountId: view.debitAccountId,
    creditAccountId: view.creditAccountId,
    amount: amountToJson(view.amount),
    currency: view.currency,
    reference: view.reference,
    state: view.state,
    voidReason: view.voidReason,
    attempts: view.attempts,
    lastError: view.lastError,
    createdAt: view.createdAt.toISOString(),
    updatedAt: view.updatedAt.toISOString(),
    legs: view.legs.map((leg) => ({ ...leg })),
  };
}
