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
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join('  ')
      .trimEnd();
  console.log(line(header));
  console.log(widths.map((width) => '-'.repeat(width)).join('  '));
  for (const row of rows) console.log(line(row));
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
