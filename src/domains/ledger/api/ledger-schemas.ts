/**
 * The ledger's wire shapes (decision 49, API style): money as integer minor units, ids with a
 * type prefix, outcomes as statuses. One definition gives the validator, the OpenAPI document
 * and the types.
 */
import { Type } from '@sinclair/typebox';
import {
  AmountSchema,
  amountToJson,
  BalanceSchema,
  CurrencySchema,
} from '../../../http/schemas/money-schema.ts';
import { LiteralUnion, Nullable } from '../../../http/schemas/schema-helpers.ts';
import {
  ACCOUNT_GUARDS,
  CUSTOMER_ACCOUNT_KINDS,
  INSTITUTION_ACCOUNT_KINDS,
  type InstitutionAccount,
  type LedgerAccount,
  type StatementLine,
} from '../core/ledger-account-service.ts';
import {
  LEDGER_REQUEST_KINDS,
  LEDGER_STATUSES,
  type LedgerOutcome,
  type LedgerTotals,
} from '../core/ledger-types.ts';

/** Requests one `POST /v1/ledger/transfers` may carry. */
export const TRANSFERS_PER_CALL_MAX = 100;

const ClientId = Type.String({
  minLength: 1,
  maxLength: 255,
  description: "The client's id for the request; a retry with the same id answers the same.",
});
const LedgerAccountId = Type.String({ pattern: '^lacc_[0-9A-HJKMNP-TV-Z]{30}$' });
const Owner = Type.String({ minLength: 1, maxLength: 255 });

export const OpenLedgerAccountBody = Type.Object(
  {
    currency: CurrencySchema,
    kind: LiteralUnion(CUSTOMER_ACCOUNT_KINDS),
    ownerId: Type.Optional(Owner),
    guard: Type.Optional(
      LiteralUnion(ACCOUNT_GUARDS, {
        description:
          'Which side may not overdraw (default `debits_must_not_exceed_credits`: the balance never goes below zero).',
      }),
    ),
  },
  { $id: 'OpenLedgerAccount', additionalProperties: false },
);

export const OpenInstitutionAccountBody = Type.Object(
  {
    code: Type.String({ pattern: '^[a-z0-9][a-z0-9_.:-]{0,127}$' }),
    kind: LiteralUnion(INSTITUTION_ACCOUNT_KINDS),
    currency: CurrencySchema,
    counterparty: Type.Optional(Owner),
  },
  { $id: 'OpenInstitutionAccount', additionalProperties: false },
);

const TotalsFields = {
  debitsPosted: BalanceSchema,
  creditsPosted: BalanceSchema,
  debitsPending: BalanceSchema,
  creditsPending: BalanceSchema,
};

export const LedgerAccountSchema = Type.Object(
  {
    id: Type.String(),
    currency: CurrencySchema,
    kind: Type.String(),
    ownerId: Nullable(Type.String()),
    guard: LiteralUnion(ACCOUNT_GUARDS),
    closed: Type.Boolean(),
    code: Nullable(Type.String(), {
      description: "For a stripe of an institution account: the account's code.",
    }),
    stripe: Nullable(Type.Integer({ minimum: 0 }), {
      description: "For a stripe of an institution account: the stripe's number on its shard.",
    }),
    ...TotalsFields,
    balance: Type.Integer({ description: 'creditsPosted - debitsPosted.' }),
    available: Type.Integer({ description: 'creditsPosted - debitsPosted - debitsPending.' }),
    postingCount: BalanceSchema,
  },
  { $id: 'LedgerAccount', additionalProperties: false },
);

export const LedgerAccountListSchema = Type.Object(
  {
    data: Type.Array(Type.Ref('LedgerAccount')),
    hasMore: Type.Boolean(),
    nextCursor: Nullable(Type.String()),
  },
  { $id: 'LedgerAccountList', additionalProperties: false },
);

export const LedgerAccountListQuery = Type.Object(
  {
    kind: Type.Optional(LiteralUnion([...CUSTOMER_ACCOUNT_KINDS, ...INSTITUTION_ACCOUNT_KINDS])),
    currency: Type.Optional(CurrencySchema),
    ownerId: Type.Optional(Owner),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
    startingAfter: Type.Optional(Type.String({ maxLength: 64 })),
  },
  { additionalProperties: false },
);

export const InstitutionAccountSchema = Type.Object(
  {
    code: Type.String(),
    currency: CurrencySchema,
    kind: Type.String(),
    counterparty: Nullable(Type.String()),
    stripes: Type.Array(Type.Object({ shardId: Type.Integer(), id: Type.String() })),
    ...TotalsFields,
    balance: Type.Integer({ description: 'creditsPosted - debitsPosted, over every stripe.' }),
  },
  { $id: 'InstitutionAccount', additionalProperties: false },
);

