/**
 * `/v1/ops`: the atomic modules and workflows, runs started with an idempotency key, their steps
 * and event log (as a page, or followed live as server-sent events), and the decisions on a step
 * waiting for a second person.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { MainstayError } from '../../../errors/mainstay-error.ts';
import { requires } from '../../../http/access-control.ts';
import { idempotencyKeyOf, markReplayed } from '../../../http/idempotency-header.ts';
import { problemResponses } from '../../../http/routes/problem-responses.ts';
import { IDEMPOTENCY_HEADER, json, ref } from '../../../http/routes/route-helpers.ts';
import type { WorkflowEngine } from '../../../workflow/workflow-engine.ts';
import {
  FINISHED_RUN_STATUSES,
  RUN_STATUSES,
  type RunStatus,
} from '../../../workflow/workflow-types.ts';
import { newRunId } from '../core/run-ids.ts';
import {
  DecideBody,
  OpsCatalogueSchema,
  OpsEventPageSchema,
  OpsRunPageSchema,
  OpsRunSchema,
  OpsStepSchema,
  StartRunBody,
} from './ops-schemas.ts';
import { cursorOf, parseCursor } from './run-cursor.ts';

export const OPS_SCOPES = {
  'ops:read': 'Read the ops modules, workflows, runs and their event logs.',
} as const;

/** How often a followed event stream looks for new events. */
const FOLLOW_POLL_MS = 250;

const RunParams = {
  type: 'object',
  properties: { runId: { type: 'string', minLength: 1, maxLength: 64 } },
  required: ['runId'],
  additionalProperties: false,
} as const;

/** Registers the ops routes over `engine`. */
export function registerOpsRoutes(app: FastifyInstance, engine: WorkflowEngine): void {
  for (const schema of [
    OpsStepSchema,
    OpsRunSchema,
    OpsRunPageSchema,
    OpsEventPageSchema,
    OpsCatalogueSchema,
    StartRunBody,
    DecideBody,
  ]) {
    app.addSchema(schema);
  }
  registerCatalogue(app, engine);
  registerStart(app, engine);
  registerReads(app, engine);
  registerEvents(app, engine);
  registerDecision(app, engine, 'approve');
  registerDecision(app, engine, 'reject');
}

function registerCatalogue(app: FastifyInstance, engine: WorkflowEngine) {
  const read = {
    security: requires('ops:read'),
    tags: ['ops'],
    response: { 200: json(OpsCatalogueSchema, 'The catalogue.'), ...problemResponses },
  };
  app.get(
    '/v1/ops/modules',
    { schema: { ...read, summary: 'The atomic ops modules' } },
    async () => ({
      data: engine.modules.map((module) => ({
        name: module.name,
        summary: module.summary,
        inputSchema: module.inputSchema,
        approverRoles: module.approverRoles ? [...module.approverRoles] : null,
        attemptsMax: module.attemptsMax ?? 3,
      })),
    }),
  );
  app.get('/v1/ops/workflows', { schema: { ...read, summary: 'The ops workflows' } }, async () => ({
    data: engine.workflows
      .filter((workflow) => !workflow.name.startsWith('module:'))
      .map((workflow) => ({
        name: workflow.name,
        summary: workflow.summary,
        inputSchema: workflow.inputSchema,
        steps: workflow.steps.map((step) => ({
          name: step.name,
          module: step.module,
          approverRoles: [
            ...(step.approverRoles ??
              engine.modules.find((m) => m.name === step.module)?.approverRoles ??
              []),
          ],
        })),
      })),
  }));
}

function registerStart(app: FastifyInstance, engine: WorkflowEngine) {
  app.post<{ Body: { workflow?: string; module?: string; input: Record<string, unknown> } }>(
    '/v1/ops/runs',
    {
      schema: {
        security: requires('ops:manage'),
        summary: 'Start a workflow (or one module alone)',
        description:
          'Answers `202` with the run; follow it with `GET /v1/ops/runs/{runId}/events`. A step with approver roles waits until a member of staff other than the starter approves it. The same `Idempotency-Key` from the same caller answers the same run.',
        tags: ['ops'],
        headers: IDEMPOTENCY_HEADER,
        body: ref(StartRunBody),
        response: { 202: json(OpsRunSchema, 'The run, as it starts.'), ...problemResponses },
      },
    },
    async (request, reply) => {
      const principal = request.principal;
      if (!principal) throw new MainstayError('unauthenticated', 'starting a run needs a caller');
      const { workflow, module, input } = request.body;
      if ((workflow === undefined) === (module === undefined)) {
        throw new MainstayError('invalid_request', 'name exactly one of workflow and module', {
          errors: [{ pointer: '/workflow', detail: 'exactly one of workflow and module' }],
        });
      }
      const common = {
        id: newRunId(),
        input,
        startedBy: principal.subject,
        idempotencyKey: idempotencyKeyOf(request),
      };
      const started =
        module !== undefined
          ? await engine.startModule({ ...common, module })
          : await engine.startRun({ ...common, workflow: workflow as string });
      markReplayed(reply, !started.created);
      reply.code(202);
      return started.run;
    },
  );
}

