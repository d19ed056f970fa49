/**
 * Clearing and settlement over HTTP (decision 51): settlement windows (list, one, close,
 * settle, positions, the settlement file) and the end-of-day report. Reads go to the shard
 * primaries; close and settle are `ledger:admin` writes under an Idempotency-Key.
 */
import type { FastifyInstance } from 'fastify';
import { requires } from '../../../../http/access-control.ts';
import { problemResponses } from '../../../../http/routes/problem-responses.ts';
import {
  answerWrite,
  IDEMPOTENCY_HEADER,
  json,
  writeContextOf,
} from '../../../../http/routes/route-helpers.ts';
import type { EndOfDayService } from '../core/end-of-day.ts';
import { SETTLEMENT_FILE_MEDIA_TYPE } from '../core/settlement-file.ts';
import type { SettlementService } from '../core/settlement-service.ts';
import {
  EndOfDayReportSchema,
  endOfDayToJson,
  reportToJson,
  SettlementReportSchema,
  SettlementWindowSchema,
  settlementToJson,
  WindowListQuery,
  WindowListSchema,
  WindowParams,
  WindowReportSchema,
  windowToJson,
} from './settlement-schemas.ts';

/** What the settlement routes call. */
export interface SettlementRouteServices {
  readonly settlement: SettlementService;
  readonly endOfDay: EndOfDayService;
}

const TAGS = ['ledger'];
const WINDOWS = '/v1/ledger/settlement-windows';
type WindowRequest = { Params: { windowId: string } };

/** Registers the settlement windows' routes and the end-of-day report on `app`. */
export function registerSettlementRoutes(
  app: FastifyInstance,
  services: SettlementRouteServices,
): void {
  for (const schema of [
    SettlementWindowSchema,
    WindowReportSchema,
    SettlementReportSchema,
    WindowListSchema,
    EndOfDayReportSchema,
  ]) {
    app.addSchema(schema);
  }
  registerList(app, services.settlement);
  registerGet(app, services.settlement);
  registerClose(app, services.settlement);
  registerSettle(app, services.settlement);
  registerPositions(app, services.settlement);
  registerFile(app, services.settlement);
  registerEndOfDay(app, services.endOfDay);
}

/** `GET /v1/ledger/settlement-windows`: windows by counterparty, newest first, by cursor. */
function registerList(app: FastifyInstance, settlement: SettlementService): void {
  app.get<{ Querystring: { counterparty?: string; limit?: number; startingAfter?: string } }>(
    WINDOWS,
    {
      schema: {
        security: requires('ledger:read'),
        summary: 'Settlement windows of every counterparty, across every shard',
        description:
          'By counterparty (UTF-8 byte order), newest window first; `counterparty` keeps one. Read on the shard primaries.',
        tags: TAGS,
        querystring: WindowListQuery,
        response: { 200: json(WindowListSchema, 'A page of windows.'), ...problemResponses },
      },
    },
    async (request) => {
      const { counterparty, limit = 20, startingAfter } = request.query;
      const page = await settlement.list(counterparty === undefined ? {} : { counterparty }, {
        limit,
        ...(startingAfter === undefined ? {} : { startingAfter }),
      });
      return { ...page, data: page.data.map(windowToJson) };
    },
  );
}

/** `GET /v1/ledger/settlement-windows/:windowId`: one window across every shard. */
function registerGet(app: FastifyInstance, settlement: SettlementService): void {
  app.get<WindowRequest>(
    `${WINDOWS}/:windowId`,
    {
      schema: {
        security: requires('ledger:read'),
        summary: 'A settlement window and where it is on every shard',
        tags: TAGS,
        params: WindowParams,
        response: { 200: json(SettlementWindowSchema, 'The window.'), ...problemResponses },
      },
    },
    async (request) => windowToJson(await settlement.window(request.params.windowId)),
  );
}

