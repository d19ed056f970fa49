/**
 * The HTTP adapter over a real socket, with a fixed in-test source standing in for the fleet
 * (the fleet itself is tested against real PostgreSQL servers elsewhere).
 */
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { openApiDocument } from '../src/cli/commands/openapi.ts';
import { MainstayError } from '../src/errors/mainstay-error.ts';
import { type FailoverEvent, pageOfEvents } from '../src/fleet/failover-events.ts';
import type { HealthReport, TopologySnapshot } from '../src/fleet/topology-snapshot.ts';
import { BODY_SIZE_MAX_BYTES, buildHttpServer } from '../src/http/build-http-server.ts';
import type { Problem } from '../src/http/schemas/problem-schema.ts';

/** The parts of the OpenAPI document these tests read. */
interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, { responses: Record<string, OpenApiResponse> }>>;
  components: { schemas: Record<string, { required?: string[] }> };
}

interface OpenApiResponse {
  content?: Record<string, { schema: { $ref?: string } }>;
}

const SNAPSHOT: TopologySnapshot = {
  observedAt: '2025-01-02T03:04:05.678Z',
  epoch: 7,
  catalog: { server: 'witness', state: 'up' },
  dataCentres: [
    { id: 'dc1', synchronousCommit: 'remote_apply', primary: 'pg1', replicas: ['pg2'] },
  ],
  servers: [
    server({ id: 'pg1', role: 'primary', lastWalLsn: '0/3000148', pid: 4242 }),
    server({ id: 'pg2', role: 'replica', replayLagBytes: 0, replayLagMs: 1.5 }),
    server({ id: 'witness', dc: null, role: 'witness', state: 'down', detail: 'no answer' }),
  ],
  shards: [
    {
      id: 1,
      database: 'shard_1',
      homeDc: 'dc1',
      copyDc: 'dc2',
      buckets: [
        [0, 511],
        [1024, 1535],
      ],
      copyState: 'replicating',
      logicalReplication: {
        subscription: 'sub_1',
        state: 'replicating',
        lagBytes: null,
        detail: null,
      },
    },
  ],
};

function server(
  fields: Partial<TopologySnapshot['servers'][number]>,
): TopologySnapshot['servers'][number] {
  return {
    id: 'pg',
    dc: 'dc1',
    role: 'replica',
    host: '127.0.0.1',
    port: 5432,
    state: 'up',
    pid: null,
    lastWalLsn: null,
    replayLagBytes: null,
    replayLagMs: null,
    streamingState: null,
    detail: null,
    fencedAtEpoch: null,
    ...fields,
  };
}

/** 45 events, newest first, three to a millisecond, so pages end inside a millisecond. */
const EVENTS: FailoverEvent[] = Array.from({ length: 45 }, (_, index) => ({
  at: new Date(Date.UTC(2026, 0, 1) - Math.floor(index / 3)).toISOString(),
  kind: 'catalog_epoch' as const,
  server: null,
  dc: null,
  epoch: 45 - index,
  sinceDetectionMs: null,
  detail: `event ${index}`,
}));

/** What the fake source answers; tests change it before a request. */
const state: { health: HealthReport; topology: () => Promise<TopologySnapshot> } = {
  health: { ready: true, components: [] },
  topology: async () => SNAPSHOT,
};
const logLines: string[] = [];
let app: FastifyInstance;
let baseUrl: string;

before(async () => {
  app = await buildHttpServer({
    version: '9.8.7',
    logger: { level: 'info', stream: { write: (line: string) => logLines.push(line) } },
    source: { health: async () => state.health, topology: () => state.topology() },
    events: {
      async events(limit, cursor) {
        return pageOfEvents(EVENTS, limit, cursor);
      },
    },
  });
  app.get('/test/invalid', async () => {
    throw new MainstayError('invalid_request', 'amount must be positive', {
      errors: [{ pointer: '/amount', detail: 'must be > 0' }],
    });
  });
  app.get('/test/crash', async () => {
    throw new Error('connect ECONNREFUSED db.internal:5432 password=hunter2');
  });
  app.post(
    '/test/echo',
    {
      schema: {
        body: {
          type: 'object',
          required: ['amount', 'currency'],
          properties: { amount: { type: 'integer' }, currency: { type: 'string' } },
          additionalProperties: false,
        },
      },
    },
    async (request) => request.body,
  );
  await app.listen({ port: 0, host: '127.0.0.1' });
  baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
});

