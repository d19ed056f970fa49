/**
 * The settlement file of a window (decision 51; columns in docs/operating/settlement.md): RFC
 * 4180 CSV in UTF-8 without a byte order mark, CRLF line ends, a header line, then one line per
 * currency of the window in code order. Every figure is an integer of the currency's minor
 * unit; every time is RFC 3339 UTC with milliseconds. Built from a closed window's figures
 * only, so the same window gives the same bytes on every call and in every process.
 */
import type { SettlementWindow, WindowPosition } from './settlement-types.ts';

/** The file's columns, in order: the header line names them. */
export const SETTLEMENT_FILE_COLUMNS = [
  'window_id',
  'counterparty',
  'window_number',
  'currency',
  'minor_unit',
  'opened_at',
  'closed_at',
  'debits',
  'credits',
  'net',
  'transfer_count',
  'reserve_basis_points',
  'reserve',
  'settlement_amount',
] as const;

/** The media type the file is served with. */
export const SETTLEMENT_FILE_MEDIA_TYPE = 'text/csv; charset=utf-8';

const LINE_END = '\r\n';

/**
 * The CSV text of `window` (closed, so that its `closedAt` and reserve are fixed) and its
 * positions; `minorUnits` gives each currency's ISO 4217 minor unit.
 */
export function renderSettlementFile(
  window: SettlementWindow,
  positions: readonly WindowPosition[],
  minorUnits: ReadonlyMap<string, number>,
): string {
  if (window.closedAt === null || window.reserveBasisPoints === null)
    throw new Error(`window ${window.id} has not closed: it has no settlement file yet`);
  const lines = [SETTLEMENT_FILE_COLUMNS.join(',')];
  for (const position of positions) {
    const minorUnit = minorUnits.get(position.currency);
    if (minorUnit === undefined) throw new Error(`no minor unit for ${position.currency}`);
    const fields: Record<(typeof SETTLEMENT_FILE_COLUMNS)[number], string> = {
      window_id: window.id,
      counterparty: textField(window.counterparty),
      window_number: window.number.toString(),
      currency: position.currency,
      minor_unit: String(minorUnit),
      opened_at: window.openedAt.toISOString(),
      closed_at: window.closedAt.toISOString(),
      debits: position.debits.toString(),
      credits: position.credits.toString(),
      net: position.net.toString(),
      transfer_count: position.transferCount.toString(),
      reserve_basis_points: String(window.reserveBasisPoints),
      reserve: position.reserve.toString(),
      settlement_amount: position.settlementAmount.toString(),
    };
    lines.push(SETTLEMENT_FILE_COLUMNS.map((column) => fields[column]).join(','));
  }
  return lines.join(LINE_END) + LINE_END;
}

/**
 * A free-text field: quoted when RFC 4180 needs it (a comma, a quote, a line break, or spaces
 * at an end), and prefixed with `'` when it starts like a spreadsheet formula (`=`, `+`, `-`,
 * `@`, a tab or a carriage return), so that opening the file never runs what a counterparty's
 * name says.
 */
export function textField(text: string): string {
  const safe = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
  return /[",\r\n]|^\s|\s$/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}
