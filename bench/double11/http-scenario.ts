import type { FastifyInstance } from 'fastify';
import { registerAuthorizationRoutes } from '../../src/domains/cards/api/authorization-routes.ts';
import {
  AuthorizationRequestBody,
  type AuthorizationRequestJson,
  AuthorizationSchema,
  authorizationRequestOf,
  authorizationToJson,
} from '../../src/domains/cards/api/schemas/authorization-schema.ts';
import { AuthorizationService } from '../../src/domains/cards/core/authorization/authorization-service.ts';
import type { AuthorizationOutcome } from '../../src/domains/cards/core/authorization/authorization-types.ts';
import { issuerOutcome } from '../../src/domains/cards/core/authorization/request-validation.ts';
import type { StandInProcessor } from '../../src/domains/cards/core/stand-in/stand-in-processor.ts';
import { requires } from '../../src/http/access-control.ts';
import { buildHttpServer } from '../../src/http/build-http-server.ts';
import { json, ref } from '../../src/http/routes/route-helpers.ts';
import type { FleetFixture } from '../../test/support/fleet-fixture.ts';
import { assertAuthenticated, bearer, fetchAccessToken } from '../support/demo-access.ts';
import { cpuByRole, sampleProcessCpu } from '../support/process-cpu.ts';
import { printTable, type SummaryRow } from '../support/report.ts';
import { runHttpLoad, urlOf } from './http-ceiling.ts';
import { type BenchIdentity, startBenchIdentity } from './http-identity.ts';

/**
 * 256 connections: a Double-11 front end holds many requests in flight, and the engine's batches
 * grow with them (both routes see the same load).
 */
export const HTTP = {
  concurrency: 256,
  opCount: 30_000,
  rounds: 2,
} as const;

type Body = AuthorizationRequestJson;

/** What the no-op route answers: an approval built from the body, decided by nobody. */
function echo(body: Body): AuthorizationOutcome {
  const now = new Date().toISOString();
  return issuerOutcome(authorizationRequestOf(body), {
    id: 'auth_00000000000000000000000000000000',
    accountId: null,
    status: 'approved',
    holdExpiresAt: now,
    createdAt: now,
  });
}

/**
 * The bench's HTTP server: credentials checked on every route as on the platform (the identity
 * module's access control and token endpoint), the real authorization routes and the no-op
 * route, which needs the same scope.
 */
async function buildBenchServer(
  fixture: FleetFixture,
  standIn: StandInProcessor,
  identity: BenchIdentity,
): Promise<FastifyInstance> {
  const router = await fixture.router({ applicationName: 'double11-http' });
  const service = new AuthorizationService(router);
  return buildHttpServer({
    source: fixture.fleet,
    version: 'bench',
    access: identity.identity.access,
    scopes: identity.scopes,
    routes: [
      async (server) => {
        await server.register(async (scope) => identity.identity.routes(scope));
      },
      (server) => {
        registerAuthorizationRoutes(server, {
          authorize: (request, token) => standIn.authorizeWithToken(request, token),
          getAuthorization: (id, token) => service.getAuthorization(id, token),
          capture: (id, amount, key) => service.capture(id, amount, key),
          reverse: (id, amount, key) => service.reverse(id, amount, key),
        });
        server.post<{ Body: Body }>(
          '/bench/noop',
          {
            schema: {
              security: requires('cards:authorize'),
              body: ref(AuthorizationRequestBody),
              response: { 201: json(AuthorizationSchema, 'An echo.') },
            },
          },
          async (request, reply) => {
            reply.code(201);
            return authorizationToJson(echo(request.body));
          },
        );
      },
    ],
  });
}

/**
 * The HTTP ceiling: the real `POST /v1/authorizations` (stand-in processing in front of the
 * engine) against a no-op route on the same server that parses, validates and answers the same
 * body with the same schema, driven from another process, alternating rounds. Both send the
 * demo client's access token (fetched afresh for each round), as a platform client would.
 */
