/**
 * The wire shapes of clearing and settlement (decision 51, API style): money as integer minor
 * units (signed where a figure can be negative), window ids derived from the counterparty and
 * the number. One definition gives the validator, the OpenAPI document and the types.
 */
import { Type } from '@sinclair/typebox';
import {
  amountToJson,
  BalanceSchema,
  CurrencySchema,
} from '../../../../http/schemas/money-schema.ts';
import { LiteralUnion, Nullable } from '../../../../http/schemas/schema-helpers.ts';
import { BUILT_IN_CHECKS, type EndOfDayReport } from '../core/end-of-day.ts';
import {
  type SettlementWindow,
  WINDOW_STATES,
  type WindowPosition,
} from '../core/settlement-types.ts';
import type { SettlementReport, WindowReport } from '../core/window-settlement.ts';

/** A signed amount in minor units, with what the figure means. */
const signed = (description: string) =>
  Type.Integer({
    minimum: -Number.MAX_SAFE_INTEGER,
    maximum: Number.MAX_SAFE_INTEGER,
    description,
  });
const Time = Type.String({ format: 'date-time' });
const WindowId = Type.String({
  pattern: '^swin_[A-Za-z0-9_-]+\\.[1-9][0-9]*$',
  maxLength: 1500,
  description: '`swin_`, the counterparty in base64url, a dot, the window number.',
});

export const SettlementWindowSchema = Type.Object(
  {
    id: Type.String(),
    counterparty: Type.String(),
    number: Type.Integer({ minimum: 1 }),
    state: LiteralUnion(WINDOW_STATES, {
      description:
        '`open` (postings still land in it on some shard; a close cut short shows `shardsClosed` below `shardCount`), `closed` (closed on every shard, reserve posted), `pending_settlement` (settled on some shards), `settled`.',
    }),
    openedAt: Time,
    closedAt: Nullable(Time, { description: 'When its close completed.' }),
    settledAt: Nullable(Time),
    reserveBasisPoints: Nullable(Type.Integer({ minimum: 0, maximum: 10_000 })),
    shardCount: Type.Integer(),
    shardsClosed: Type.Integer(),
    shardsSettled: Type.Integer(),
  },
  { $id: 'SettlementWindow', additionalProperties: false },
);

const PositionSchema = Type.Object(
  {
    currency: CurrencySchema,
    debits: BalanceSchema,
    credits: BalanceSchema,
    net: signed('credits - debits: positive, owed to the counterparty.'),
    transferCount: BalanceSchema,
    reserve: BalanceSchema,
    settlementAmount: signed('net - reserve: what settling moves.'),
  },
  { additionalProperties: false },
);

export const WindowReportSchema = Type.Object(
  { window: Type.Ref('SettlementWindow'), positions: Type.Array(PositionSchema) },
  { $id: 'SettlementWindowReport', additionalProperties: false },
);

export const SettlementReportSchema = Type.Object(
  {
    window: Type.Ref('SettlementWindow'),
    positions: Type.Array(PositionSchema),
    shards: Type.Array(
      Type.Object(
        {
          shardId: Type.Integer(),
          status: LiteralUnion(['settled', 'already_settled', 'refused'] as const),
          transferCount: Type.Integer(),
          refusals: Type.Array(
            Type.Object(
              { transferId: Type.String(), status: Type.String() },
              { additionalProperties: false },
            ),
          ),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { $id: 'SettlementReport', additionalProperties: false },
);

export const WindowListSchema = Type.Object(
  {
    data: Type.Array(Type.Ref('SettlementWindow')),
    hasMore: Type.Boolean(),
    nextCursor: Nullable(Type.String()),
  },
  { $id: 'SettlementWindowList', additionalProperties: false },
);

const BreakSchema = Type.Object(
  {
    kind: Type.String({
      description:
        '`trial_balance_posted`, `trial_balance_pending`, `account_totals`, `posting_sequence`, `last_posting_totals`, `postings_without_account`, `transfer_legs`, `posting_running_totals`, `pending_past_timeout`, `shard_unreadable`, `check_failed`, or a plugged check’s own.',
    }),
    shardId: Nullable(Type.Integer()),
    subject: Type.String(),
    expected: Type.String(),
    actual: Type.String(),
  },
  { additionalProperties: false },
);

export const EndOfDayReportSchema = Type.Object(
  {
    asOf: Time,
    ok: Type.Boolean(),
    trialBalance: Type.Array(
      Type.Object(
        {
          currency: CurrencySchema,
          debitsPosted: BalanceSchema,
          creditsPosted: BalanceSchema,
          debitsPending: BalanceSchema,
          creditsPending: BalanceSchema,
        },
        { additionalProperties: false },
      ),
    ),
    checks: Type.Array(
      Type.Object(
        {
          name: Type.String({
            description: `${BUILT_IN_CHECKS.map((name) => `\`${name}\``).join(', ')}, then the plugged ones.`,
          }),
          ok: Type.Boolean(),
          breakCount: Type.Integer(),
          breaks: Type.Array(BreakSchema),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { $id: 'LedgerEndOfDayReport', additionalProperties: false },
);

export const WindowParams = Type.Object({ windowId: WindowId }, { additionalProperties: false });

export const WindowListQuery = Type.Object(
  {
    counterparty: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
    startingAfter: Type.Optional(Type.String({ maxLength: 1500 })),
  },
  { additionalProperties: false },
);

/** A window on the wire. */
export function windowToJson(window: SettlementWindow) {
  return {
    ...window,
    number: amountToJson(window.number),
    openedAt: window.openedAt.toISOString(),
    closedAt: window.closedAt?.toISOString() ?? null,
    settledAt: window.settledAt?.toISOString() ?? null,
  };
}

function positionToJson(position: WindowPosition) {
  return {
    currency: position.currency,
    debits: amountToJson(position.debits),
    credits: amountToJson(position.credits),
    net: amountToJson(position.net),
    transferCount: amountToJson(position.transferCount),
    reserve: amountToJson(position.reserve),
    settlementAmount: amountToJson(position.settlementAmount),
  };
}

/** A window and its positions on the wire. */
export function reportToJson(report: WindowReport) {
  return { window: windowToJson(report.window), positions: report.positions.map(positionToJson) };
}

/** A settlement's answer on the wire. */
export function settlementToJson(report: SettlementReport) {
  return { ...reportToJson(report), shards: report.shards };
}

/** The end-of-day report on the wire. */
export function endOfDayToJson(report: EndOfDayReport) {
  return {
    asOf: report.asOf.toISOString(),
    ok: report.ok,
    trialBalance: report.trialBalance.map((totals) => ({
      currency: totals.currency,
      debitsPosted: amountToJson(totals.debitsPosted),
      creditsPosted: amountToJson(totals.creditsPosted),
      debitsPending: amountToJson(totals.debitsPending),
      creditsPending: amountToJson(totals.creditsPending),
    })),
    checks: report.checks,
  };
}
