/**
 * Reading a batch file (decision 50; the format is in docs/operating/payments.md): CSV with the
 * header `debitAccountId,creditAccountId,amount,currency,reference`, or JSON Lines (one object
 * with those fields per line). Each line is checked on its own bytes, so a line that is not
 * UTF-8, holds U+0000 or has a bad amount is reported by its number while the others go on.
 * Pure: no I/O.
 */
import { isUtf8 } from 'node:buffer';
import { paymentError } from './payment-errors.ts';

/** The file formats a batch may be uploaded in. */
export const BATCH_FORMATS = ['csv', 'jsonl'] as const;
export type BatchFormat = (typeof BATCH_FORMATS)[number];

/** The CSV header, exactly (the reference may be empty on a line). */
export const BATCH_CSV_HEADER = 'debitAccountId,creditAccountId,amount,currency,reference';
/** Lines a batch file may have, header and blank lines included. */
export const BATCH_LINES_MAX = 20_000;
/** Amounts answer as JSON numbers, so a line's amount is at most 2^53 - 1. */
export const BATCH_AMOUNT_MAX = BigInt(Number.MAX_SAFE_INTEGER);
const REFERENCE_LENGTH_MAX = 255;
const ACCOUNT_ID = /^lacc_[0-9A-HJKMNP-TV-Z]{30}$/;
const KNOWN_CURRENCIES = new Set(Intl.supportedValuesOf('currency'));
// biome-ignore lint/suspicious/noControlCharactersInRegex: U+0000 is what is searched for.
const UNSTORABLE = /[\u0000\p{Cs}]/u;
const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;

/** Why a line is not an item. */
export const BATCH_LINE_ERRORS = [
  'invalid_utf8',
  'invalid_text',
  'malformed_line',
  'bad_account',
  'same_account',
  'bad_amount',
  'wrong_minor_unit',
  'bad_currency',
  'bad_reference',
] as const;
export type BatchLineError = (typeof BATCH_LINE_ERRORS)[number];

/** One item of a batch: a payment from the debit account to the credit account. */
export interface BatchItem {
  readonly debitAccountId: string;
  readonly creditAccountId: string;
  readonly amount: bigint;
  readonly currency: string;
  readonly reference: string | null;
}

/** A line of the file that is an item or a bad line (1-based, as an editor counts). */
export type BatchLine =
  | { readonly line: number; readonly item: BatchItem }
  | { readonly line: number; readonly error: BatchLineError; readonly detail: string };

/** The lines of `bytes`: one entry per item or bad line; blank lines and the header have none. */
export function readBatchFile(bytes: Buffer, format: BatchFormat): BatchLine[] {
  const raw = splitLines(bytes);
  if (raw.length > BATCH_LINES_MAX)
    throw fileInvalid(`the file has ${raw.length} lines; at most ${BATCH_LINES_MAX}`);
  const lines: BatchLine[] = [];
  raw.forEach((lineBytes, index) => {
    const line = index + 1;
    if (format === 'csv' && line === 1) {
      if (
        lineBytes
          .toString('utf8')
          .replace(/^\uFEFF/, '')
          .trim() !== BATCH_CSV_HEADER
      )
        throw fileInvalid(`the first line must be the header ${BATCH_CSV_HEADER}`);
      return;
    }
    if (!isUtf8(lineBytes)) {
      lines.push({ line, error: 'invalid_utf8', detail: 'the line is not valid UTF-8' });
      return;
    }
    const text = lineBytes.toString('utf8');
    if (text.trim() === '') return;
    if (text.includes('\u0000')) {
      lines.push({ line, error: 'invalid_text', detail: 'the line contains U+0000' });
      return;
    }
    lines.push(format === 'csv' ? csvLine(line, text) : jsonLine(line, text));
  });
  if (lines.length === 0) throw fileInvalid('the file has no item lines');
  return lines;
}

function splitLines(bytes: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  let start = 0;
  while (start <= bytes.length) {
    let end = bytes.indexOf(NEWLINE, start);
    if (end === -1) end = bytes.length;
    let last = end;
    if (last > start && bytes[last - 1] === CARRIAGE_RETURN) last -= 1;
    lines.push(bytes.subarray(start, last));
    start = end + 1;
    if (lines.length > BATCH_LINES_MAX) break;
  }
  return lines;
}

function csvLine(line: number, text: string): BatchLine {
  const fields = splitCsv(text);
  if (fields === null || fields.length < 4 || fields.length > 5)
    return { line, error: 'malformed_line', detail: 'must have 4 or 5 comma-separated fields' };
  const [debit, credit, amount, currency, reference] = fields as [
    string,
    string,
    string,
    string,
    string?,
  ];
  return itemOf(line, {
    debitAccountId: debit,
    creditAccountId: credit,
    amount: amountOfText(amount),
    currency,
    reference: reference === undefined || reference === '' ? null : reference,
  });
}