function registerReads(app: FastifyInstance, engine: WorkflowEngine) {
  app.get<{ Querystring: { status?: RunStatus; limit?: number; startingAfter?: string } }>(
    '/v1/ops/runs',
    {
      schema: {
        security: requires('ops:read'),
        summary: 'Runs, newest first',
        tags: ['ops'],
        querystring: {
          type: 'object',
          properties: {
            status: { type: 'string', enum: [...RUN_STATUSES] },
            limit: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
            startingAfter: { type: 'string', maxLength: 200 },
          },
          additionalProperties: false,
        },
        response: { 200: json(OpsRunPageSchema, 'A page of runs.'), ...problemResponses },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? 20;
      const after = request.query.startingAfter
        ? parseCursor(request.query.startingAfter)
        : undefined;
      const runs = await engine.list({
        limit: limit + 1,
        ...(after ? { after } : {}),
        ...(request.query.status ? { status: request.query.status } : {}),
      });
      const data = runs.slice(0, limit);
      const last = data.at(-1);
      return {
        data,
        hasMore: runs.length > limit,
        nextCursor: runs.length > limit && last ? cursorOf(last) : null,
      };
    },
  );
  app.get<{ Params: { runId: string } }>(
    '/v1/ops/runs/:runId',
    {
      schema: {
        security: requires('ops:read'),
        summary: 'One run with its steps',
        tags: ['ops'],
        params: RunParams,
        response: { 200: json(OpsRunSchema, 'The run.'), ...problemResponses },
      },
    },
    async (request) => engine.run(request.params.runId),
  );
}

function registerEvents(app: FastifyInstance, engine: WorkflowEngine) {
  app.get<{ Params: { runId: string }; Querystring: { after?: number; limit?: number } }>(
    '/v1/ops/runs/:runId/events',
    {
      schema: {
        security: requires('ops:read'),
        summary: "A run's event log (JSON), or followed live (`Accept: text/event-stream`)",
        description:
          'As JSON, the events after `after`. With `Accept: text/event-stream`, the events are sent as they happen (each with its `seq` as the event id) until the run is over or waits for a decision; a client reconnects with `Last-Event-ID`.',
        tags: ['ops'],
        params: RunParams,
        querystring: {
          type: 'object',
          properties: {
            after: { type: 'integer', minimum: 0, default: 0 },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 500 },
          },
          additionalProperties: false,
        },
        response: { 200: json(OpsEventPageSchema, 'The events.'), ...problemResponses },
      },
    },
    async (request, reply) => {
      const after = Number(request.headers['last-event-id'] ?? request.query.after ?? 0) || 0;
      if (String(request.headers.accept ?? '').includes('text/event-stream')) {
        await followEvents(engine, request, reply, after);
        return reply;
      }
      const data = await engine.events(request.params.runId, after, request.query.limit ?? 500);
      const run = await engine.run(request.params.runId);
      return { data, runStatus: run.status };
    },
  );
}

/** Streams the run's events as server-sent events until it is over or waits for a person. */
async function followEvents(
  engine: WorkflowEngine,
  request: FastifyRequest<{ Params: { runId: string } }>,
  reply: FastifyReply,
  from: number,
) {
  const runId = request.params.runId;
  await engine.run(runId);
  reply.hijack();
  reply.raw.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-store',
    connection: 'keep-alive',
  });
  let after = from;
  let open = true;
  request.raw.on('close', () => {
    open = false;
  });
  while (open) {
    for (const event of await engine.events(runId, after)) {
      reply.raw.write(`id: ${event.seq}\nevent: ${event.kind}\ndata: ${JSON.stringify(event)}\n\n`);
      after = event.seq;
    }
    const run = await engine.run(runId);
    if (FINISHED_RUN_STATUSES.includes(run.status) || run.status === 'waiting_approval') {
      const rest = await engine.events(runId, after);
      for (const event of rest)
        reply.raw.write(
          `id: ${event.seq}\nevent: ${event.kind}\ndata: ${JSON.stringify(event)}\n\n`,
        );
      reply.raw.write(`event: end\ndata: ${JSON.stringify({ status: run.status })}\n\n`);
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, FOLLOW_POLL_MS));
  }
  reply.raw.end();
}

function registerDecision(
  app: FastifyInstance,
  engine: WorkflowEngine,
  verb: 'approve' | 'reject',
) {
  app.post<{ Params: { runId: string }; Body: { reason?: string } | undefined }>(
    `/v1/ops/runs/:runId/${verb}`,
    {
      schema: {
        security: requires('approvals:decide'),
        summary:
          verb === 'approve'
            ? 'Approve the step the run waits on'
            : 'Reject the step the run waits on; the steps done are undone',
        description:
          "Only a member of staff other than the run's starter, holding one of the step's approver roles, may decide (`403 approval_self`, `403 approval_role_missing`); a step already decided answers `409 approval_decided`.",
        tags: ['ops'],
        headers: IDEMPOTENCY_HEADER,
        params: RunParams,
        body: ref(DecideBody),
        response: { 200: json(OpsRunSchema, 'The run after the decision.'), ...problemResponses },
      },
    },
    async (request) => {
      const principal = request.principal;
      if (!principal) throw new MainstayError('unauthenticated', 'a decision needs a person');
      // Only a staff session holds roles: any other credential decides nothing (after the run is
      // found, so an unknown run is 404 whoever asks).
      const roles = principal.kind === 'staff' ? [...principal.roles] : [];
      const decider = { id: principal.subject, roles };
      return engine.decide(
        request.params.runId,
        decider,
        verb === 'approve',
        request.body?.reason ?? null,
      );
    },
  );
}
