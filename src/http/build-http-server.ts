/**
 * The HTTP entry point of Mainstay: the only place that assembles Fastify, the schemas, the
 * problem handlers and the routes. It depends on the fleet only through {@link TopologySource},
 * so it can be tested with a fixed source and the fleet never imports HTTP code.
 */
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyServerOptions,
} from 'fastify';
import type { ApprovalStore } from '../approvals/approval-store.ts';
import type { EventSource } from '../fleet/failover-events.ts';
import type { TopologySource } from '../fleet/topology-snapshot.ts';
import { type AccessControl, registerAccessControl } from './access-control.ts';
import { registerApprovalGate } from './approval-gate.ts';
import { answerClientError } from './client-errors.ts';
import { registerConsistencyHeader } from './consistency-header.ts';
import { requireIdempotencyKeys } from './idempotency-header.ts';
import { responseSerializers } from './lazy-serializers.ts';
import { handleFrameworkError, registerProblemHandlers } from './problem-handlers.ts';
import { requestValidators } from './request-validators.ts';
import { registerApprovalRoutes } from './routes/approval-routes.ts';
import { registerEventsRoute } from './routes/events-route.ts';
import { registerHealthRoute } from './routes/health-route.ts';
import { type MetricsSource, registerMetricsRoute } from './routes/metrics-route.ts';
import { registerOpenApi, registerOpenApiRoutes } from './routes/openapi-routes.ts';
import { registerTopologyRoute } from './routes/topology-route.ts';
import { EventListSchema, FailoverEventSchema } from './schemas/event-schema.ts';
import { HealthReportSchema } from './schemas/health-schema.ts';
import { problemSchema } from './schemas/problem-schema.ts';
import { TopologySnapshotSchema } from './schemas/topology-schema.ts';
import { registerStorableJsonParser, registerUrlTextCheck } from './text-guard.ts';

/**
 * Largest request body accepted (1 MiB). No Mainstay request comes near it; the bound keeps a
 * client from making the server buffer, parse and validate an arbitrarily large document.
 */
export const BODY_SIZE_MAX_BYTES = 1024 * 1024;

/**
 * How long a client has to send a whole request. Fastify's default is no limit, which lets slow
 * clients hold sockets open forever when nothing sits in front of the server.
 */
export const REQUEST_TIMEOUT_MS = 30_000;

export { HANDLER_TIMEOUT_MS } from './handler-timeout.ts';

/** What {@link buildHttpServer} needs. */
export interface HttpServerOptions {
  /** Where topology and health come from: the running fleet, or a fixed source in tests. */
  readonly source: TopologySource;
  /** Failover and catalog events for `GET /v1/events`; the route is absent without it. */
  readonly events?: EventSource;
  /** Prometheus metrics for `GET /metrics`; the route is absent without it. */
  readonly metrics?: MetricsSource;
  /** Pino options, `true` for defaults, or an existing pino logger. Off when omitted. */
  readonly logger?: boolean | object;
  /** The API version shown in the OpenAPI document (the package version). */
  readonly version: string;
  /**
   * Domain routes, registered after the platform's own and before the OpenAPI document is
   * built (so they appear in it). The entry point that owns the domain services passes them.
   */
  readonly routes?: readonly ((app: FastifyInstance) => void | Promise<void>)[];
  /**
   * Verifies bearer credentials. With it, every route must declare its `security` and is
   * checked on each request; the platform always passes one. Without it, routes are not checked
   * (a server built for one route's test, or the offline OpenAPI document).
   */
  readonly access?: AccessControl;
  /**
   * Where maker-checker requests are kept. With it (and `access`), routes that declare
   * `config.approval` wait for another person's approval, and `/v1/approvals` is served.
   */
  readonly approvals?: ApprovalStore;
  /** Every scope a route may require, with what it allows: the OpenAPI document lists them. */
  readonly scopes?: Readonly<Record<string, string>>;
  /** Whether `GET /metrics` answers without a credential (default: it needs one). */
  readonly metricsPublic?: boolean;
  /**
   * Compile every request validator and response serializer when the server starts rather than
   * at its first use (request-validators.ts, lazy-serializers.ts). Default false; the offline
   * OpenAPI build sets it.
   */
  readonly compileSchemasAtStart?: boolean;
}

