/**
 * The fault suite's HTTP client: one request to one API process, bounded in time, never
 * throwing. A refused connection, a reset or a timeout is an answer too (status 0), because
 * that is what a client of a failing fleet sees and has to decide about.
 */
import assert from 'node:assert/strict';

/** One API process the load can send to. */
export interface ApiProcess {
  /** `up` (the supervising process) or `api` (a second process on the same fleet). */
  readonly name: string;
  readonly url: string;
  /** `Bearer <demo API key>`: every process of the fleet checks credentials. */
  readonly authorization: string;
}

/** What came back: the HTTP status (0: no answer) and the parsed body when it was JSON. */
export interface HttpAnswer {
  readonly status: number;
  // biome-ignore lint/suspicious/noExplicitAny: bodies are checked field by field
  readonly body: any;
  /** Why no answer came (status 0), or the problem's code. */
  readonly error: string | null;
  /** `Mainstay-Served-By`, when the process sends it. */
  readonly servedBy: string | null;
}

/** Only the loopback interface: the suite must never load anything but the fleet it started. */
export function assertLoopback(url: string): void {
  const host = new URL(url).hostname;
  assert.ok(
    host === '127.0.0.1' || host === '[::1]',
    `the fault suite only targets 127.0.0.1, not ${url}`,
  );
}

/** Sends one request; `timeoutMs` bounds the whole exchange. */
export async function send(
  target: ApiProcess,
  method: 'GET' | 'POST',
  path: string,
  options: {
    body?: unknown;
    /** Bytes sent as the JSON body as they are (bad input: bytes that are not UTF-8). */
    rawBody?: Uint8Array;
    headers?: Record<string, string>;
    timeoutMs: number;
  },
): Promise<HttpAnswer> {
  assertLoopback(target.url);
  const headers: Record<string, string> = {
    authorization: target.authorization,
    ...options.headers,
  };
  if (options.body !== undefined || options.rawBody !== undefined)
    headers['content-type'] = 'application/json';
  const payload =
    options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  try {
    const response = await fetch(`${target.url}${path}`, {
      method,
      headers,
      ...(payload === undefined ? {} : { body: payload }),
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    const text = await response.text();
    let body: unknown = null;
    try {
      body = text.length > 0 ? JSON.parse(text) : null;
    } catch {
      body = text;
    }
    const code = (body as { code?: unknown } | null)?.code;
    return {
      status: response.status,
      body,
      error: response.status >= 400 ? String(code ?? response.status) : null,
      servedBy: response.headers.get('mainstay-served-by'),
    };
  } catch (error) {
    const name = (error as { name?: string }).name;
    const reason = name === 'TimeoutError' ? 'timeout' : 'connection';
    return { status: 0, body: null, error: reason, servedBy: null };
  }
}

/** An answer the client can act on: a 2xx, or a definite refusal (4xx). */
export function isDefinite(answer: HttpAnswer): boolean {
  return (
    answer.status >= 200 && answer.status < 500 && answer.status !== 408 && answer.status !== 429
  );
}
