/**
 * Text PostgreSQL cannot store, found before a request reaches a handler. A `text` or `jsonb`
 * value in a UTF-8 database cannot hold U+0000 (`invalid byte sequence for encoding "UTF8":
 * 0x00`) nor an unpaired UTF-16 surrogate (`\ud800` in JSON), and bytes that are not UTF-8 would
 * be silently replaced by U+FFFD on the way in. A request carrying any of them is refused at the
 * edge with `invalid_text`, so no handler, no batch and no transaction ever sees it (decision 33).
 * Pure functions of the input; the Fastify wiring lives in `text-guard.ts`.
 */
import { isUtf8 } from 'node:buffer';
import type { FieldError } from '../errors/mainstay-error.ts';

/** Why a piece of text cannot be stored; also the `detail` of its field error. */
export const TEXT_FAULTS = [
  'contains U+0000',
  'contains an unpaired surrogate',
  'is not valid UTF-8',
] as const;
export type TextFault = (typeof TEXT_FAULTS)[number];

/**
 * U+0000, or a UTF-16 surrogate that is not half of a pair: with the `u` flag a regular
 * expression reads a pair as one code point, so `\p{Cs}` matches only the unpaired ones.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: U+0000 is what is searched for.
const UNSTORABLE_CHARACTER = /[\u0000\p{Cs}]/u;
/** A cheap first pass: U+0000 or any surrogate, paired or not (most strings have neither). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: U+0000 is what is searched for.
const SUSPECT_CHARACTER = /[\u0000\ud800-\udfff]/;

/** The fault of one string, or `null` when PostgreSQL can store it. */
export function textFaultOf(text: string): TextFault | null {
  if (!SUSPECT_CHARACTER.test(text)) return null;
  const match = UNSTORABLE_CHARACTER.exec(text);
  if (match === null) return null;
  return match[0] === '\u0000' ? 'contains U+0000' : 'contains an unpaired surrogate';
}

/**
 * The first string or object key in a parsed JSON document that PostgreSQL cannot store, with
 * its JSON pointer (a bad key points at the key's own member). Walks with an explicit stack, so
 * a deeply nested document cannot overflow the call stack; the body limit bounds the work. The
 * common answer, "none", comes from a walk that keeps no paths; only a document with a fault is
 * walked again to locate it.
 */
export function findUnstorableText(document: unknown): FieldError | null {
  return holdsUnstorableText(document) ? locateUnstorableText(document) : null;
}

function holdsUnstorableText(document: unknown): boolean {
  const stack: unknown[] = [document];
  for (let value = stack.pop(); stack.length > 0 || value !== undefined; value = stack.pop()) {
    if (typeof value === 'string') {
      if (textFaultOf(value) !== null) return true;
    } else if (Array.isArray(value)) {
      for (const element of value) stack.push(element);
    } else if (value !== null && typeof value === 'object') {
      for (const [key, member] of Object.entries(value)) {
        if (textFaultOf(key) !== null) return true;
        stack.push(member);
      }
    }
  }
  return false;
}

function locateUnstorableText(document: unknown): FieldError | null {
  const stack: { value: unknown; path: readonly string[] }[] = [{ value: document, path: [] }];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const { value, path } = item;
    if (typeof value === 'string') {
      const fault = textFaultOf(value);
      if (fault !== null) return { pointer: pointerOf(path), detail: fault };
    } else if (value !== null && typeof value === 'object') {
      for (const [key, member] of Object.entries(value)) {
        const keyFault = Array.isArray(value) ? null : textFaultOf(key);
        if (keyFault !== null) {
          return { pointer: pointerOf([...path, key]), detail: `its name ${keyFault}` };
        }
        stack.push({ value: member, path: [...path, key] });
      }
    }
  }
  return null;
}

/**
 * Whether JSON `text` can hold unstorable text at all once parsed. U+0000 and surrogates can
 * only arrive as `\u` escapes (JSON forbids raw control characters in strings, and a raw
 * surrogate is not UTF-8), so a body without a backslash-u needs no walk: the common case
 * costs one scan for a two-character sequence.
 */
export function mayHoldEscapes(text: string): boolean {
  return text.includes('\\u');
}

/** Whether `bytes` are well-formed UTF-8 (no overlongs, no encoded surrogates). */
export function isUtf8Bytes(bytes: Uint8Array): boolean {
  return isUtf8(bytes);
}

/** The charsets a JSON body may declare: UTF-8 under its registered name and common alias. */
const UTF8_NAMES: ReadonlySet<string> = new Set(['utf-8', 'utf8']);

/**
 * The charset a `Content-Type` declares other than UTF-8, or `null` when it declares none or
 * UTF-8. JSON is UTF-8 (RFC 8259 §8.1); a body declared as Latin-1 or UTF-16 would otherwise
 * be read as UTF-8 and its letters replaced.
 */
export function foreignCharsetOf(contentType: string | undefined): string | null {
  if (contentType === undefined) return null;
  const match = /;\s*charset\s*=\s*"?([^";\s]*)"?/i.exec(contentType);
  if (match === null) return null;
  const charset = (match[1] ?? '').toLowerCase();
  return UTF8_NAMES.has(charset) ? null : charset;
}

/** Longest URL the percent-decoding check reads; Node's header limit (16 KiB) is below it. */
const URL_LENGTH_MAX = 65_536;

/**
 * The fault of a request target (path and query string) once percent-decoded, or `null`. A URL
 * of plain ASCII without `%` needs no decoding and costs one regular-expression test. A URL
 * with a malformed escape (`%zz`, `%A`) is only checked for U+0000: the router refuses it as
 * malformed, and a query parser keeps such text as it is, which PostgreSQL can store.
 */
export function urlFaultOf(url: string): TextFault | null {
  if (isPlainUrl(url)) return null;
  if (url.length > URL_LENGTH_MAX) return null;
  const bytes = new Uint8Array(url.length);
  let length = 0;
  let malformed = false;
  for (let index = 0; index < url.length; index += 1) {
    const code = url.charCodeAt(index);
    const escaped = code === 0x25 ? hexByteAt(url, index + 1) : null;
    if (escaped !== null) {
      bytes[length++] = escaped;
      index += 2;
    } else {
      malformed ||= code === 0x25;
      // Node hands over a request line's bytes as Latin-1 characters, one byte each.
      bytes[length++] = code & 0xff;
    }
  }
  const decoded = bytes.subarray(0, length);
  if (decoded.includes(0)) return 'contains U+0000';
  return malformed || isUtf8(decoded) ? null : 'is not valid UTF-8';
}

/** Printable ASCII without `%`: nothing to decode, nothing to refuse. */
function isPlainUrl(url: string): boolean {
  for (let index = 0; index < url.length; index += 1) {
    const code = url.charCodeAt(index);
    if (code < 0x21 || code > 0x7e || code === 0x25) return false;
  }
  return true;
}

function hexByteAt(text: string, index: number): number | null {
  const pair = text.slice(index, index + 2);
  return /^[0-9a-fA-F]{2}$/.test(pair) ? Number.parseInt(pair, 16) : null;
}

/** The RFC 6901 pointer of a path of keys and indexes. */
function pointerOf(path: readonly string[]): string {
  return path.map((token) => `/${token.replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');
}
