/**
 * Operator workflows over HTTP, so that `mainstay reseed` (or any tool) can drive the running
 * platform, which owns the fleet's servers, instead of opening a second supervisor.
 */

import type { FastifyInstance } from 'fastify';
import type { ReseedReport } from '../../fleet/dc-reseed.ts';
import { requires } from '../access-control.ts';
import {
  type ReseedBody,
  ReseedBodySchema,
  ReseedReportSchema,
} from '../schemas/operations-schema.ts';
import { problemResponses } from './problem-responses.ts';

/**
 * A re-seed waits for initial copies of whole shards, which takes far longer than the server's
 * default handler bound; past this the client gets `503` and may call again (it resumes).
 */
export const RESEED_HANDLER_TIMEOUT_MS = 15 * 60_000;

/** What the operations routes drive; the platform passes the fleet's workflows. */
export interface Operations {
  /** Re-seeds a returning data centre's copies (see `reseedDataCentre`). */
  reseed(dataCentre: string): Promise<ReseedReport>;
}

/**
 * Registers `POST /v1/operations/reseed`. No `Idempotency-Key`: the operation is idempotent by
 * nature (a repeated call finds nothing quarantined and answers `nothing_to_do`; a call after a
 * failed one continues where it stopped).
 */
export function registerOperationsRoutes(app: FastifyInstance, operations: Operations): void {
  app.addSchema(ReseedReportSchema);
  app.post<{ Body: ReseedBody }>(
    '/v1/operations/reseed',
    {
      handlerTimeout: RESEED_HANDLER_TIMEOUT_MS,
      schema: {
        security: requires('ops:admin'),
        summary: "Re-seed a returning data centre's shard copies",
        description:
          'After a data-centre loss moved its shards home to the other data centre, and its ' +
          'servers were started again (fenced, read-only): keeps each quarantined copy under ' +
          '`<database>_lost_e<epoch>` with figures of what it holds that the home lacks, ' +
          're-seeds a fresh copy from the current home, waits until it caught up, then lifts ' +
          'the fences and the quarantine in one catalog change. Homes are not moved back. ' +
          'Idempotent without a key: when nothing is quarantined the outcome is `nothing_to_do`. ' +
          '`409 state_conflict` when a precondition fails (nothing was changed); ' +
          '`503 reseed_incomplete` when it stopped part-way (call again to continue).',
        tags: ['operations'],
        body: ReseedBodySchema,
        response: {
          200: {
            description: 'The re-seed report.',
            content: {
              'application/json': { schema: { $ref: `${ReseedReportSchema.$id}#` } },
            },
          },
          ...problemResponses,
        },
      },
    },
    async (request) => operations.reseed(request.body.dataCentre),
  );
}
