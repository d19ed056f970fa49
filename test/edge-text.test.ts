/**
 * The edge refuses text PostgreSQL cannot store (U+0000, bytes that are not UTF-8, unpaired
 * surrogates, a declared charset other than UTF-8) in bodies, paths, query strings and the
 * Idempotency-Key, with a problem document and before any handler runs. Over a real socket with
 * a fixed topology source; the same refusals on the card routes of a running fleet, with
 * nothing written, are in card-api.test.ts.
 */
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildHttpServer } from '../src/http/build-http-server.ts';
import { IdempotencyKeyHeaders } from '../src/http/idempotency-header.ts';
import type { Problem } from '../src/http/schemas/problem-schema.ts';
import { findUnstorableText, urlFaultOf } from '../src/http/storable-text.ts';

let app: FastifyInstance;
let baseUrl: string;
/** Requests that reached a handler: a refused one must never add to it. */
let handled = 0;

before(async () => {
  app = await buildHttpServer({
    version: 'test',
    source: {
      health: async () => ({ ready: true, components: [] }),
      topology: async () => {
        throw new Error('not used');
      },
    },
  });
  app.post('/test/things', { schema: { headers: IdempotencyKeyHeaders } }, async (request) => {
    handled += 1;
    return { received: request.body ?? null };
  });
  app.get<{ Params: { id: string }; Querystring: Record<string, string> }>(
    '/test/things/:id',
    async (request) => {
      handled += 1;
      return { id: request.params.id, query: request.query };
    },
  );
  await app.listen({ port: 0, host: '127.0.0.1' });
  baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
});

after(async () => {
  await app.close();
});

function post(
  body: string | Uint8Array,
  headers: Record<string, string> = {},
  key: string | null = 'key-1',
): Promise<Response> {
  return fetch(`${baseUrl}/test/things`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(key === null ? {} : { 'idempotency-key': key }),
      ...headers,
    },
    body,
  });
}

/** Asserts a refusal with `code`, that no handler ran, and returns the problem. */
async function refused(response: Response, code: string, status = 400): Promise<Problem> {
  const before = handled;
  assert.equal(response.status, status);
  assert.equal(response.headers.get('content-type'), 'application/problem+json; charset=utf-8');
  const problem = (await response.json()) as Problem;
  assert.equal(problem.code, code, JSON.stringify(problem));
  assert.equal(handled, before);
  return problem;
}

/** Sends raw bytes on a new connection and returns everything the server answered. */
function raw(bytes: Buffer | string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(new URL(baseUrl).port), '127.0.0.1');
    let answer = '';
    socket.on('data', (chunk) => {
      answer += chunk.toString('latin1');
    });
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
    socket.end(bytes);
  });
}

describe('JSON bodies', () => {
  test('U+0000 anywhere, at any depth or in a key, is invalid_text with its pointer', async () => {
    const nested = await refused(
      await post('{"merchant": {"id": "mer\\u0000x", "tags": ["a", "b\\u0000"]}}'),
      'invalid_text',
    );
    assert.equal(nested.errors.length, 1);
    assert.match(nested.errors[0]?.pointer ?? '', /^\/merchant\/(id|tags\/1)$/);
    assert.equal(nested.errors[0]?.detail, 'contains U+0000');
    const key = await refused(await post('{"a\\u0000b": 1}'), 'invalid_text');
    assert.deepEqual(key.errors, [{ pointer: '/a\u0000b', detail: 'its name contains U+0000' }]);
    await refused(await post('"\\u0000"'), 'invalid_text');
  });

  test('an unpaired surrogate is invalid_text; a pair (an emoji) is stored as sent', async () => {
    for (const text of ['"\\ud800"', '"x\\udc00y"', '"\\ude00\\ud83d"', '{"a": "\\ud83d"}']) {
      await refused(await post(text), 'invalid_text');
    }
    const pair = await post('{"name": "\\ud83d\\ude00 ok", "path": "C:\\\\u0000"}');
    assert.equal(pair.status, 200);
    assert.deepEqual(await pair.json(), { received: { name: '😀 ok', path: 'C:\\u0000' } });
  });

  test('bytes that are not UTF-8 are invalid_text, not silently replaced', async () => {
    const latin1 = Buffer.concat([
      Buffer.from('{"name": "Jos'),
      Buffer.from([0xe9]),
      Buffer.from('"}'),
    ]);
    await refused(await post(latin1), 'invalid_text');
    const encodedSurrogate = Buffer.concat([
      Buffer.from('{"name": "'),
      Buffer.from([0xed, 0xa0, 0x80]),
      Buffer.from('"}'),
    ]);
    await refused(await post(encodedSurrogate), 'invalid_text');
    const ok = await post(Buffer.from('{"name": "José"}'));
    assert.deepEqual(await ok.json(), { received: { name: 'José' } });
  });

  test('a declared charset other than UTF-8 is invalid_text; UTF-8 declared any way is fine', async () => {
    for (const charset of ['latin1', 'ISO-8859-1', 'utf-16', '']) {
      const problem = await refused(
        await post('{"a": 1}', { 'content-type': `application/json; charset=${charset}` }),
        'invalid_text',
      );
      assert.match(problem.detail, /charset/);
    }
    for (const declared of ['utf-8', 'UTF-8', '"utf-8"', 'utf8']) {
      const ok = await post('{"a": 1}', { 'content-type': `application/json;charset=${declared}` });
      assert.equal(ok.status, 200, declared);
    }
  });

  test('malformed JSON and prototype poisoning are still malformed_json', async () => {
    await refused(await post('{"a": "\u0000"}'), 'malformed_json');
    await refused(await post('{"__proto__": {"admin": true}}'), 'malformed_json');
    await refused(await post(''), 'malformed_json');
  });
});

