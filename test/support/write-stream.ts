import { setTimeout as sleep } from 'node:timers/promises';
import type { Router } from '../../src/data/router.ts';
import { isMainstayError } from '../../src/errors/mainstay-error.ts';

/**
 * A client that keeps appending rows with client-chosen ids, the way a careful client of a bank
 * API does: a write that fails with an indefinite error (or any error) is retried with the same
 * id until it is acknowledged; the insert is idempotent by id. Records what was acknowledged
 * and when writes started succeeding again after a failure.
 */
export class WriteStream {
  readonly acknowledged: string[] = [];
  readonly outcomes = new Map<string, number>();
  /** Time of each acknowledged write, for measuring recovery. */
  readonly ackTimes: number[] = [];
  #stopped = false;
  #running: Promise<void>[] = [];
  #sequence = 0;

  constructor(
    private readonly router: Router,
    private readonly keyFor: (n: number) => string,
    private readonly label: string,
  ) {}

  start(concurrency: number): void {
    for (let worker = 0; worker < concurrency; worker += 1) this.#running.push(this.#loop());
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#running);
  }

  async #loop(): Promise<void> {
    while (!this.#stopped) {
      const n = this.#sequence++;
      const id = `${this.label}_${n}`;
      for (let attempt = 0; attempt < 200 && !this.#stopped; attempt += 1) {
        try {
          await this.router.write(this.keyFor(n), (tx) =>
            tx.query('INSERT INTO appends (id, body) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING', [
              id,
              `attempt ${attempt}`,
            ]),
          );
          this.acknowledged.push(id);
          this.ackTimes.push(Date.now());
          break;
        } catch (error) {
          const code = isMainstayError(error) ? error.code : 'other';
          this.outcomes.set(code, (this.outcomes.get(code) ?? 0) + 1);
          await sleep(20);
        }
      }
      await sleep(5);
    }
  }

  /** The first acknowledgement at or after `since`, as milliseconds after it. */
  firstAckAfter(since: number): number | null {
    const at = this.ackTimes.find((time) => time >= since);
    return at === undefined ? null : at - since;
  }
}
