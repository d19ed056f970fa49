import { heading, printSummary, type SummaryRow } from './report.ts';

/** A stack trace, or the text of whatever was thrown. */
export function describeError(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

/**
 * Runs a benchmark's scenarios and collects their summary rows. The words given on the command
 * line (`npm run bench:x -- word`) pick the scenarios whose title holds one of them; none runs
 * all. A crashed scenario is printed and recorded, and the next one still runs.
 */
export class ScenarioRunner {
  readonly summary: SummaryRow[] = [];
  readonly crashed: string[] = [];
  readonly #only: readonly string[];

  constructor(argv: readonly string[] = process.argv.slice(2)) {
    this.#only = argv.map((word) => word.toLowerCase());
  }

  /** Whether the command line picked the scenario titled `title`. */
  selected(title: string): boolean {
    return this.#only.length === 0 || this.#only.some((word) => title.toLowerCase().includes(word));
  }

  async run(title: string, scenario: () => Promise<SummaryRow[]>): Promise<void> {
    if (!this.selected(title)) return;
    heading(title);
    const started = performance.now();
    try {
      this.summary.push(...(await scenario()));
    } catch (error) {
      this.crashed.push(title);
      console.log(`CRASHED: ${describeError(error)}`);
      this.summary.push({ figure: title, value: 'crashed', target: '-', met: false });
    }
    process.stderr.write(`${title}: ${((performance.now() - started) / 1_000).toFixed(1)} s\n`);
  }

  /** Prints the summary and the total time; a crash sets a failing exit code. */
  finish(startedMs: number): void {
    heading('summary');
    printSummary(this.summary);
    console.log(`\ntotal ${((performance.now() - startedMs) / 1_000).toFixed(0)} s`);
    if (this.crashed.length > 0) {
      console.log(`crashed scenarios: ${this.crashed.join('; ')}`);
      process.exitCode = 1;
    }
  }
}
