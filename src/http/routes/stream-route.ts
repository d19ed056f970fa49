/**
 * `GET /v1/stream?topics=a,b`: server-sent events (decision 61). For each topic the process keeps
 * ONE reader, running only while someone subscribes, that reads the value every `intervalMs`
 * and sends it (`event: <topic>`, `data: <json>`) to every subscriber when it changed; a new
 * subscriber gets the last value at once. A read that fails is sent as `event: error` with the
 * problem's code, and the reader goes on. A comment line every 15 s keeps proxies from closing
 * an idle stream.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { MainstayError } from '../../errors/mainstay-error.ts';
import type { StreamTopic } from '../../platform/stream-topic.ts';
import { requires } from '../access-control.ts';
import { problemResponses } from './problem-responses.ts';

const HEARTBEAT_MS = 15_000;
const TOPICS_MAX = 16;

type Send = (event: string, data: string) => void;

/** One topic's shared reader and its subscribers. */
class TopicFeed {
  readonly #subscribers = new Set<Send>();
  #timer: NodeJS.Timeout | null = null;
  #last: string | null = null;
  #reading = false;

  constructor(
    readonly name: string,
    readonly topic: StreamTopic,
  ) {}

  subscribe(send: Send): () => void {
    this.#subscribers.add(send);
    if (this.#last !== null) send(this.name, this.#last);
    if (this.#timer === null) {
      void this.#read();
      this.#timer = setInterval(() => void this.#read(), this.topic.intervalMs ?? 1_000);
      this.#timer.unref();
    }
    return () => {
      this.#subscribers.delete(send);
      if (this.#subscribers.size === 0 && this.#timer !== null) {
        clearInterval(this.#timer);
        this.#timer = null;
        this.#last = null;
      }
    };
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.#subscribers.clear();
  }

  async #read(): Promise<void> {
    if (this.#reading) return;
    this.#reading = true;
    try {
      const data = JSON.stringify(await this.topic.read());
      if (data === this.#last) return;
      this.#last = data;
      for (const send of this.#subscribers) send(this.name, data);
    } catch (error) {
      const code = error instanceof MainstayError ? error.code : 'internal_error';
      const data = JSON.stringify({ topic: this.name, code });
      for (const send of this.#subscribers) send('error', data);
    } finally {
      this.#reading = false;
    }
  }
}

/** Registers the stream over `topics` (by name). */
export function registerStreamRoute(
  app: FastifyInstance,
  topics: Readonly<Record<string, StreamTopic>>,
): void {
  const feeds = new Map(
    Object.entries(topics).map(([name, topic]) => [name, new TopicFeed(name, topic)]),
  );
  const open = new Set<() => void>();
  // Before the server closes, not after: closing waits for requests in flight, and a stream
  // is one that never finishes by itself, so it is ended here (the client sees the end).
  app.addHook('preClose', async () => {
    for (const end of [...open]) end();
    for (const feed of feeds.values()) feed.stop();
  });
  app.get<{ Querystring: { topics: string } }>(
    '/v1/stream',
    {
      schema: {
        security: requires('platform:read'),
        summary: 'Live figures as server-sent events',
        description:
          'A `text/event-stream` of the listed topics: each event is named after its topic and ' +
          "carries the topic's value as JSON, sent when it changes (the last value at once). " +
          'Topics: `topology` and `events` (the fleet), and those the hosted modules offer; an ' +
          'unknown topic is refused with the list of known ones. Each topic needs the scope of ' +
          'the route that serves the same data; a failed read arrives as `event: error`.',
        tags: ['fleet'],
        querystring: Type.Object(
          {
            topics: Type.String({
              minLength: 1,
              maxLength: 500,
              description: 'Topic names, separated by commas.',
            }),
          },
          { additionalProperties: false },
        ),
        response: {
          200: {
            description: 'The stream, until the client closes it.',
            content: { 'text/event-stream': { schema: { type: 'string' } } },
          },
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      const wanted = [...new Set(request.query.topics.split(',').map((name) => name.trim()))];
      const chosen = checkTopics(wanted, feeds, request.principal?.scopes ?? new Set());
      openStream(reply, chosen, open);
      return reply;
    },
  );
}

/** The feeds of `wanted`; `invalid_request` for an unknown one, `forbidden` for a scope lacking. */
function checkTopics(
  wanted: readonly string[],
  feeds: ReadonlyMap<string, TopicFeed>,
  scopes: ReadonlySet<string>,
): TopicFeed[] {
  const unknown = wanted.filter((name) => !feeds.has(name));
  if (unknown.length > 0 || wanted.length > TOPICS_MAX)
    throw new MainstayError(
      'invalid_request',
      `unknown topics: ${unknown.join(', ') || 'too many'}`,
      {
        errors: [{ pointer: '/topics', detail: `known: ${[...feeds.keys()].sort().join(', ')}` }],
      },
    );
  const chosen = wanted.map((name) => feeds.get(name) as TopicFeed);
  const lacking = chosen.filter((feed) => !scopes.has(feed.topic.scope));
  if (lacking.length > 0)
    throw new MainstayError(
      'insufficient_scope',
      `the credential lacks the scopes of ${lacking.map((feed) => `${feed.name} (${feed.topic.scope})`).join(', ')}`,
    );
  return chosen;
}

/** Opens the stream of `feeds` on `reply`, its end kept in `open` until it ends. */
function openStream(reply: FastifyReply, feeds: readonly TopicFeed[], open: Set<() => void>): void {
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  raw.write(': stream open\n\n');
  const send: Send = (event, data) => {
    raw.write(`event: ${event}\ndata: ${data}\n\n`);
  };
  const unsubscribe = feeds.map((feed) => feed.subscribe(send));
  const heartbeat = setInterval(() => raw.write(': keep-alive\n\n'), HEARTBEAT_MS);
  heartbeat.unref();
  const end = () => {
    if (!open.delete(end)) return;
    clearInterval(heartbeat);
    for (const stop of unsubscribe) stop();
    raw.end();
  };
  open.add(end);
  raw.on('close', end);
}