/** `POST .../:windowId/close`: closes it on every shard and posts its reserve. */
function registerClose(app: FastifyInstance, settlement: SettlementService): void {
  app.post<WindowRequest>(
    `${WINDOWS}/:windowId/close`,
    {
      schema: {
        security: requires('ledger:admin'),
        summary: 'Close a settlement window on every shard and post its risk reserve',
        description:
          'Idempotent: a repeat changes nothing and answers the window; a close cut short is finished by repeating it. `state_conflict` when a shard has not reached the window yet, or the reserve account is missing.',
        tags: TAGS,
        params: WindowParams,
        headers: IDEMPOTENCY_HEADER,
        response: {
          200: json(WindowReportSchema, 'The window closed, with its positions and reserve.'),
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      const written = await settlement.close(request.params.windowId, writeContextOf(request));
      answerWrite(reply, written, 200);
      return reportToJson(written.value);
    },
  );
}

/** `POST .../:windowId/settle`: posts the settlement transfers, shard by shard. */
function registerSettle(app: FastifyInstance, settlement: SettlementService): void {
  app.post<WindowRequest>(
    `${WINDOWS}/:windowId/settle`,
    {
      schema: {
        security: requires('ledger:admin'),
        summary: "Settle a closed window: each settlement account's net to the settlement bank",
        description:
          'Idempotent by transfer ids derived from the window; a shard already settled is left as it is. A shard whose transfers are refused is reported `refused` and nothing of it is written. `state_conflict` while the window is open.',
        tags: TAGS,
        params: WindowParams,
        headers: IDEMPOTENCY_HEADER,
        response: {
          200: json(SettlementReportSchema, 'The window, its positions, and each shard.'),
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      const written = await settlement.settle(request.params.windowId, writeContextOf(request));
      answerWrite(reply, written, 200);
      return settlementToJson(written.value);
    },
  );
}

/** `GET .../:windowId/positions`: net positions per currency over every shard. */
function registerPositions(app: FastifyInstance, settlement: SettlementService): void {
  app.get<WindowRequest>(
    `${WINDOWS}/:windowId/positions`,
    {
      schema: {
        security: requires('ledger:read'),
        summary: "A window's net positions per currency, summed over every shard",
        description: 'Provisional while the window is open; fixed once it is closed.',
        tags: TAGS,
        params: WindowParams,
        response: {
          200: json(WindowReportSchema, 'The window and its positions.'),
          ...problemResponses,
        },
      },
    },
    async (request) => reportToJson(await settlement.positions(request.params.windowId)),
  );
}

/** `GET .../:windowId/file`: the settlement file (CSV) of a closed window. */
function registerFile(app: FastifyInstance, settlement: SettlementService): void {
  app.get<WindowRequest>(
    `${WINDOWS}/:windowId/file`,
    {
      schema: {
        security: requires('ledger:read'),
        summary: 'The settlement file of a closed window (CSV)',
        description:
          'One line per currency (columns in the settlement runbook), the same bytes on every call. `state_conflict` while the window is open.',
        tags: TAGS,
        params: WindowParams,
        response: {
          200: {
            description: 'RFC 4180 CSV, UTF-8, CRLF line ends, a header line.',
            content: { 'text/csv': { schema: { type: 'string' } } },
          },
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      const file = await settlement.file(request.params.windowId);
      return reply
        .type(SETTLEMENT_FILE_MEDIA_TYPE)
        .header('content-disposition', `attachment; filename="${file.name}"`)
        .send(file.text);
    },
  );
}

/** `GET /v1/ledger/end-of-day`: the end-of-day checks of every shard, now. */
function registerEndOfDay(app: FastifyInstance, endOfDay: EndOfDayService): void {
  app.get(
    '/v1/ledger/end-of-day',
    {
      schema: {
        security: requires('ledger:read'),
        summary: 'The end-of-day checks: trial balance, books, pending past timeout, plugged',
        description:
          'Runs every check on the shard primaries now and reports every break with its figures; `ok` only when none broke. Writes nothing.',
        tags: TAGS,
        response: { 200: json(EndOfDayReportSchema, 'The report.'), ...problemResponses },
      },
    },
    async () => endOfDayToJson(await endOfDay.run()),
  );
}
