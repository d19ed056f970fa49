/**
 * Wires the checks of `storable-text.ts` into Fastify at the two places a request's text
 * arrives: the JSON body parser (charset, UTF-8, then U+0000 and unpaired surrogates in every
 * string and key) and an `onRequest` hook on the request target (path and query string,
 * percent-decoded). Both run before validation and before any handler, so a refused request
 * writes nothing and never joins a batch of other requests.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { MainstayError } from '../errors/mainstay-error.ts';
import {
  findUnstorableText,
  foreignCharsetOf,
  isUtf8Bytes,
  mayHoldEscapes,
  urlFaultOf,
} from './storable-text.ts';

/**
 * Replaces Fastify's JSON parser with one that reads the body as bytes and refuses what
 * PostgreSQL cannot store. The parsing itself stays Fastify's own (`secure-json-parse`, with
 * `__proto__` and `constructor.prototype` refused), so only the text checks are new.
 */
export function registerStorableJsonParser(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'buffer' },
    (request: FastifyRequest, body: Buffer, done) => {
      const charset = foreignCharsetOf(request.headers['content-type']);
      if (charset !== null) {
        done(bodyError(`the body declares charset "${charset}"; JSON bodies must be UTF-8`, ''));
        return;
      }
      if (!isUtf8Bytes(body)) {
        done(bodyError('the body is not valid UTF-8', '', 'is not valid UTF-8'));
        return;
      }
      const text = body.toString('utf8');
      parseJson(request, text, (error, document) => {
        if (error) {
          done(error);
          return;
        }
        const fault = mayHoldEscapes(text) ? findUnstorableText(document) : null;
        if (fault !== null) {
          done(bodyError(`a string in the body ${fault.detail}`, fault.pointer, fault.detail));
          return;
        }
        done(null, document);
      });
    },
  );
}

/** Refuses a path or query string that decodes to unstorable text, before routing work. */
export function registerUrlTextCheck(app: FastifyInstance): void {
  app.addHook('onRequest', (request, _reply, done) => {
    const fault = urlFaultOf(request.url);
    done(fault === null ? undefined : urlTextError(fault));
  });
}

/** The `invalid_text` error for a request target whose decoded text has `fault`. */
export function urlTextError(fault: string): MainstayError {
  return new MainstayError('invalid_text', `the URL (path or query string) ${fault}`);
}

function bodyError(message: string, pointer: string, detail?: string): MainstayError {
  return new MainstayError('invalid_text', message, {
    errors: detail === undefined ? [] : [{ pointer, detail }],
  });
}