export const TransferRequestSchema = Type.Object(
  {
    id: ClientId,
    kind: Type.Optional(
      LiteralUnion(
        LEDGER_REQUEST_KINDS.filter((kind) => kind !== 'expire'),
        {
          description:
            '`transfer` (default) posts at once; `pending` reserves until `timeoutSeconds`; `post` and `void` settle a pending transfer named by `pendingId`.',
        },
      ),
    ),
    debitAccountId: Type.Optional(LedgerAccountId),
    creditAccountId: Type.Optional(LedgerAccountId),
    amount: Type.Optional(AmountSchema),
    currency: Type.Optional(CurrencySchema),
    pendingId: Type.Optional(ClientId),
    timeoutSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 31 * 24 * 3600 })),
    reference: Type.Optional(Type.String({ maxLength: 255 })),
    linked: Type.Optional(
      Type.Boolean({ description: 'Applied with the next request whole, or not at all.' }),
    ),
  },
  { $id: 'LedgerTransferRequest', additionalProperties: false },
);

export const SubmitTransfersBody = Type.Object(
  {
    shardKey: Type.Optional(
      Type.String({
        maxLength: 255,
        description:
          'Any account id of the shard, needed when the first request posts or voids a pending transfer.',
      }),
    ),
    requests: Type.Array(Type.Ref('LedgerTransferRequest'), {
      minItems: 1,
      maxItems: TRANSFERS_PER_CALL_MAX,
    }),
  },
  { $id: 'SubmitLedgerTransfers', additionalProperties: false },
);

export const TransferOutcomeSchema = Type.Object(
  {
    id: Type.String(),
    status: LiteralUnion(LEDGER_STATUSES),
    replayed: Type.Boolean(),
    amount: BalanceSchema,
    createdAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'LedgerTransferOutcome', additionalProperties: false },
);

export const TransferOutcomesSchema = Type.Object(
  { data: Type.Array(Type.Ref('LedgerTransferOutcome')) },
  { $id: 'LedgerTransferOutcomes', additionalProperties: false },
);

export const StatementSchema = Type.Object(
  {
    data: Type.Array(
      Type.Object({
        seq: BalanceSchema,
        transferId: Type.String(),
        postedAt: Type.String({ format: 'date-time' }),
        debit: BalanceSchema,
        credit: BalanceSchema,
        debitPending: BalanceSchema,
        creditPending: BalanceSchema,
        ...TotalsFields,
        balance: Type.Integer(),
      }),
    ),
    hasMore: Type.Boolean(),
    nextCursor: Nullable(Type.String()),
  },
  { $id: 'LedgerStatement', additionalProperties: false },
);

export const BalanceAtSchema = Type.Object(
  {
    accountId: Type.String(),
    at: Type.String({ format: 'date-time' }),
    seq: BalanceSchema,
    ...TotalsFields,
    balance: Type.Integer(),
  },
  { $id: 'LedgerBalanceAt', additionalProperties: false },
);

export const LedgerAccountParams = Type.Object(
  { accountId: Type.String({ maxLength: 64 }) },
  { additionalProperties: false },
);

export const StatementQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
    startingAfter: Type.Optional(Type.String({ maxLength: 24 })),
  },
  { additionalProperties: false },
);

export const BalanceAtQuery = Type.Object(
  { at: Type.String({ format: 'date-time' }) },
  { additionalProperties: false },
);

export const InstitutionParams = Type.Object(
  { code: Type.String({ maxLength: 128 }) },
  { additionalProperties: false },
);

export const InstitutionQuery = Type.Object(
  { currency: CurrencySchema },
  { additionalProperties: false },
);

function totalsToJson(totals: LedgerTotals) {
  return {
    debitsPosted: amountToJson(totals.debitsPosted),
    creditsPosted: amountToJson(totals.creditsPosted),
    debitsPending: amountToJson(totals.debitsPending),
    creditsPending: amountToJson(totals.creditsPending),
  };
}

export function ledgerAccountToJson(account: LedgerAccount) {
  return {
    id: account.id,
    currency: account.currency,
    kind: account.kind,
    ownerId: account.ownerId,
    guard: account.guard,
    closed: account.closed,
    code: account.code,
    stripe: account.stripe,
    ...totalsToJson(account),
    balance: amountToJson(account.balance),
    available: amountToJson(account.available),
    postingCount: amountToJson(account.postingCount),
  };
}

export function institutionAccountToJson(account: InstitutionAccount) {
  return {
    code: account.code,
    currency: account.currency,
    kind: account.kind,
    counterparty: account.counterparty,
    stripes: account.stripes,
    ...totalsToJson(account),
    balance: amountToJson(account.balance),
  };
}

export function outcomeToJson(outcome: LedgerOutcome) {
  return {
    id: outcome.id,
    status: outcome.status,
    replayed: outcome.replayed,
    amount: amountToJson(outcome.amount),
    createdAt: outcome.createdAt.toISOString(),
  };
}

export function statementLineToJson(line: StatementLine) {
  return {
    seq: amountToJson(line.seq),
    transferId: line.transferId,
    postedAt: line.postedAt.toISOString(),
    debit: amountToJson(line.debit),
    credit: amountToJson(line.credit),
    debitPending: amountToJson(line.debitPending),
    creditPending: amountToJson(line.creditPending),
    ...totalsToJson(line),
    balance: amountToJson(line.balance),
  };
}