export async function runHttpCeiling(
  fixture: FleetFixture,
  standIn: StandInProcessor,
  cardIds: readonly string[],
  shareMax: number,
): Promise<SummaryRow[]> {
  const identity = await startBenchIdentity(fixture);
  let app: FastifyInstance | null = null;
  try {
    app = await buildBenchServer(fixture, standIn, identity);
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = urlOf(app);
    const rows: string[][] = [];
    const rates = { noop: [] as number[], authorize: [] as number[] };
    for (let round = 0; round < HTTP.rounds; round += 1) {
      for (const kind of ['noop', 'authorize'] as const) {
        const authorization = bearer(await fetchAccessToken(url, identity.demo));
        const cpuBefore = sampleProcessCpu();
        const result = await runHttpLoad({
          url: `${url}${kind === 'noop' ? '/bench/noop' : '/v1/authorizations'}`,
          kind,
          concurrency: HTTP.concurrency,
          opCount: HTTP.opCount,
          cardIds,
          runId: `d11-http-${kind}-${round}-${Date.now()}`,
          authorization,
        });
        assertAuthenticated(`HTTP ${kind} round ${round + 1}`, result);
        rates[kind].push(result.opsPerSecond);
        const cpuAfter = sampleProcessCpu();
        const cpu =
          cpuBefore && cpuAfter
            ? cpuByRole(cpuBefore, cpuAfter, HTTP.opCount / result.opsPerSecond, HTTP.opCount)
            : [];
        const usOf = (role: string) =>
          cpu.filter((row) => row.role === role).reduce((sum, row) => sum + row.usPerOp, 0);
        // The load generator has exited by now: it reports its own CPU.
        const all = cpu.reduce((sum, row) => sum + row.usPerOp, 0) + result.cpuUsPerOp;
        const http = usOf('this process') + result.cpuUsPerOp;
        rows.push([
          kind === 'noop' ? 'no-op route' : 'POST /v1/authorizations',
          String(round + 1),
          Math.round(result.opsPerSecond).toLocaleString('en-US'),
          `${result.p50Ms.toFixed(1)} ms`,
          `${result.p99Ms.toFixed(1)} ms`,
          Object.entries(result.statuses)
            .map(([status, count]) => `${status} ${count}`)
            .join(', '),
          cpu.length > 0 ? `${all.toFixed(0)} us` : 'n/a',
          cpu.length > 0 ? `${http.toFixed(0)} us` : 'n/a',
          `${usOf('this process').toFixed(0)} us`,
        ]);
      }
    }
    console.log(
      `${HTTP.concurrency} keep-alive connections from a separate process, ${HTTP.opCount} requests per round; ` +
        "each request carries the demo client's access token (JWT), checked as on the platform\n",
    );
    printTable(
      [
        'route',
        'round',
        'req/s',
        'p50',
        'p99',
        'answers',
        'CPU/request',
        'of it Node',
        'of it API',
      ],
      rows,
    );
    console.log(
      '\nCPU/request: all processes of the machine, from /proc; of it Node: the API process ' +
        'and the load generator; of it API: the API process alone (HTTP, stand-in, engine)',
    );
    const best = (values: number[]) => Math.max(...values);
    const ratio = best(rates.authorize) / best(rates.noop);
    const cost = 1 - ratio;
    console.log(
      `\nbest rounds: authorizations ${Math.round(best(rates.authorize))}/s, no-op ${Math.round(best(rates.noop))}/s; ` +
        `the engine costs ${(cost * 100).toFixed(0)}% of the HTTP ceiling`,
    );
    return [
      {
        figure: 'HTTP authorizations/s (best round)',
        value: Math.round(best(rates.authorize)).toLocaleString('en-US'),
        target: 'none set',
        met: null,
      },
      {
        figure: 'engine cost share of the HTTP ceiling',
        value: `${(cost * 100).toFixed(0)}%`,
        target: `<= ${Math.round(shareMax * 100)}%`,
        met: cost <= shareMax,
      },
    ];
  } finally {
    await app?.close();
    await identity.stop();
  }
}
