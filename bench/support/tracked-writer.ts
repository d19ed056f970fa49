import { setTimeout as sleep } from 'node:timers/promises';
import type { Router } from '../../src/data/router.ts';
import { isMainstayError } from '../../src/errors/mainstay-error.ts';

/** One acknowledged write: when its successful attempt started, when it was acknowledged, where. */
export interface Ack {
  readonly id: string;
  readonly attemptStartedAt: number;
  readonly ackedAt: number;
  /** The server that committed it (from the port the transaction ran on). */
  readonly server: string;
}

const RETRY_COUNT_MAX = 200;
const RETRY_PAUSE_MS = 20;
const WRITE_PAUSE_MS = 5;

/**
 * Like the tests' WriteStream (a careful client: every write has a client-chosen id and is
 * retried with the same id until acknowledged; the insert is idempotent by id), but it also
 * records when each acknowledged attempt started and which server committed it, which is what
 * a recovery time needs.
 */
export class TrackedWriter {
  readonly acks: Ack[] = [];
  readonly errors = new Map<string, number>();
  #stopped = false;
  #running: Promise<void>[] = [];
  #sequence = 0;

  constructor(
    private readonly router: Router,
    private readonly keys: readonly string[],
    private readonly label: string,
    /** Server id by port, to name the committing server. */
    private readonly serverByPort: ReadonlyMap<number, string>,
  ) {}

  start(concurrency: number): void {
    for (let worker = 0; worker < concurrency; worker += 1) this.#running.push(this.#loop());
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#running);
  }

  /** The first acknowledgement by `server` of an attempt started after `since`. */
  firstAckAfter(since: number, server: string): Ack | undefined {
    return this.acks.find((ack) => ack.attemptStartedAt > since && ack.server === server);
  }

  async #loop(): Promise<void> {
    while (!this.#stopped) {
      const n = this.#sequence++;
      const id = `${this.label}_${n}`;
      const key = this.keys[n % this.keys.length];
      for (let attempt = 0; attempt < RETRY_COUNT_MAX && !this.#stopped; attempt += 1) {
        const attemptStartedAt = Date.now();
        try {
          const { value } = await this.router.write(key, (tx) =>
            tx.query<{ port: number }>(
              `WITH ins AS (INSERT INTO appends (id, body) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING)
               SELECT current_setting('port')::int AS port`,
              [id, `attempt ${attempt}`],
            ),
          );
          const port = value.rows[0]?.port ?? -1;
          const server = this.serverByPort.get(port) ?? `port ${port}`;
          this.acks.push({ id, attemptStartedAt, ackedAt: Date.now(), server });
          break;
        } catch (error) {
          const code = isMainstayError(error) ? error.code : 'other';
          this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
          await sleep(RETRY_PAUSE_MS);
        }
      }
      await sleep(WRITE_PAUSE_MS);
    }
  }
}
