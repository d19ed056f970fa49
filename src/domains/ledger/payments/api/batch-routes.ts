/**
 * Payment batches over HTTP (decision 50): upload a CSV or JSON Lines file as the request body
 * (`Content-Type: text/csv` or `application/x-ndjson`), read the batch and its per-line results
 * by cursor, resume it. The body is read as bytes, so a line that is not UTF-8 or holds U+0000
 * is reported on its own line instead of refusing the file.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { MainstayError } from '../../../../errors/mainstay-error.ts';
import { requires } from '../../../../http/access-control.ts';
import { problemResponses } from '../../../../http/routes/problem-responses.ts';
import {
  answerWrite,
  IDEMPOTENCY_HEADER,
  json,
  writeContextOf,
} from '../../../../http/routes/route-helpers.ts';
import { BATCH_CSV_HEADER, BATCH_LINES_MAX, type BatchFormat } from '../core/batch-file.ts';
import type { PaymentBatches } from '../core/payment-batches.ts';
import {
  BatchItemsQuery,
  BatchItemsSchema,
  BatchParams,
  BatchSchema,
  batchItemToJson,
  batchToJson,
} from './payment-schemas.ts';

/** The media types a batch file is sent as, and the format each means. */
export const BATCH_MEDIA_TYPES: Readonly<Record<string, BatchFormat>> = {
  'text/csv': 'csv',
  'application/x-ndjson': 'jsonl',
  'application/jsonl': 'jsonl',
};
const TAGS = ['payments'];
const BATCH_READ = requires('ledger:read');

/** Registers the batch routes (and the parsers of their file bodies) on `app`. */
export function registerBatchRoutes(app: FastifyInstance, batches: PaymentBatches): void {
  app.addContentTypeParser(
    Object.keys(BATCH_MEDIA_TYPES),
    { parseAs: 'buffer' },
    (_request, body, done) => done(null, body),
  );
  registerCreate(app, batches);
  registerGet(app, batches);
  registerItems(app, batches);
  registerResume(app, batches);
}

function formatOf(request: FastifyRequest): BatchFormat {
  const media = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  const format = BATCH_MEDIA_TYPES[media];
  if (format === undefined || !Buffer.isBuffer(request.body))
    throw new MainstayError(
      'invalid_request',
      'send the batch file as text/csv or application/x-ndjson',
      {
        errors: [{ pointer: '', detail: 'must be a CSV or JSON Lines file' }],
      },
    );
  return format;
}

/** `POST /v1/payments/batches`: a file of payments, one per line. */
function registerCreate(app: FastifyInstance, batches: PaymentBatches): void {
  app.post(
    '/v1/payments/batches',
    {
      schema: {
        security: requires('ledger:write'),
        summary: 'Upload a batch of payments (collection or payment on behalf), one per line',
        description: `The body is the file: CSV (\`text/csv\`, first line exactly \`${BATCH_CSV_HEADER}\`) or JSON Lines (\`application/x-ndjson\`, one object with those fields per line); at most ${BATCH_LINES_MAX} lines. Amounts are integers of minor units. Each bad line is reported with its number (GET .../items) while the good lines are paid; the batch runs in the background and is resumed after a stop. The same key with the same file answers the same batch.`,
        tags: TAGS,
        headers: IDEMPOTENCY_HEADER,
        body: {
          content: {
            'text/csv': { schema: { description: 'The CSV file.' } },
            'application/x-ndjson': { schema: { description: 'The JSON Lines file.' } },
          },
        },
        response: { 201: json(BatchSchema, 'The batch, processing.'), ...problemResponses },
      },
    },
    async (request, reply) => {
      const format = formatOf(request);
      const written = await batches.create(
        { bytes: request.body as Buffer, format },
        writeContextOf(request),
      );
      answerWrite(reply, written, 201);
      return batchToJson(written.value);
    },
  );
}

/** `GET /v1/payments/batches/:batchId`: where the batch is, with its counts by status. */
function registerGet(app: FastifyInstance, batches: PaymentBatches): void {
  app.get<{ Params: { batchId: string } }>(
    '/v1/payments/batches/:batchId',
    {
      schema: {
        security: BATCH_READ,
        summary: 'A payment batch: its state and its lines counted by status',
        tags: TAGS,
        params: BatchParams,
        response: { 200: json(BatchSchema, 'The batch.'), ...problemResponses },
      },
    },
    async (request) =>
      batchToJson(await batches.get(request.params.batchId, request.consistencyToken)),
  );
}

/** `GET /v1/payments/batches/:batchId/items`: the per-line results, in line order. */
function registerItems(app: FastifyInstance, batches: PaymentBatches): void {
  app.get<{ Params: { batchId: string }; Querystring: { limit?: number; startingAfter?: string } }>(
    '/v1/payments/batches/:batchId/items',
    {
      schema: {
        security: BATCH_READ,
        summary: "A batch's lines and their results, in line order (cursor: a line number)",
        tags: TAGS,
        params: BatchParams,
        querystring: BatchItemsQuery,
        response: { 200: json(BatchItemsSchema, 'A page of lines.'), ...problemResponses },
      },
    },
    async (request) => {
      const { limit = 20, startingAfter } = request.query;
      const page = await batches.items(
        request.params.batchId,
        { limit, ...(startingAfter === undefined ? {} : { startingAfter }) },
        request.consistencyToken,
      );
      return { ...page, data: page.data.map(batchItemToJson) };
    },
  );
}

/** `POST /v1/payments/batches/:batchId/resume`: runs what is left, answers when it is done. */
function registerResume(app: FastifyInstance, batches: PaymentBatches): void {
  app.post<{ Params: { batchId: string } }>(
    '/v1/payments/batches/:batchId/resume',
    {
      schema: {
        security: requires('ledger:write'),
        summary: 'Resume a batch: pay its waiting lines (none is paid twice) and answer the batch',
        description:
          'Idempotent by itself: lines already decided keep their outcome, lines applied before a stop answer their first outcome.',
        tags: TAGS,
        headers: IDEMPOTENCY_HEADER,
        params: BatchParams,
        response: { 200: json(BatchSchema, 'The batch after the run.'), ...problemResponses },
      },
    },
    async (request, reply) => {
      const view = await batches.resume(request.params.batchId);
      answerWrite(reply, { token: null, replayed: false }, 200);
      return batchToJson(view);
    },
  );
}
