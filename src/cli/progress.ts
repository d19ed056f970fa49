/**
 * Shows start-up progress: on a terminal, one line redrawn with a spinner and the elapsed time;
 * otherwise (logs, CI, tests) one timestamped line per step, so the output stays readable.
 */
export class Progress {
  readonly #stream: NodeJS.WriteStream;
  readonly #started = Date.now();
  readonly #tty: boolean;
  #step = '';
  #frame = 0;
  #timer: NodeJS.Timeout | null = null;

  constructor(stream: NodeJS.WriteStream = process.stderr) {
    this.#stream = stream;
    this.#tty = stream.isTTY === true;
  }

  /** Marks the start of a new step; the previous one is shown as done. */
  step(text: string): void {
    if (this.#tty) {
      if (this.#step) this.#stream.write(`\r\x1b[2K  ✓ ${this.#step}\n`);
      this.#step = text;
      this.#timer ??= setInterval(() => this.#draw(), 100);
      this.#draw();
    } else {
      this.#stream.write(`[${this.#elapsed()}] ${text}\n`);
    }
  }

  /** Ends the display with a final line. */
  done(text: string): void {
    this.#stopTimer();
    if (this.#tty && this.#step) this.#stream.write(`\r\x1b[2K  ✓ ${this.#step}\n`);
    this.#step = '';
    this.#stream.write(`${this.#tty ? '' : `[${this.#elapsed()}] `}${text}\n`);
  }

  /** Ends the display after a failure, leaving the failed step visible. */
  fail(): void {
    this.#stopTimer();
    if (this.#tty && this.#step) this.#stream.write(`\r\x1b[2K  ✗ ${this.#step}\n`);
    this.#step = '';
  }

  #draw(): void {
    const frames = '⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏';
    this.#frame = (this.#frame + 1) % frames.length;
    this.#stream.write(`\r\x1b[2K  ${frames[this.#frame]} ${this.#step} (${this.#elapsed()})`);
  }

  #elapsed(): string {
    return `${((Date.now() - this.#started) / 1000).toFixed(1)}s`;
  }

  #stopTimer(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }
}
