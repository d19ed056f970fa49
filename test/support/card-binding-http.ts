import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { CONSISTENCY_TOKEN_HEADER } from '../../src/data/consistency-token.ts';
import type { Router } from '../../src/data/router.ts';
import { registerBindingRoutes } from '../../src/domains/cards/api/binding-routes.ts';
import type { CardBindingService } from '../../src/domains/cards/core/binding/binding-service.ts';
import { luhnCheckDigit } from '../../src/domains/cards/core/card-number.ts';
import { buildHttpServer } from '../../src/http/build-http-server.ts';

/** A parsed answer from one API instance. */
export interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | number | undefined>;
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
  readonly json: any;
  readonly text: string;
  /** The answer's consistency token (writes only). */
  readonly token: string;
}

export interface WriteHeaders {
  readonly key?: string;
  readonly token?: string;
}

/** An HTTP server with only the binding routes (its topology source is never asked). */
export function bindingApp(service: CardBindingService, logger?: Logger): Promise<FastifyInstance> {
  const source = {
    topology: () => Promise.reject(new Error('unused')),
    health: () => Promise.reject(new Error('unused')),
  };
  return buildHttpServer({
    source,
    version: 'test',
    ...(logger ? { logger } : {}),
    routes: [(app) => registerBindingRoutes(app, service)],
  });
}

/** One API instance, driven through Fastify's inject (the full HTTP pipeline, no socket). */
export interface Api {
  get(url: string, token?: string): Promise<Answer>;
  post(url: string, body: unknown, headers: WriteHeaders): Promise<Answer>;
  delete(url: string, headers: WriteHeaders): Promise<Answer>;
}

export function http(app: FastifyInstance): Api {
  const send = async (
    method: 'GET' | 'POST' | 'DELETE',
    url: string,
    body: unknown,
    { key, token }: WriteHeaders,
  ): Promise<Answer> => {
    const headers: Record<string, string> = {};
    if (key !== undefined) headers['idempotency-key'] = key;
    if (token !== undefined) headers[CONSISTENCY_TOKEN_HEADER] = token;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const payload = body === undefined || typeof body === 'string' ? body : JSON.stringify(body);
    const response = await app.inject({ method, url, headers, payload });
    const text = response.body;
    return {
      status: response.statusCode,
      headers: response.headers,
      json: text.length > 0 ? JSON.parse(text) : null,
      text,
      token: String(response.headers[CONSISTENCY_TOKEN_HEADER.toLowerCase()] ?? ''),
    };
  };
  return {
    get: (url, token) => send('GET', url, undefined, { token }),
    post: (url, body, headers) => send('POST', url, body, headers),
    delete: (url, headers) => send('DELETE', url, undefined, headers),
  };
}

export async function newUser(api: Api, fullName: string, key: string) {
  const created = await api.post('/v1/users', { fullName, email: 'someone@example.com' }, { key });
  assert.equal(created.status, 201, created.text);
  return {
    id: created.json.id as string,
    token: created.token,
    replayed: created.headers['idempotent-replayed'],
  };
}

export function bindBody(cardNumber: string, expiryMonth = 12) {
  return {
    cardNumber,
    expiryMonth,
    expiryYear: new Date().getUTCFullYear() + 3,
    holderName: 'Test Holder',
  };
}

/** A Luhn-valid number: the BIN, `n` zero-padded, the check digit. */
export function testNumber(bin: string, length: number, n: number): string {
  const partial = bin + String(n).padStart(length - bin.length - 1, '0');
  return partial + String(luhnCheckDigit(partial));
}

/** A `count(*)` over `sql`'s rows, on the shard's primary. */
export async function countOn(router: Router, shardId: number, sql: string, values: unknown[]) {
  const { value } = await router.readShard(
    shardId,
    (db) => db.query<{ n: number }>(`SELECT count(*)::int AS n FROM (${sql}) rows`, values),
    { consistency: 'primary' },
  );
  return value.rows[0]?.n ?? 0;
}

/** The user's bound card rows (active and unbound). */
export function countCards(router: Router, userId: string) {
  const sql = 'SELECT 1 FROM bound_cards WHERE user_id = $1';
  return countOn(router, router.map.shardOf(userId), sql, [userId]);
}

/**
 * Tables of a shard whose rows, as text, hold any of `numbers` in clear or as the hex of
 * their ASCII (how a bytea column prints).
 */
export async function shardScanForNumbers(
  router: Router,
  shardId: number,
  numbers: readonly string[],
) {
  const patterns = numbers.flatMap((n) => [`%${n}%`, `%${Buffer.from(n).toString('hex')}%`]);
  const { value } = await router.readShard(
    shardId,
    async (db) => {
      const tables = await db.query<{ name: string }>(
        "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'",
      );
      const hits: string[] = [];
      for (const { name } of tables.rows) {
        const found = await db.query(
          `SELECT 1 FROM public.${name} t WHERE t::text LIKE ANY($1) LIMIT 1`,
          [patterns],
        );
        if ((found.rowCount ?? 0) > 0) hits.push(name);
      }
      return { hits, tables: tables.rows.map((row) => row.name) };
    },
    { consistency: 'primary' },
  );
  assert.ok(value.tables.includes('bound_cards') && value.tables.includes('card_vault'));
  return value.hits;
}
