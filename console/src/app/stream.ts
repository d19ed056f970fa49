/**
 * The live stream (`GET /v1/stream`, server-sent events) read with `fetch`, since an
 * `EventSource` cannot send the session's bearer token. One connection per page for all of its
 * topics; a lost connection is reported (`connection: 'lost'`) and reopened by itself, after
 * 0.5 s and then up to every 5 s, until the page goes away.
 */
import { useEffect, useState } from 'react';
import { currentToken } from './api.ts';

export type Connection = 'connecting' | 'open' | 'lost';

type Listener = (connection: Connection) => void;
const connectionListeners = new Set<Listener>();
let connectionNow: Connection = 'connecting';

function report(connection: Connection): void {
  connectionNow = connection;
  for (const listener of connectionListeners) listener(connection);
}

/** The stream's state, for the header's indicator. */
export function useConnection(): Connection {
  const [state, setState] = useState(connectionNow);
  useEffect(() => {
    connectionListeners.add(setState);
    return () => {
      connectionListeners.delete(setState);
    };
  }, []);
  return state;
}

/** How long an attempt may wait for the stream's response to begin before it is given up. */
const CONNECT_TIMEOUT_MS = 5_000;
/**
 * How long an open stream may stay silent: the server sends a comment every 15 s, so a stream
 * quiet for longer comes from a process that hangs (stopped, not dead) and is given up.
 */
const SILENCE_MS = 35_000;

/**
 * One connection attempt's signal: aborted with `signal`, when the browser goes offline (an open
 * response can stay open through that, silent, so the stream would never be seen lost), and
 * when the response has not begun in time (a request stuck on the way would never be retried),
 * and when an open response has been silent for {@link SILENCE_MS}.
 */
function attemptSignal(signal: AbortSignal) {
  const attempt = new AbortController();
  const cut = () => attempt.abort();
  let timer = setTimeout(cut, CONNECT_TIMEOUT_MS);
  signal.addEventListener('abort', cut);
  globalThis.addEventListener?.('offline', cut);
  return {
    signal: attempt.signal,
    /** Something arrived: the attempt may stay silent for another {@link SILENCE_MS}. */
    alive: () => {
      clearTimeout(timer);
      timer = setTimeout(cut, SILENCE_MS);
    },
    done: () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', cut);
      globalThis.removeEventListener?.('offline', cut);
    },
  };
}

/** Waits `ms`, or less when the browser comes back online. */
function pause(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const end = () => {
      clearTimeout(timer);
      globalThis.removeEventListener?.('online', end);
      resolve();
    };
    const timer = setTimeout(end, ms);
    globalThis.addEventListener?.('online', end);
  });
}

/** Opens the stream of `topics`, calling `onEvent(topic, value)` for each event, until aborted. */
export async function openStream(
  topics: readonly string[],
  onEvent: (topic: string, value: unknown) => void,
  signal: AbortSignal,
): Promise<void> {
  let delay = 500;
  while (!signal.aborted) {
    const attempt = attemptSignal(signal);
    try {
      const response = await fetch(`/v1/stream?topics=${encodeURIComponent(topics.join(','))}`, {
        headers: { authorization: `Bearer ${currentToken() ?? ''}`, accept: 'text/event-stream' },
        signal: attempt.signal,
      });
      attempt.alive();
      if (!response.ok || response.body === null) throw new Error(`stream ${response.status}`);
      report('open');
      delay = 500;
      await readEvents(response.body, onEvent, attempt.alive);
    } catch (error) {
      if (signal.aborted) return;
      void error;
    } finally {
      attempt.done();
    }
    if (signal.aborted) return;
    report('lost');
    await pause(delay);
    delay = Math.min(5_000, delay * 2);
  }
}

export async function readEvents(
  body: ReadableStream<Uint8Array>,
  onEvent: (topic: string, value: unknown) => void,
  onChunk: () => void = () => undefined,
): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    onChunk();
    buffer += decoder.decode(value, { stream: true });
    let end = buffer.indexOf('\n\n');
    while (end >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data.push(line.slice(6));
      }
      if (data.length > 0) onEvent(event, JSON.parse(data.join('\n')));
      end = buffer.indexOf('\n\n');
    }
  }
}

/**
 * The latest value of each of `topics` (`undefined` until the first event). The page re-renders
 * on each change; no page polls.
 */
export function useStream<T extends Record<string, unknown>>(
  topics: readonly string[],
): Partial<T> {
  const [values, setValues] = useState<Partial<T>>({});
  const key = topics.join(',');
  useEffect(() => {
    const abort = new AbortController();
    void openStream(
      key.split(','),
      (topic, value) => {
        if (topic !== 'error') setValues((old) => ({ ...old, [topic]: value }));
      },
      abort.signal,
    );
    return () => abort.abort();
  }, [key]);
  return values;
}
