import { renderTable } from '../../src/cli/status-table.ts';

/** One line of the final summary: a figure, its target, and whether it met it. */
export interface SummaryRow {
  readonly figure: string;
  readonly value: string;
  readonly target: string;
  /** `null` when there is no target to meet (reported for information). */
  readonly met: boolean | null;
}

/** Prints rows as left-aligned columns under a header, with a rule below the header. */
export function printTable(header: readonly string[], rows: readonly (readonly string[])[]): void {
  console.log(renderTable(header, rows));
}

export function printSummary(rows: readonly SummaryRow[]): void {
  printTable(
    ['figure', 'value', 'target', 'result'],
    rows.map((row) => [
      row.figure,
      row.value,
      row.target,
      row.met === null ? 'info' : row.met ? 'PASS' : 'MISS',
    ]),
  );
}

export function heading(title: string): void {
  console.log(`\n== ${title} ==\n`);
}

/** Milliseconds as a whole number, or a dash when unknown. */
export function ms(value: number | null | undefined): string {
  return value === null || value === undefined || Number.isNaN(value)
    ? '-'
    : `${Math.round(value)} ms`;
}
