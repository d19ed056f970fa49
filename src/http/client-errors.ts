/**
 * Requests Node's HTTP parser refuses before Fastify sees them: a request line and headers over
 * 16 KB (431), both `Content-Length` and `Transfer-Encoding` (400), a header value with a
 * forbidden character (400), a request not finished within the request timeout (408). Fastify's
 * default answer to these is its own JSON; Mainstay answers them as problem documents like every
 * other failure, written raw on the socket since there is no request or reply object yet.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { ErrorCode } from '../errors/error-catalogue.ts';
import { problemFor } from './problem.ts';
import { PROBLEM_CONTENT_TYPE } from './schemas/problem-schema.ts';

/** Node's parser error codes that have a code of their own; every other one is malformed. */
const PARSER_CODES: Readonly<Record<string, ErrorCode>> = {
  HPE_HEADER_OVERFLOW: 'headers_too_large',
  ERR_HTTP_REQUEST_TIMEOUT: 'request_timeout',
};

const DETAILS: Readonly<Partial<Record<ErrorCode, string>>> = {
  headers_too_large: 'The request line and headers exceed 16 KB.',
  request_timeout: 'The request was not received in full in time.',
};

/**
 * Fastify's `clientErrorHandler`: writes the problem and closes the connection (after a parse
 * error the rest of the stream cannot be trusted to start a new request). A reset connection
 * or one already closed gets nothing.
 */
export function answerClientError(
  this: FastifyInstance,
  error: Error & { code?: string; reason?: string },
  socket: Socket,
): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const code = PARSER_CODES[error.code ?? ''] ?? 'malformed_http';
  const detail =
    DETAILS[code] ?? `The HTTP parser refused the request: ${error.reason ?? 'malformed request'}.`;
  const problem = problemFor(code, detail);
  this.log.info({ err: error, code }, 'request refused by the HTTP parser');
  if (socket.writable) {
    const body = JSON.stringify(problem);
    socket.write(
      `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status] ?? ''}\r\n` +
        `Content-Type: ${PROBLEM_CONTENT_TYPE}; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        'Connection: close\r\n\r\n' +
        body,
    );
  }
  socket.destroy();
}
