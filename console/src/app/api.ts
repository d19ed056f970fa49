/**
 * The console's one way to the API: the same public routes, scopes and consistency tokens as
 * any client. Every answer that is not 2xx becomes a `Problem` (RFC 9457: title, detail, code),
 * never a raw text or stack; a failed connection becomes a `Problem` with code `network`.
 */

export class Problem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly title: string,
    readonly detail: string,
  ) {
    super(detail || title);
  }
}

let token: string | null = null;
/** The last consistency token the API gave this browser tab (read-your-writes). */
let consistency: string | null = null;
const onUnauthenticated = new Set<() => void>();

export function setToken(value: string | null): void {
  token = value;
  consistency = null;
}

export function currentToken(): string | null {
  return token;
}

/** Called when the API says the session is no longer valid (401). */
export function whenUnauthenticated(listener: () => void): () => void {
  onUnauthenticated.add(listener);
  return () => onUnauthenticated.delete(listener);
}

/** A fresh idempotency key for one write (a retry of the same write reuses it). */
export function idempotencyKey(): string {
  return crypto.randomUUID();
}

export interface CallOptions {
  readonly body?: unknown;
  /** For writes: the key; one is made when absent. */
  readonly idempotencyKey?: string;
  readonly signal?: AbortSignal;
}

/** Calls `method path`; answers the parsed JSON body (or `null` for 204). */
export async function api<T>(method: string, path: string, options: CallOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (consistency) headers['mainstay-consistency-token'] = consistency;
  if (method !== 'GET' && method !== 'HEAD')
    headers['idempotency-key'] = options.idempotencyKey ?? idempotencyKey();
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal,
    });
  } catch (error) {
    if ((error as Error).name === 'AbortError') throw error;
    throw new Problem(0, 'network', 'No connection', 'The API could not be reached.');
  }
  const seen = response.headers.get('mainstay-consistency-token');
  if (seen) consistency = seen;
  if (response.status === 204) return null as T;
  const text = await response.text();
  const body = text ? safeJson(text) : null;
  if (!response.ok) throw problemOf(response.status, body);
  return body as T;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function problemOf(status: number, body: unknown): Problem {
  const doc = (body ?? {}) as { title?: unknown; detail?: unknown; code?: unknown };
  const problem = new Problem(
    status,
    typeof doc.code === 'string' ? doc.code : `http_${status}`,
    typeof doc.title === 'string' ? doc.title : `HTTP ${status}`,
    typeof doc.detail === 'string' ? doc.detail : '',
  );
  if (status === 401) for (const listener of onUnauthenticated) listener();
  return problem;
}
