/**
 * Puts a statement's `$n` parameters into its text as quoted literals, so that a write can travel
 * with its BEGIN, COMMIT and commit-position query in one simple-protocol message (one round
 * trip instead of three). Each value becomes what the extended protocol would have sent: NULL,
 * or an untyped quoted literal resolved by context exactly as an untyped parameter is
 * (`'42'` where `$1` was 42), escaped by node-postgres's own `escapeLiteral`. The scanner skips
 * `$n` inside string literals, quoted identifiers, comments and dollar-quoted bodies.
 */

// node-postgres's value preparation (the same the driver applies to parameters) and escaping.
// @ts-expect-error: pg ships no types for this documented subpath export ("./lib/*").
import pgUtils from 'pg/lib/utils.js';
import { MainstayError } from '../errors/mainstay-error.ts';

const { prepareValue, escapeLiteral } = pgUtils as unknown as {
  prepareValue(value: unknown): string | Buffer | null;
  escapeLiteral(text: string): string;
};

/** Longest statement text the inliner produces (a bound on what one message carries). */
export const INLINED_STATEMENT_LENGTH_MAX = 1024 * 1024;

function literal(value: unknown): string {
  const prepared = prepareValue(value);
  if (prepared === null || prepared === undefined) return 'NULL';
  if (Buffer.isBuffer(prepared)) return `'\\x${prepared.toString('hex')}'`;
  return escapeLiteral(prepared);
}

/** The end index (exclusive) of a quoted run starting at `start` with `quote`. */
function skipQuoted(sql: string, start: number, quote: string, backslashes: boolean): number {
  let index = start + 1;
  while (index < sql.length) {
    const char = sql[index];
    if (backslashes && char === '\\') index += 2;
    else if (char === quote && sql[index + 1] === quote) index += 2;
    else if (char === quote) return index + 1;
    else index += 1;
  }
  return index;
}

function skipBlockComment(sql: string, start: number): number {
  let depth = 0;
  let index = start;
  while (index < sql.length) {
    if (sql.startsWith('/*', index)) {
      depth += 1;
      index += 2;
    } else if (sql.startsWith('*/', index)) {
      depth -= 1;
      index += 2;
      if (depth === 0) return index;
    } else index += 1;
  }
  return index;
}

/** Replaces `$1..$n` in `sql` with literals of `values`; every placeholder must have a value. */
export function inlineParameters(sql: string, values: readonly unknown[]): string {
  let out = '';
  let index = 0;
  let copiedTo = 0;
  while (index < sql.length) {
    const char = sql[index] as string;
    let next = index + 1;
    if (char === "'") {
      const escaped = index > 0 && /[eE]/.test(sql[index - 1] as string);
      next = skipQuoted(sql, index, "'", escaped);
    } else if (char === '"') next = skipQuoted(sql, index, '"', false);
    else if (sql.startsWith('--', index)) {
      const end = sql.indexOf('\n', index);
      next = end < 0 ? sql.length : end + 1;
    } else if (sql.startsWith('/*', index)) next = skipBlockComment(sql, index);
    else if (char === '$') {
      const parameter = /^\$(\d+)/.exec(sql.slice(index, index + 12));
      const dollarTag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(index, index + 66));
      if (parameter && !/[A-Za-z0-9_]/.test(sql[index - 1] ?? ' ')) {
        const position = Number(parameter[1]);
        if (position < 1 || position > values.length) {
          throw new MainstayError(
            'invalid_request',
            `the statement uses $${position} but ${values.length} values were given`,
          );
        }
        out += sql.slice(copiedTo, index) + literal(values[position - 1]);
        next = index + (parameter[0] as string).length;
        copiedTo = next;
      } else if (dollarTag && !/[A-Za-z0-9_]/.test(sql[index - 1] ?? ' ')) {
        const tag = dollarTag[0] as string;
        const end = sql.indexOf(tag, index + tag.length);
        next = end < 0 ? sql.length : end + tag.length;
      }
    }
    index = next;
  }
  out += sql.slice(copiedTo);
  if (out.length > INLINED_STATEMENT_LENGTH_MAX) {
    throw new MainstayError(
      'batch_too_large',
      `the statement with its values inlined is ${out.length} characters; at most ${INLINED_STATEMENT_LENGTH_MAX}`,
    );
  }
  return out;
}