after(async () => {
  await app.close();
});

async function get(path: string, init?: RequestInit): Promise<Response> {
  return fetch(`${baseUrl}${path}`, init);
}

function postJson(path: string, body: string, contentType = 'application/json'): Promise<Response> {
  return get(path, { method: 'POST', headers: { 'content-type': contentType }, body });
}

/** Asserts `response` is a problem document with `status` and `code`, and returns its body. */
async function assertProblem(response: Response, status: number, code: string): Promise<Problem> {
  assert.equal(response.status, status);
  assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json\b/);
  const body = (await response.json()) as Problem;
  assert.deepEqual(Object.keys(body).sort(), [
    'code',
    'detail',
    'errors',
    'status',
    'title',
    'type',
  ]);
  assert.equal(body.status, status);
  assert.equal(body.code, code);
  assert.equal(body.type, `https://mainstay.dev/errors/${code}`);
  assert.ok(Array.isArray(body.errors));
  return body;
}

test('GET /health is 200 with the report when every component is ready', async () => {
  state.health = { ready: true, components: [{ name: 'catalog', ready: true, detail: null }] };
  const response = await get('/health');
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^application\/json\b/);
  assert.equal(response.headers.get('retry-after'), null);
  assert.deepEqual(await response.json(), state.health);
});

test('GET /health is 503 with Retry-After and the same report, not a problem', async () => {
  state.health = {
    ready: false,
    components: [
      { name: 'catalog', ready: true, detail: null },
      { name: 'fleet', ready: false, detail: 'pg2 is starting' },
    ],
  };
  const response = await get('/health');
  assert.equal(response.status, 503);
  assert.equal(response.headers.get('retry-after'), '1');
  assert.match(response.headers.get('content-type') ?? '', /^application\/json\b/);
  assert.deepEqual(await response.json(), state.health);
});

test('GET /v1/topology returns the snapshot, nulls and bucket ranges intact', async () => {
  const response = await get('/v1/topology');
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^application\/json\b/);
  assert.deepEqual(await response.json(), SNAPSHOT);
});

test('GET /v1/topology while the catalog is unreachable is 503 with Retry-After', async (t) => {
  state.topology = async () => {
    throw new MainstayError('catalog_unavailable', 'catalog at 127.0.0.1:6000 does not answer');
  };
  t.after(() => {
    state.topology = async () => SNAPSHOT;
  });
  const response = await get('/v1/topology');
  assert.equal(response.headers.get('retry-after'), '1');
  const body = await assertProblem(response, 503, 'catalog_unavailable');
  assert.equal(body.detail, 'catalog at 127.0.0.1:6000 does not answer');
});

test('a source answering a snapshot that breaks the schema is a 500, not a partial body', async (t) => {
  const { epoch: _dropped, ...broken } = SNAPSHOT;
  state.topology = async () => broken as TopologySnapshot;
  t.after(() => {
    state.topology = async () => SNAPSHOT;
  });
  await assertProblem(await get('/v1/topology'), 500, 'internal_error');
});

test('GET /openapi.json is an OpenAPI 3.1 document listing every endpoint', async () => {
  const response = await get('/openapi.json');
  assert.equal(response.status, 200);
  const doc = (await response.json()) as OpenApiDocument;
  assert.match(doc.openapi, /^3\.1\.\d+$/);
  assert.equal(doc.info.title, 'Mainstay API');
  assert.equal(doc.info.version, '9.8.7');
  for (const path of ['/health', '/v1/topology', '/openapi.json']) {
    assert.ok(doc.paths[path]?.get, `missing GET ${path}`);
  }
  assert.equal(doc.paths['/docs'], undefined);
  const topology = doc.paths['/v1/topology']?.get?.responses;
  assert.equal(
    topology?.['200']?.content?.['application/json']?.schema.$ref,
    '#/components/schemas/TopologySnapshot',
  );
  assert.equal(
    topology?.['5XX']?.content?.['application/problem+json']?.schema.$ref,
    '#/components/schemas/Problem',
  );
  assert.deepEqual(doc.components.schemas.TopologySnapshot?.required, [
    'observedAt',
    'epoch',
    'catalog',
    'dataCentres',
    'servers',
    'shards',
  ]);
});