/** RFC 4180 fields of one line (quotes for a reference holding commas); `null` when unbalanced. */
function splitCsv(text: string): string[] | null {
  const fields: string[] = [];
  let at = 0;
  for (;;) {
    if (text[at] === '"') {
      let value = '';
      let index = at + 1;
      for (;;) {
        const quote = text.indexOf('"', index);
        if (quote === -1) return null;
        value += text.slice(index, quote);
        if (text[quote + 1] === '"') {
          value += '"';
          index = quote + 2;
          continue;
        }
        at = quote + 1;
        break;
      }
      fields.push(value);
      if (at === text.length) return fields;
      if (text[at] !== ',') return null;
      at += 1;
      continue;
    }
    const comma = text.indexOf(',', at);
    fields.push(text.slice(at, comma === -1 ? text.length : comma));
    if (comma === -1) return fields;
    at = comma + 1;
  }
}

type AmountRead = bigint | 'bad_amount' | 'wrong_minor_unit';

function amountOfText(text: string): AmountRead {
  if (/^[0-9]{1,19}$/.test(text)) return BigInt(text);
  if (/^[0-9]+\.[0-9]+$/.test(text)) return 'wrong_minor_unit';
  return 'bad_amount';
}

function amountOfJson(value: unknown): AmountRead {
  if (typeof value !== 'number' || !Number.isFinite(value)) return 'bad_amount';
  if (!Number.isInteger(value)) return value > 0 ? 'wrong_minor_unit' : 'bad_amount';
  if (!Number.isSafeInteger(value)) return 'bad_amount';
  return BigInt(value);
}

function jsonLine(line: number, text: string): BatchLine {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    return { line, error: 'malformed_line', detail: 'is not one JSON object' };
  }
  if (document === null || typeof document !== 'object' || Array.isArray(document))
    return { line, error: 'malformed_line', detail: 'is not one JSON object' };
  const fields = document as Record<string, unknown>;
  const text_ = (value: unknown) => (typeof value === 'string' ? value : '');
  if (
    fields.reference !== undefined &&
    fields.reference !== null &&
    typeof fields.reference !== 'string'
  )
    return { line, error: 'bad_reference', detail: 'reference must be a string' };
  if (Object.values(fields).some((value) => typeof value === 'string' && UNSTORABLE.test(value)))
    return { line, error: 'invalid_text', detail: 'a field holds U+0000 or an unpaired surrogate' };
  return itemOf(line, {
    debitAccountId: text_(fields.debitAccountId),
    creditAccountId: text_(fields.creditAccountId),
    amount: amountOfJson(fields.amount),
    currency: text_(fields.currency),
    reference:
      typeof fields.reference === 'string' && fields.reference !== '' ? fields.reference : null,
  });
}

/** The item of a line whose fields are read, or the first of its faults. */
function itemOf(
  line: number,
  fields: Omit<BatchItem, 'amount'> & { readonly amount: AmountRead },
): BatchLine {
  const bad = (error: BatchLineError, detail: string): BatchLine => ({ line, error, detail });
  if (!ACCOUNT_ID.test(fields.debitAccountId))
    return bad('bad_account', 'debitAccountId is not a ledger account id');
  if (!ACCOUNT_ID.test(fields.creditAccountId))
    return bad('bad_account', 'creditAccountId is not a ledger account id');
  if (fields.debitAccountId === fields.creditAccountId)
    return bad('same_account', 'the debit and credit accounts are the same');
  const { amount } = fields;
  if (amount === 'wrong_minor_unit')
    return bad(
      'wrong_minor_unit',
      'amount has a fraction: write it in minor units (1250 for 12.50)',
    );
  if (amount === 'bad_amount' || amount < 1n || amount > BATCH_AMOUNT_MAX)
    return bad(
      'bad_amount',
      `amount must be an integer of minor units from 1 to ${BATCH_AMOUNT_MAX}`,
    );
  if (!/^[A-Z]{3}$/.test(fields.currency) || !KNOWN_CURRENCIES.has(fields.currency))
    return bad('bad_currency', 'currency must be an ISO 4217 code');
  if (fields.reference !== null && fields.reference.length > REFERENCE_LENGTH_MAX)
    return bad('bad_reference', `reference must be at most ${REFERENCE_LENGTH_MAX} characters`);
  return { line, item: { ...fields, amount } };
}

function fileInvalid(message: string) {
  return paymentError('payment_batch_file_invalid', message);
}