/**
 * Builds the Mainstay HTTP server, ready to `listen`. Routes can still be added to the returned
 * instance until it starts.
 *
 * @example
 * const app = await buildHttpServer({ source: fleet, logger: true, version: '0.1.0' });
 * await app.listen({ port: 8080, host: '127.0.0.1' });
 */
export async function buildHttpServer(options: HttpServerOptions): Promise<FastifyInstance> {
  const app = Fastify({
    ...loggerOptions(options.logger),
    bodyLimit: BODY_SIZE_MAX_BYTES,
    requestTimeout: REQUEST_TIMEOUT_MS,
    // Errors raised before routing (a URL that is not valid percent-encoding) are problems too,
    // and so are requests Node's HTTP parser refuses (oversize headers, conflicting lengths).
    frameworkErrors: handleFrameworkError,
    clientErrorHandler: answerClientError,
    schemaController: {
      compilersFactory: {
        buildValidator: requestValidators(options.compileSchemasAtStart ?? false),
        buildSerializer: responseSerializers(options.compileSchemasAtStart ?? false),
      },
    } as unknown as FastifyServerOptions['schemaController'],
    ajv: {
      customOptions: {
        // Report every invalid field at once rather than one per round trip; the body limit
        // above bounds how much work that can be.
        allErrors: true,
        // An unknown field is rejected ("is not allowed"), not silently dropped: a client that
        // misspells a field must find out before it relies on it.
        removeAdditional: false,
      },
    },
  });
  for (const schema of [
    TopologySnapshotSchema,
    HealthReportSchema,
    problemSchema(),
    FailoverEventSchema,
    EventListSchema,
  ]) {
    app.addSchema(schema);
  }
  // Mainstay bodies are JSON only; without this, a text/plain body would reach validation and
  // come back as a confusing "must be object" instead of 415.
  app.removeContentTypeParser('text/plain');
  // Text PostgreSQL cannot store is refused here, before validation and any handler (decision 33).
  registerStorableJsonParser(app);
  registerUrlTextCheck(app);
  registerProblemHandlers(app);
  app.addHook('onRoute', requireIdempotencyKeys);
  if (options.access) registerAccessControl(app, options.access);
  if (options.access && options.approvals) {
    registerApprovalRoutes(app, registerApprovalGate(app, options.approvals));
  }
  registerConsistencyHeader(app);
  await registerOpenApi(app, options.version, options.scopes ?? {});
  registerHealthRoute(app, options.source);
  registerTopologyRoute(app, options.source);
  if (options.events) registerEventsRoute(app, options.events);
  if (options.metrics) {
    registerMetricsRoute(app, options.metrics, { public: options.metricsPublic ?? false });
  }
  for (const register of options.routes ?? []) await register(app);
  await registerOpenApiRoutes(app);
  return app;
}

/**
 * Fastify 5 takes pino options as `logger` but a ready logger only as `loggerInstance`; the CLI
 * may hand over either, so tell them apart here rather than make every caller know.
 */
function loggerOptions(logger: boolean | object | undefined): FastifyServerOptions {
  if (logger === undefined || typeof logger === 'boolean') return { logger: logger ?? false };
  if (isLoggerInstance(logger)) return { loggerInstance: logger };
  return { logger: logger as FastifyServerOptions['logger'] };
}

function isLoggerInstance(value: object): value is FastifyBaseLogger {
  const candidate = value as { child?: unknown; info?: unknown; error?: unknown };
  return (
    typeof candidate.child === 'function' &&
    typeof candidate.info === 'function' &&
    typeof candidate.error === 'function'
  );
}