test('the OpenAPI document marks Idempotency-Key required on every write that takes it', async () => {
  const document = (await openApiDocument()) as {
    paths: Record<
      string,
      Record<string, { parameters?: { in: string; name: string; required?: boolean }[] }>
    >;
  };
  const keyed: string[] = [];
  for (const [path, operations] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      const key = operation.parameters?.find(
        (parameter) => parameter.in === 'header' && parameter.name === 'idempotency-key',
      );
      if (key === undefined) continue;
      keyed.push(`${method.toUpperCase()} ${path}`);
      assert.equal(key.required, true, `${method.toUpperCase()} ${path}`);
    }
  }
  for (const write of [
    'POST /v1/card-accounts',
    'POST /v1/card-accounts/{accountId}/cards',
    'POST /v1/cards/{cardId}/block',
    'POST /v1/authorizations/{authorizationId}/capture',
    'POST /v1/users',
    'POST /v1/users/{userId}/cards',
    'DELETE /v1/users/{userId}/cards/{cardId}',
  ]) {
    assert.ok(keyed.includes(write), write);
  }
});

test('GET /docs serves the docs page and its assets from the package, not a CDN', async () => {
  const response = await get('/docs');
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/html\b/);
  const html = await response.text();
  assert.match(html, /swagger-ui/);
  assert.doesNotMatch(html, /(src|href)="https?:\/\//);
  const css = await get('/docs/static/swagger-ui.css');
  assert.equal(css.status, 200);
  await css.arrayBuffer();
});

test('an unknown route is a 404 problem that does not echo the query string', async () => {
  const body = await assertProblem(await get('/v1/nope?token=s3cret'), 404, 'route_not_found');
  assert.equal(body.detail, 'No endpoint matches GET /v1/nope.');
});

test('a known path with a wrong method is a 405 problem naming the allowed methods in Allow', async () => {
  const health = await get('/health', { method: 'DELETE' });
  assert.equal(health.headers.get('allow'), 'GET, HEAD');
  await assertProblem(health, 405, 'method_not_allowed');
  const echo = await get('/test/echo?x=1', { method: 'PUT' });
  assert.equal(echo.headers.get('allow'), 'POST');
  const body = await assertProblem(echo, 405, 'method_not_allowed');
  assert.equal(body.detail, 'PUT is not allowed on /test/echo; it accepts POST.');
  // A path with a parameter: any value of the parameter is the same resource.
  const events = await get('/v1/events', { method: 'POST' });
  assert.equal(events.headers.get('allow'), 'GET, HEAD');
  await assertProblem(events, 405, 'method_not_allowed');
  await assertProblem(await get('/v1/events/extra', { method: 'POST' }), 404, 'route_not_found');
});

/** Writes `request` on a new connection and returns the raw answer (the server closes it). */
function rawExchange(request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(new URL(baseUrl).port), '127.0.0.1');
    let answer = '';
    socket.on('data', (chunk) => {
      answer += chunk.toString('utf8');
    });
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
    socket.end(request);
  });
}

/** The status and problem of a raw HTTP answer, checked to be a problem document. */
function rawProblem(answer: string): { status: number; problem: Problem } {
  const [head = '', body = ''] = answer.split('\r\n\r\n');
  assert.match(head, /\r\ncontent-type: application\/problem\+json; charset=utf-8\r\n/i);
  const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(head)?.[1]);
  return { status, problem: JSON.parse(body) as Problem };
}

