import { setTimeout as sleep } from 'node:timers/promises';
import type { Router } from '../../src/data/router.ts';
import { isMainstayError } from '../../src/errors/mainstay-error.ts';

/** One acknowledged write: when it was first tried, when it was acknowledged, and where. */
export interface Ack {
  readonly id: string;
  /** When the write's first attempt started (retries keep the id, so they are the same write). */
  readonly startedAt: number;
  readonly ackedAt: number;
  /** The server that committed it. */
  readonly server: string;
  /** Whether it went to a takeover table instead of the shard's home. */
  readonly diverted: boolean;
}

/** Writes the row `id` (idempotently by id) for `key`; says where it was committed. */
export type IdempotentWrite = (
  key: string,
  id: string,
  attempt: number,
) => Promise<{ readonly server: string; readonly diverted: boolean }>;

const RETRY_COUNT_MAX = 200;
const RETRY_PAUSE_MS = 20;
const WRITE_PAUSE_MS = 5;
const ERROR_TEXT_LENGTH_MAX = 40;

/** A short name for an error: its Mainstay code, else the start of its message. */
function errorName(error: unknown): string {
  if (isMainstayError(error)) return error.code;
  const message = error instanceof Error ? error.message : String(error);
  return `"${message.slice(0, ERROR_TEXT_LENGTH_MAX)}"`;
}

/**
 * A careful client, as failover tests and benchmarks need one: every write has a client-chosen
 * id and is retried with the same id until acknowledged (the write is idempotent by id). It
 * records when each acknowledged write was first tried and which server committed it, which is
 * what a recovery time needs.
 */
export class TrackedWriter {
  readonly acks: Ack[] = [];
  readonly errors = new Map<string, number>();
  #stopped = false;
  #running: Promise<void>[] = [];
  #sequence = 0;

  constructor(
    private readonly keys: readonly string[],
    private readonly label: string,
    private readonly write: IdempotentWrite,
  ) {}

  start(concurrency: number): void {
    for (let worker = 0; worker < concurrency; worker += 1) this.#running.push(this.#loop());
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#running);
  }

  /** Ids of the acknowledged writes. */
  get acknowledged(): string[] {
    return this.acks.map((ack) => ack.id);
  }

  /** The first acknowledgement matching `where` of a write first tried after `since`. */
  firstAckAfter(since: number, where: (ack: Ack) => boolean = () => true): Ack | undefined {
    return this.acks.find((ack) => ack.startedAt > since && where(ack));
  }

  async #loop(): Promise<void> {
    while (!this.#stopped) {
      const n = this.#sequence++;
      const id = `${this.label}_${n}`;
      const key = this.keys[n % this.keys.length] as string;
      const startedAt = Date.now();
      for (let attempt = 0; attempt < RETRY_COUNT_MAX && !this.#stopped; attempt += 1) {
        try {
          const { server, diverted } = await this.write(key, id, attempt);
          this.acks.push({ id, startedAt, ackedAt: Date.now(), server, diverted });
          break;
        } catch (error) {
          const name = errorName(error);
          this.errors.set(name, (this.errors.get(name) ?? 0) + 1);
          await sleep(RETRY_PAUSE_MS);
        }
      }
      await sleep(WRITE_PAUSE_MS);
    }
  }
}

/**
 * An append of `id` to `appends` through `router.write`, idempotent by id; the committing
 * server is named from the port the transaction ran on.
 */
export function routerAppend(
  router: Router,
  serverByPort: ReadonlyMap<number, string>,
): IdempotentWrite {
  return async (key, id, attempt) => {
    const { value } = await router.write(key, (tx) =>
      tx.query<{ port: number }>(
        `WITH ins AS (INSERT INTO appends (id, body) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING)
         SELECT current_setting('port')::int AS port`,
        [id, `attempt ${attempt}`],
      ),
    );
    const port = value.rows[0]?.port ?? -1;
    return { server: serverByPort.get(port) ?? `port ${port}`, diverted: false };
  };
}
