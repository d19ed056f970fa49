/**
 * What the edge's text checks (decision 33) cost per request, against the JSON parsing they sit
 * beside: a Double-11 authorization body (as the HTTP load generator sends it) parsed as
 * Fastify does, then parsed with the checks, without and with a `\u` escape (which makes the
 * check walk the document), and the URL check on the route's path. Best of several rounds, in
 * nanoseconds per request.
 *
 *   npm run bench:edge
 */
import os from 'node:os';
import Fastify from 'fastify';
import {
  findUnstorableText,
  isUtf8Bytes,
  mayHoldEscapes,
  urlFaultOf,
} from '../src/http/storable-text.ts';

const ROUNDS = 5;
const REQUESTS_PER_ROUND = 200_000;
/** Fastify's own JSON parser, as the server runs it (prototype poisoning refused). */
const fastifyParser = Fastify().getDefaultJsonParser('error', 'error');

/** Parses `text` with Fastify's parser, which answers through a callback. */
function parse(text: string): unknown {
  let parsed: unknown;
  fastifyParser({} as never, text, (error, document) => {
    if (error) throw error;
    parsed = document;
  });
  return parsed;
}

/** An authorization body like the load generator's; `escaped` puts a `\u00e9` in the merchant. */
function bodyOf(n: number, escaped: boolean): Buffer {
  const merchant = escaped ? 'mer_caf\\u00e9' : `mer_${n % 500}`;
  return Buffer.from(
    `{"requestId":"d11-${n}","cardId":"card_01M8VH0Y3VN0315XWZEWZDTHX300RS","amount":${100 + n},` +
      `"currency":"CNY","merchant":{"id":"${merchant}","categoryCode":"5411"}}`,
  );
}

/** Nanoseconds per call of `work` in one round. */
function roundNs(work: (n: number) => void): number {
  const started = process.hrtime.bigint();
  for (let n = 0; n < REQUESTS_PER_ROUND; n += 1) work(n);
  return Number(process.hrtime.bigint() - started) / REQUESTS_PER_ROUND;
}

/**
 * The best round of each of `works`, their rounds interleaved (so both see the same machine)
 * after one warm-up round each (so both run optimised code).
 */
function bestNs(works: readonly ((n: number) => void)[]): number[] {
  const best = works.map(() => Number.POSITIVE_INFINITY);
  for (let round = 0; round <= ROUNDS; round += 1) {
    works.forEach((work, index) => {
      const ns = roundNs(work);
      if (round > 0) best[index] = Math.min(best[index] ?? ns, ns);
    });
  }
  return best;
}

console.log(`Edge text checks, ${os.cpus().length} cores, Node ${process.version}\n`);
for (const escaped of [false, true]) {
  const bodies = Array.from({ length: 1_000 }, (_, n) => bodyOf(n, escaped));
  const parseOnly = (n: number) => {
    parse((bodies[n % bodies.length] as Buffer).toString('utf8'));
  };
  const checked = (n: number) => {
    const bytes = bodies[n % bodies.length] as Buffer;
    if (!isUtf8Bytes(bytes)) throw new Error('the bench body is UTF-8');
    const text = bytes.toString('utf8');
    const document = parse(text);
    if (mayHoldEscapes(text) && findUnstorableText(document) !== null) {
      throw new Error('the bench body is storable');
    }
    if (urlFaultOf('/v1/authorizations') !== null) throw new Error('the path is plain');
  };
  const [parseNs = 0, checkedNs = 0] = bestNs([parseOnly, checked]);
  console.log(
    `${escaped ? 'body with a \\u escape (walked)' : 'plain body'} (${bodies[0]?.length} bytes): ` +
      `parse ${parseNs.toFixed(0)} ns, parse + checks ${checkedNs.toFixed(0)} ns, ` +
      `the checks ${(checkedNs - parseNs).toFixed(0)} ns per request`,
  );
}