test('a request line over 16 KB is a 431 problem, not plain JSON', async () => {
  const answer = await rawExchange(`GET /health?${'a'.repeat(17_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
  const { status, problem } = rawProblem(answer);
  assert.equal(status, 431);
  assert.equal(problem.code, 'headers_too_large');
  assert.equal(problem.status, 431);
});

test('Content-Length with Transfer-Encoding is a 400 problem, not plain JSON', async () => {
  const answer = await rawExchange(
    'POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
      'Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  );
  const { status, problem } = rawProblem(answer);
  assert.equal(status, 400);
  assert.equal(problem.code, 'malformed_http');
  assert.match(problem.detail, /Content-Length/);
});

test('a URL that is not valid percent-encoding is a 400 problem', async () => {
  await assertProblem(await get('/v1/%E0%A4%A'), 400, 'invalid_request');
});

test('a MainstayError keeps its catalogue status, code, detail and field errors', async () => {
  const body = await assertProblem(await get('/test/invalid'), 400, 'invalid_request');
  assert.equal(body.detail, 'amount must be positive');
  assert.deepEqual(body.errors, [{ pointer: '/amount', detail: 'must be > 0' }]);
});

test('any other error is a 500 internal_error that leaks nothing but is logged', async () => {
  logLines.length = 0;
  const response = await get('/test/crash');
  const text = await response.clone().text();
  await assertProblem(response, 500, 'internal_error');
  assert.doesNotMatch(text, /hunter2|ECONNREFUSED|db\.internal/);
  const logged = logLines.map((line) => JSON.parse(line)).find((entry) => entry.level === 50);
  assert.match(logged?.err?.message ?? '', /hunter2/);
});

test('malformed or empty JSON is a 400 malformed_json', async () => {
  await assertProblem(await postJson('/test/echo', '{"amount": 1,'), 400, 'malformed_json');
  await assertProblem(await postJson('/test/echo', ''), 400, 'malformed_json');
  await assertProblem(
    await postJson('/test/echo', '{"__proto__": {"admin": true}}'),
    400,
    'malformed_json',
  );
});

test('invalid fields are a 400 invalid_request with one pointer per field', async () => {
  const body = await assertProblem(
    await postJson('/test/echo', JSON.stringify({ amount: 'ten', extra: 1 })),
    400,
    'invalid_request',
  );
  assert.deepEqual(
    body.errors.map((error) => error.pointer).sort(),
    ['/amount', '/currency', '/extra'].sort(),
  );
  const echoed = await postJson('/test/echo', JSON.stringify({ amount: 10, currency: 'EUR' }));
  assert.deepEqual(await echoed.json(), { amount: 10, currency: 'EUR' });
});

test('a body over the limit is a 413 payload_too_large', async () => {
  const oversize = JSON.stringify({ amount: 1, currency: 'x'.repeat(BODY_SIZE_MAX_BYTES) });
  await assertProblem(await postJson('/test/echo', oversize), 413, 'payload_too_large');
});

test('a body that is not JSON is a 415 unsupported_media_type', async () => {
  await assertProblem(
    await postJson('/test/echo', 'amount=1', 'text/plain'),
    415,
    'unsupported_media_type',
  );
  await assertProblem(
    await postJson('/test/echo', '<amount>1</amount>', 'application/xml'),
    415,
    'unsupported_media_type',
  );
});

test('events page by cursor: every event once, newest first, pages ending inside a millisecond', async () => {
  const seen: number[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 10; page += 1) {
    const query: string = cursor ? `&startingAfter=${cursor}` : '';
    const response = await fetch(`${baseUrl}/v1/events?limit=7${query}`);
    assert.equal(response.status, 200);
    const body = (await response.json()) as {
      data: FailoverEvent[];
      hasMore: boolean;
      nextCursor: string | null;
    };
    seen.push(...body.data.map((event) => event.epoch ?? -1));
    assert.equal(body.hasMore, body.nextCursor !== null);
    cursor = body.nextCursor;
    if (!cursor) break;
  }
  assert.deepEqual(
    seen,
    EVENTS.map((event) => event.epoch),
  );
  const bad = await fetch(`${baseUrl}/v1/events?startingAfter=not-a-cursor`);
  assert.equal(bad.status, 400);
  assert.equal(((await bad.json()) as Problem).code, 'invalid_request');
});

test('bodies are not coerced: a string or a boolean where an integer belongs is refused', async () => {
  for (const amount of ['10', true, 10.5]) {
    const response = await fetch(`${baseUrl}/test/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ amount, currency: 'CNY' }),
    });
    assert.equal(response.status, 400, `amount ${JSON.stringify(amount)}`);
    const problem = (await response.json()) as Problem;
    assert.equal(problem.code, 'invalid_request');
    assert.equal(problem.errors?.[0]?.pointer, '/amount');
  }
  const ok = await fetch(`${baseUrl}/test/echo`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ amount: 10, currency: 'CNY' }),
  });
  assert.deepEqual(await ok.json(), { amount: 10, currency: 'CNY' });
});