describe('paths and query strings', () => {
  test('a path parameter decoding to U+0000 or to bytes that are not UTF-8 is invalid_text', async () => {
    for (const id of ['%00', 'a%00b', '%C3%28', '%ED%A0%80', '%FF']) {
      await refused(await fetch(`${baseUrl}/test/things/${id}`), 'invalid_text');
    }
    const ok = await fetch(`${baseUrl}/test/things/Jos%C3%A9`);
    assert.deepEqual(await ok.json(), { id: 'José', query: {} });
  });

  test('a query string decoding to U+0000 or to bytes that are not UTF-8 is invalid_text', async () => {
    for (const query of ['q=%00', 'q=%E9', '%00=1', 'a=1&b=%C0%80']) {
      await refused(await fetch(`${baseUrl}/test/things/x?${query}`), 'invalid_text');
    }
    const ok = await fetch(`${baseUrl}/test/things/x?q=Jos%C3%A9`);
    assert.deepEqual(await ok.json(), { id: 'x', query: { q: 'José' } });
  });

  test('raw bytes outside ASCII in the request line are refused by the HTTP parser', async () => {
    const answer = await raw(
      Buffer.concat([
        Buffer.from('GET /test/things/'),
        Buffer.from([0xe9]),
        Buffer.from(' HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
      ]),
    );
    assert.match(answer, /^HTTP\/1\.1 400 /);
    assert.match(answer, /"code":"malformed_http"/);
  });

  test('the URL check decodes escapes and leaves malformed ones to the router', () => {
    assert.equal(urlFaultOf('/v1/users?limit=20'), null);
    assert.equal(urlFaultOf('/x/%e2%82%ac'), null);
    assert.equal(urlFaultOf('/x/%zz'), null);
    assert.equal(urlFaultOf('/x/%E0%A4%A'), null);
    assert.equal(urlFaultOf('/x/%zz?a=%00'), 'contains U+0000');
    assert.equal(urlFaultOf('/x/%00'), 'contains U+0000');
    assert.equal(urlFaultOf('/x/%e2%82'), 'is not valid UTF-8');
    assert.equal(findUnstorableText({ a: [{ b: 'ok' }, 'fine'] }), null);
  });
});

describe('the Idempotency-Key header', () => {
  test('missing is idempotency_key_missing; empty or not printable ASCII is idempotency_key_invalid', async () => {
    await refused(await post('{}', {}, null), 'idempotency_key_missing');
    await refused(await post('{}', {}, ''), 'idempotency_key_invalid');
    await refused(await post('{}', {}, 'tab\there'), 'idempotency_key_invalid');
    await refused(await post('{}', {}, 'k'.repeat(256)), 'idempotency_key_invalid');
    const utf8Key = await raw(
      Buffer.concat([
        Buffer.from('POST /test/things HTTP/1.1\r\nHost: x\r\nConnection: close\r\n'),
        Buffer.from('Idempotency-Key: caf'),
        Buffer.from([0xc3, 0xa9]),
        Buffer.from('\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}'),
      ]),
    );
    assert.match(utf8Key, /^HTTP\/1\.1 400 /);
    assert.match(utf8Key, /"code":"idempotency_key_invalid"/);
    const ok = await post('{}', {}, 'k'.repeat(255));
    assert.equal(ok.status, 200);
  });

  test('a header holding U+0000 is refused by the HTTP parser, as a problem document', async () => {
    const answer = await raw(
      'POST /test/things HTTP/1.1\r\nHost: x\r\nIdempotency-Key: a\u0000b\r\n' +
        'Content-Length: 2\r\n\r\n{}',
    );
    assert.match(answer, /^HTTP\/1\.1 400 /);
    assert.match(answer, /Content-Type: application\/problem\+json/);
    assert.match(answer, /"code":"malformed_http"/);
  });
});
